"""Loading campaigns from TOML and from Python: validation, all-or-none, fallbacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from flask_urgentaction import campaigns
from flask_urgentaction.campaigns import CampaignError, load_files, text_in
from flask_urgentaction.storage import get_session

from .conftest import SAMPLE

SLUG = "example-mine-strike"

MINIMAL = """\
slug = "{slug}"
status = "live"

[[targets]]
name = "Ministry of Labour"
email = "minister@labour.example"

[translations.en]
title = "{title}"
"""


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def rows(app: Flask, sql: str) -> list[Any]:
    """Read the database on a connection of its own, not through the app's session."""
    with app.extensions["urgentaction"].storage.engine.connect() as connection:
        return list(connection.execute(text(sql)))


def load(app: Flask, *paths: Path) -> list[tuple[Any, bool]]:
    return load_files(get_session(), paths)


def test_loading_a_file_inserts_the_campaign_with_targets_and_translations(
    app: Flask, campaign_file: Path
) -> None:
    ((campaign, created),) = load(app, campaign_file)
    assert created is True
    assert rows(app, "SELECT slug, status, partner, goal FROM ua_campaigns") == [
        (SLUG, "live", "Example Mineworkers' Union", 5000)
    ]
    assert rows(app, "SELECT name, email FROM ua_targets ORDER BY position") == [
        ("Example Mining Company", "ceo@mining.example"),
        ("Ministry of Labour", "minister@labour.example"),
    ]
    assert rows(app, "SELECT lang FROM ua_campaign_translations ORDER BY position") == [
        ("en",),
        ("de",),
    ]
    assert campaign.fallback_lang == "en"


def test_loading_the_same_slug_again_updates_in_place(
    app: Flask, client: FlaskClient, tmp_path: Path, campaign_file: Path
) -> None:
    ((first, _),) = load(app, campaign_file)
    changed = SAMPLE.replace(
        'title = "Reinstate the sacked union leaders"', 'title = "Reinstate them all"'
    ).replace('status = "live"', 'status = "closed"')
    ((second, created),) = load(app, write(tmp_path, "changed.toml", changed))
    assert created is False
    assert second.id == first.id
    assert rows(app, "SELECT id, status FROM ua_campaigns") == [(first.id, "closed")]
    assert rows(app, "SELECT title FROM ua_campaign_translations WHERE lang = 'en'") == [
        ("Reinstate them all",)
    ]
    assert client.get(f"/actions/{SLUG}").status_code == 410


def test_a_bad_file_names_the_file_the_key_and_the_problem(app: Flask, tmp_path: Path) -> None:
    bad = write(tmp_path, "bad-email.toml", SAMPLE.replace("ceo@mining.example", "ceo-at-mining"))
    with pytest.raises(CampaignError) as caught:
        load(app, bad)
    message = str(caught.value)
    assert message.startswith(f"{bad}: targets[0].email: ")
    assert "@" in caught.value.problem  # email-validator says the @-sign is missing
    assert caught.value.source == str(bad)
    assert caught.value.key == "targets[0].email"


def test_a_toml_syntax_error_names_the_file(app: Flask, tmp_path: Path) -> None:
    bad = write(tmp_path, "broken.toml", 'slug = "x\n')
    with pytest.raises(CampaignError) as caught:
        load(app, bad)
    assert str(caught.value).startswith(f"{bad}: TOML: ")


def test_one_bad_file_among_good_ones_changes_nothing(
    app: Flask, tmp_path: Path, campaign_file: Path
) -> None:
    load(app, campaign_file)
    update = write(tmp_path, "update.toml", SAMPLE.replace("goal = 5000", "goal = 9000"))
    new = write(tmp_path, "new.toml", MINIMAL.format(slug="second-campaign", title="Second"))
    bad = write(tmp_path, "bad.toml", MINIMAL.format(slug="Bad Slug", title="Bad"))
    with pytest.raises(CampaignError, match=r"bad\.toml: slug: "):
        load(app, update, new, bad)
    assert rows(app, "SELECT slug, goal FROM ua_campaigns") == [(SLUG, 5000)]


def test_several_good_files_load_together(app: Flask, tmp_path: Path) -> None:
    one = write(tmp_path, "one.toml", MINIMAL.format(slug="one", title="One"))
    two = write(tmp_path, "two.toml", MINIMAL.format(slug="two", title="Two"))
    saved = load(app, one, two)
    assert [(c.slug, created) for c, created in saved] == [("one", True), ("two", True)]
    assert rows(app, "SELECT slug FROM ua_campaigns ORDER BY slug") == [("one",), ("two",)]


# Each case: a change to the sample, the key the error must name, and words of the problem.
INVALID = {
    "unknown top-level key": (
        lambda s: s.replace("goal = 5000", "goal = 5000\ncolour = 'red'"),
        "colour",
        "unknown key",
    ),
    "unknown translation key": (
        lambda s: s.replace("[translations.de]\n", '[translations.de]\nfooter = "x"\n'),
        "translations.de.footer",
        "unknown key",
    ),
    "slug with capitals and spaces": (
        lambda s: s.replace(f'slug = "{SLUG}"', 'slug = "Mine Strike"'),
        "slug",
        "lower-case",
    ),
    "slug with a slash": (
        lambda s: s.replace(f'slug = "{SLUG}"', 'slug = "mine/strike"'),
        "slug",
        "lower-case",
    ),
    "missing slug": (
        lambda s: s.replace(f'slug = "{SLUG}"\n', ""),
        "slug",
        "required",
    ),
    "missing targets": (
        lambda s: s.split("[[targets]]")[0] + "[translations" + s.split("[translations", 1)[1],
        "targets",
        "at least one",
    ),
    "target without an email": (
        lambda s: s.replace('email = "ceo@mining.example"\n', ""),
        "targets[0].email",
        "required",
    ),
    "target with a bad email": (
        lambda s: s.replace("minister@labour.example", "minister@@labour"),
        "targets[1].email",
        "",
    ),
    "target with an extra key": (
        lambda s: s.replace(
            'name = "Ministry of Labour"', 'name = "Ministry of Labour"\nphone = "1"'
        ),
        "targets[1]",
        "name and email (and may have timezone)",
    ),
    "no title in any language": (
        lambda s: s.replace('title = "Reinstate the sacked union leaders"\n', "").replace(
            'title = "Stellt die entlassenen Gewerkschafter wieder ein"\n', ""
        ),
        "translations",
        "title is required",
    ),
    "no title in the fallback language": (
        lambda s: s.replace('title = "Reinstate the sacked union leaders"\n', ""),
        "translations.en.title",
        "fallback language needs a title",
    ),
    "no translations": (
        lambda s: s.split("[translations.en]")[0],
        "translations",
        "at least one",
    ),
    "unknown language code": (
        lambda s: s.replace("[translations.de]", "[translations.qq]"),
        "translations.qq",
        "not a known language",
    ),
    "unknown status": (
        lambda s: s.replace('status = "live"', 'status = "published"'),
        "status",
        "draft, live, closed",
    ),
    "allowed_origins not a list": (
        lambda s: s.replace("goal = 5000", 'goal = 5000\nallowed_origins = "https://u.example"'),
        "allowed_origins",
        "list of origins",
    ),
    "allowed_origins with a path": (
        lambda s: s.replace(
            "goal = 5000", 'goal = 5000\nallowed_origins = ["https://u.example/x"]'
        ),
        "allowed_origins",
        "not an origin",
    ),
    "allowed_origins without a scheme": (
        lambda s: s.replace("goal = 5000", 'goal = 5000\nallowed_origins = ["union.example"]'),
        "allowed_origins",
        "not an origin",
    ),
    "privacy_url with a javascript: scheme": (
        lambda s: s.replace("https://example.org/privacy", "javascript:alert(1)"),
        "privacy_url",
        "http(s) URL",
    ),
    "privacy_url that is not text": (
        lambda s: s.replace('"https://example.org/privacy"', "42"),
        "privacy_url",
        "must be text",
    ),
    "goal that is not positive": (
        lambda s: s.replace("goal = 5000", "goal = 0"),
        "goal",
        "positive",
    ),
    "message_lang that is not a translation": (
        lambda s: s.replace("goal = 5000", 'goal = 5000\nmessage_lang = "fr"'),
        "message_lang",
        "one of the campaign's translations",
    ),
}


@pytest.mark.parametrize("case", list(INVALID), ids=list(INVALID))
def test_invalid_definitions_are_refused_with_key_and_problem(
    app: Flask, tmp_path: Path, case: str
) -> None:
    change, key, problem = INVALID[case]
    path = write(tmp_path, "invalid.toml", change(SAMPLE))
    with pytest.raises(CampaignError) as caught:
        load(app, path)
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert str(caught.value) == f"{path}: {key}: {caught.value.problem}"
    assert rows(app, "SELECT count(*) FROM ua_campaigns") == [(0,)]


def test_a_missing_field_falls_back_to_the_fallback_language(app: Flask, campaign: Any) -> None:
    german = text_in(campaign, "de")
    english = text_in(campaign, "en")
    assert german.lang == "de"
    assert german.title == "Stellt die entlassenen Gewerkschafter wieder ein"
    # The sample's German translation has no body.
    assert german.body == english.body
    assert german.body.startswith("The **company** sacked five miners.")


def test_an_empty_field_falls_back_too_and_the_first_language_is_the_fallback(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "no-english.toml",
        """\
slug = "sans-anglais"
status = "live"

[[targets]]
name = "Ministère du Travail"
email = "ministre@travail.example"

[translations.fr]
title = "Réintégrez les délégués"
summary = "Résumé en français."
message = "Réintégrez-les."

[translations.de]
title = "Stellt die Delegierten wieder ein"
summary = ""
""",
    )
    ((campaign, _),) = load(app, path)
    assert campaign.fallback_lang == "fr"
    german = text_in(campaign, "de")
    assert german.summary == "Résumé en français."
    assert german.message == "Réintégrez-les."
    # A language the campaign lacks gets the fallback's texts.
    assert text_in(campaign, "sw").title == "Réintégrez les délégués"
    page = client.get("/actions/sans-anglais?lang=de").get_data(as_text=True)
    assert "Stellt die Delegierten wieder ein" in page
    assert "Résumé en français." in page
    assert "Réintégrez-les.</textarea>" in page


def test_a_campaign_is_creatable_from_python(app: Flask, client: FlaskClient) -> None:
    definition = {
        "slug": "from-python",
        "status": "live",
        "partner": "Python Workers",
        "targets": [{"name": "The Employer", "email": "boss@employer.example"}],
        "translations": {"en": {"title": "Made in Python", "summary": "No TOML here."}},
    }
    campaign, created = campaigns.save(get_session(), definition)
    get_session().commit()
    assert created is True
    assert campaign.fallback_lang == "en"
    assert rows(app, "SELECT slug, partner FROM ua_campaigns") == [
        ("from-python", "Python Workers")
    ]
    page = client.get("/actions/from-python").get_data(as_text=True)
    assert "Made in Python" in page and "The Employer" in page

    definition["translations"] = {"en": {"title": "Made in Python, again"}}
    again, created = campaigns.save(get_session(), definition)
    get_session().commit()
    assert created is False and again.id == campaign.id
    assert rows(app, "SELECT title FROM ua_campaign_translations") == [("Made in Python, again",)]


def test_saving_from_python_validates_too(app: Flask) -> None:
    with pytest.raises(CampaignError, match=r"^targets: "):
        campaigns.save(
            get_session(), {"slug": "no-targets", "translations": {"en": {"title": "T"}}}
        )
    assert rows(app, "SELECT count(*) FROM ua_campaigns") == [(0,)]
