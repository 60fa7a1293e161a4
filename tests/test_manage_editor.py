"""The campaign editor: creating and editing campaigns and their translations in
the browser, previews, opening and closing, TOML import and export."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from flask_urgentaction.campaign_files import definition
from flask_urgentaction.campaigns import find, load_files
from flask_urgentaction.models import AuditEntry, Campaign, Target
from flask_urgentaction.storage import get_session

from .conftest import ORGANISER, SAMPLE, action_body, csrf_token

NEW = "/actions/manage/new"
IMPORT = "/actions/manage/import"
SLUG = "example-mine-strike"
EDIT = f"/actions/manage/campaigns/{SLUG}/edit"


def translation_url(slug: str, code: str) -> str:
    return f"/actions/manage/campaigns/{slug}/translations/{code}"


def new_fields(token: str, **fields: str) -> dict[str, str]:
    """A complete new-campaign form as a browser sends it (3 empty target rows)."""
    data = {
        "csrf_token": token,
        "slug": "garment-strike",
        "status": "draft",
        "lang": "en",
        "title": "Free the garment union leaders",
        "summary": "Six organisers were arrested.",
        "body": "The **factory** called the police.",
        "subject": "Free them now",
        "message": "Release the six organisers.",
        "image_alt": "",
        "partner": "Garment Workers' Union",
        "goal": "2000",
        "privacy_url": "https://union.example/privacy",
        "image": "",
        "opens_at": "",
        "closes_at": "",
        "countries": "BD",
        "allowed_origins": "https://union.example",
        "delivery-per_target_per_hour": "60",
        "delivery-cap": "",
        "delivery-hours": "",
        "delivery-timezone": "",
        "delivery-mode": "each",
        "target_rows": "3",
        "targets-0-name": "Factory owner",
        "targets-0-email": "owner@factory.example",
        "targets-0-timezone": "Asia/Dhaka",
        "targets-1-name": "",
        "targets-1-email": "",
        "targets-1-timezone": "",
        "targets-2-name": "",
        "targets-2-email": "",
        "targets-2-timezone": "",
    }
    data.update(fields)
    return data


def form_values(page: str) -> dict[str, str]:
    """The values a browser would send back from the settings form of ``page``
    (text inputs, textareas, selected options, ticked boxes)."""
    form = page.split('<form method="post" class="ua-editor"', 1)[1].split("</form>", 1)[0]
    values: dict[str, str] = {}
    for tag in re.findall(r"<input [^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name is None or ('type="checkbox"' in tag and "checked" not in tag):
            continue
        values[name.group(1)] = html.unescape(value.group(1)) if value else ""
    for name, text in re.findall(r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        values[name] = html.unescape(text)
    for name, options in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', options)
        first = re.search(r'<option value="([^"]*)"', options)
        values[name] = html.unescape((chosen or first).group(1)) if (chosen or first) else ""
    return values


def audit_rows() -> list[tuple[str, str, str]]:
    rows = get_session().scalars(select(AuditEntry).order_by(AuditEntry.id))
    return [(e.action, e.campaign_slug, e.detail) for e in rows]


def test_create_a_campaign_in_two_languages(client: FlaskClient, organiser: str) -> None:
    home = client.get("/actions/manage/").get_data(as_text=True)
    assert 'href="/actions/manage/new' in home
    token = csrf_token(client, NEW)
    response = client.post(NEW, data=new_fields(token))
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/actions/manage/campaigns/garment-strike/edit")

    campaign = find(get_session(), "garment-strike")
    assert campaign is not None
    assert (campaign.status, campaign.partner, campaign.goal) == (
        "draft",
        "Garment Workers' Union",
        2000,
    )
    assert campaign.countries == ["BD"]
    assert campaign.allowed_origins == ["https://union.example"]
    assert campaign.delivery == {"per_target_per_hour": 60}
    assert [(t.name, t.email, t.timezone) for t in campaign.targets] == [
        ("Factory owner", "owner@factory.example", "Asia/Dhaka")]  # fmt: skip
    assert campaign.languages == ["en"]

    # A second language through its own page: the English beside the fields.
    page = client.get(translation_url("garment-strike", "bn")).get_data(as_text=True)
    assert 'class="ua-side-by-side' in page
    assert "Free the garment union leaders" in page  # the source, read-only
    response = client.post(
        translation_url("garment-strike", "bn"),
        data={"csrf_token": token, "title": "ইউনিয়ন নেতাদের মুক্তি দাও", "summary": "",
              "body": "", "subject": "", "message": "ছয়জনকে মুক্তি দাও।", "image_alt": ""},
    )  # fmt: skip
    assert response.status_code == 303
    campaign = find(get_session(), "garment-strike")
    assert campaign is not None
    assert campaign.languages == ["en", "bn"]
    assert campaign.translations[1].title == "ইউনিয়ন নেতাদের মুক্তি দাও"
    assert audit_rows() == [
        ("campaign.create", "garment-strike", "languages: en"),
        ("campaign.edit", "garment-strike", "changed: translations.bn"),
    ]
    entry = get_session().scalars(select(AuditEntry)).first()
    assert entry is not None and entry.who == ORGANISER


def test_edit_keeps_targets_counts_and_declarations(
    client: FlaskClient, campaign: Any, organiser: str, tmp_path: Path
) -> None:
    # An action first: its outbox rows hang on the targets, its count on the campaign.
    assert client.post(f"/actions/api/campaigns/{SLUG}/actions",
                       json=action_body(client)).status_code == 201  # fmt: skip
    session = get_session()
    target_ids = [t.id for t in session.scalars(select(Target).order_by(Target.position))]

    page = client.get(EDIT).get_data(as_text=True)
    assert 'aria-current="page">Edit<' in page
    values = form_values(page)
    assert values["targets-0-email"] == "ceo@mining.example"
    values.update({
        "partner": "Example Mineworkers' Union (SSM)",
        "goal": "6000",
        # A new target in the first empty row; the ministry removed.
        "targets-2-name": "Labour inspectorate", "targets-2-email": "inspect@labour.example",
        "targets-1-remove": "1",
    })  # fmt: skip
    response = client.post(EDIT, data=values)
    assert response.status_code == 303
    campaign = find(get_session(), SLUG)
    assert campaign is not None
    assert (campaign.partner, campaign.goal, campaign.action_count) == (
        "Example Mineworkers' Union (SSM)", 6000, 1)  # fmt: skip
    assert [t.email for t in campaign.targets] == ["ceo@mining.example", "inspect@labour.example"]
    assert campaign.targets[0].id == target_ids[0]  # kept by address, with its history
    assert campaign.languages == ["en", "de"]
    (entry,) = audit_rows()
    assert entry == ("campaign.edit", SLUG, "changed: goal, partner, targets")
    follow = client.get(EDIT).get_data(as_text=True)
    assert "The campaign was saved." in follow


def test_declarations_are_kept_by_an_edit(
    client: FlaskClient, app: Flask, organiser: str, tmp_path: Path
) -> None:
    path = tmp_path / "with-declarations.toml"
    path.write_text(SAMPLE + DECLARATION, encoding="utf-8")
    load_files(get_session(), [path])
    before = find(get_session(), SLUG)
    assert before is not None
    public_id = before.declarations[0].public_id
    values = form_values(client.get(EDIT).get_data(as_text=True))
    values["partner"] = "SSM"
    assert client.post(EDIT, data=values).status_code == 303
    after = find(get_session(), SLUG)
    assert after is not None
    assert [(d.key, d.public_id, d.organisation) for d in after.declarations] == [
        ("ituc", public_id, "International Trade Union Confederation")]  # fmt: skip


DECLARATION = """
[[declarations]]
id = "ituc"
organisation = "International Trade Union Confederation"
country = "BE"
published = 2026-03-01T10:00:00Z

[declarations.translations.en]
title = "We stand with the miners"
body = "The ITUC calls for the reinstatement."
"""


def test_a_validation_error_is_shown_next_to_its_field_and_nothing_saved(
    client: FlaskClient, organiser: str
) -> None:
    token = csrf_token(client, NEW)
    response = client.post(NEW, data=new_fields(token, goal="lots", partner="Kept as typed"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    # The error tied to its input, and listed with a link to it.
    assert 'aria-describedby="goal-help goal-error"' in page
    assert 'aria-invalid="true"' in page
    assert '<p class="ua-error" id="goal-error">must be a positive whole number</p>' in page
    assert '<a href="#goal">Goal</a>: must be a positive whole number' in page
    # Everything typed is still there.
    assert 'value="Kept as typed"' in page
    assert 'value="lots"' in page
    assert "Release the six organisers." in page
    assert 'value="owner@factory.example"' in page
    assert get_session().scalar(select(func.count()).select_from(Campaign)) == 0

    # A target's error is put on its own row, in the organiser's language.
    response = client.post(NEW, data=new_fields(token, **{"targets-0-timezone": "Mars/Base"}),
                           headers={"Accept-Language": "de"})  # fmt: skip
    page = response.get_data(as_text=True)
    assert 'id="targets-0-timezone-error"' in page
    assert '<html lang="de"' in page
    assert audit_rows() == []


def test_a_slug_is_never_taken_over(client: FlaskClient, campaign: Any, organiser: str) -> None:
    token = csrf_token(client, NEW)
    response = client.post(NEW, data=new_fields(token, slug=SLUG))
    assert response.status_code == 422
    assert 'id="slug-error">Another campaign has this slug already' in response.get_data(
        as_text=True
    )
    kept = find(get_session(), SLUG)
    assert kept is not None and kept.partner == "Example Mineworkers' Union"
    # The edit form has no slug: a posted one is ignored.
    values = form_values(client.get(EDIT).get_data(as_text=True))
    assert "slug" not in values
    assert client.post(EDIT, data=values | {"slug": "garment-strike"}).status_code == 303
    assert find(get_session(), "garment-strike") is None
    assert find(get_session(), SLUG) is not None


def test_markdown_preview_saves_nothing(client: FlaskClient, campaign: Any, organiser: str) -> None:
    token = csrf_token(client, EDIT)
    response = client.post(
        translation_url(SLUG, "en"),
        data={"csrf_token": token, "title": "Reinstate them", "summary": "", "subject": "",
              "message": "", "image_alt": "", "body": "Now **bold** <script>x</script>",
              "preview": "1"},
    )  # fmt: skip
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<strong>bold</strong>" in page
    assert "<script>x</script>" not in page  # raw HTML off, as on the public page
    assert "Reinstate them" in page  # the form still as typed
    kept = find(get_session(), SLUG)
    assert kept is not None and kept.translations[0].title == "Reinstate the sacked union leaders"


@pytest.mark.parametrize("code, title", [
    ("en", "Reinstate the sacked union leaders"),
    ("de", "Stellt die entlassenen Gewerkschafter wieder ein"),
])  # fmt: skip
def test_preview_a_draft_in_each_language(
    client: FlaskClient, campaign: Any, organiser: str, code: str, title: str
) -> None:
    campaign.status = "draft"
    get_session().commit()
    assert client.get(f"/actions/{SLUG}").status_code == 404
    response = client.get(f"/actions/manage/campaigns/{SLUG}/preview?lang={code}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'<html lang="{code}"' in page
    assert f'<h1 dir="auto">{title}</h1>' in page
    assert "ua-preview-banner" in page
    assert re.search(r'<button type="submit" class="ua-submit" disabled>', page)
    # Never in a shared cache, never framed: the dashboard's headers.
    assert response.headers["Cache-Control"] == "no-store"


def test_open_close_reopen(client: FlaskClient, campaign: Any, organiser: str) -> None:
    campaign.status = "draft"
    get_session().commit()
    status_url = f"/actions/manage/campaigns/{SLUG}/status"
    token = csrf_token(client, EDIT)
    for new in ("live", "closed", "live"):
        response = client.post(status_url, data={"csrf_token": token, "status": new})
        assert response.status_code == 303
        stored = find(get_session(), SLUG)
        assert stored is not None and stored.status == new
        assert client.get(f"/actions/{SLUG}").status_code == (200 if new == "live" else 410)
    assert audit_rows() == [
        ("campaign.status", SLUG, "draft → live"),
        ("campaign.status", SLUG, "live → closed"),
        ("campaign.status", SLUG, "closed → live"),
    ]
    page = client.get(EDIT).get_data(as_text=True)
    assert "Close the campaign" in page
    assert client.post(status_url, data={"csrf_token": token, "status": "draft"}).status_code == 400


def test_toml_export_loads_back_into_the_same_campaign(
    app: Flask, client: FlaskClient, organiser: str, tmp_path: Path
) -> None:
    path = tmp_path / "full.toml"
    path.write_text(FULL, encoding="utf-8")
    load_files(get_session(), [path])
    original = find(get_session(), "full-campaign")
    assert original is not None
    before = definition(original)

    response = client.get("/actions/manage/campaigns/full-campaign/export.toml")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="full-campaign.toml"'
    exported = tmp_path / "exported.toml"
    exported.write_bytes(response.data)

    # Deleted, then loaded by the command organisers use.
    session = get_session()
    session.delete(original)
    session.commit()
    result: Result = app.test_cli_runner().invoke(args=["urgentaction", "campaigns", "load",
                                                        str(exported)])  # fmt: skip
    assert result.exit_code == 0, result.output
    reloaded = find(get_session(), "full-campaign")
    assert reloaded is not None
    assert definition(reloaded) == before
    assert reloaded.fallback_lang == "sq"


FULL = """
slug = "full-campaign"
status = "closed"
partner = "Sindikata e Minatorëve"
goal = 3000
privacy_url = "https://union.example/privacy"
allowed_origins = ["https://union.example", "https://partner.example"]
message_lang = "sq"
image = "https://union.example/miners.jpg"
opens_at = 2026-12-01T08:00:00+01:00
closes_at = 2027-01-31T23:59:59Z
countries = ["XK", "AL"]

[messages]
publish = true

[delivery]
per_target_per_hour = 120
cap = 20000
hours = "08:00-18:00"
timezone = "Europe/Tirana"
mode = "digest"

[[targets]]
name = "Example Mining Company"
email = "ceo@mining.example"
timezone = "Europe/Belgrade"

[[targets]]
name = "Ministry"
email = "minister@labour.example"

[translations.sq]
title = "Riktheni minatorët"
summary = "Pesë minatorë u pushuan."
body = \"\"\"Një **histori**.

- e gjatë
\"\"\"
subject = "Rikthejini"
message = "Rikthejini në punë."
image_alt = "Minatorë"

[translations.de]
title = "Stellt die Bergleute wieder ein"

[[declarations]]
id = "ituc"
organisation = "ITUC"
country = "BE"
published = 2026-03-01T10:00:00Z

[declarations.translations.en]
title = "We stand with the miners"
teaser = "Short."
body = "Long."
"""


def test_import_a_file_and_its_errors(client: FlaskClient, organiser: str) -> None:
    token = csrf_token(client, IMPORT)
    broken = SAMPLE.replace("goal = 5000", 'goal = "many"')
    response = client.post(IMPORT, data={"csrf_token": token, "text": broken})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "goal: must be a positive whole number" in page
    assert "Reinstate the sacked union leaders" in page  # the pasted text kept
    response = client.post(IMPORT, data={"csrf_token": token, "text": "slug = "})
    assert response.status_code == 422
    assert "TOML:" in response.get_data(as_text=True)
    assert find(get_session(), SLUG) is None

    from io import BytesIO

    response = client.post(IMPORT, data={"csrf_token": token, "text": "",
                                         "file": (BytesIO(SAMPLE.encode()), "c.toml")})  # fmt: skip
    assert response.status_code == 303
    campaign = find(get_session(), SLUG)
    assert campaign is not None and campaign.languages == ["en", "de"]
    # Again, changed: an update by slug.
    changed = SAMPLE.replace("goal = 5000", "goal = 7000")
    assert client.post(IMPORT, data={"csrf_token": token, "text": changed}).status_code == 303
    assert audit_rows() == [
        ("campaign.import", SLUG, "created"),
        ("campaign.import", SLUG, "changed: goal"),
    ]


def test_add_and_remove_a_language(client: FlaskClient, campaign: Any, organiser: str) -> None:
    add = f"/actions/manage/campaigns/{SLUG}/add-language"
    response = client.get(f"{add}?code=sq")
    assert response.status_code == 303
    assert response.headers["Location"].startswith(translation_url(SLUG, "sq"))
    bad = client.get(f"{add}?code=zz-not-a-language")
    assert bad.status_code == 422
    assert 'id="code-error"' in bad.get_data(as_text=True)
    assert client.get(translation_url(SLUG, "xx")).status_code == 404

    token = csrf_token(client, EDIT)
    remove = f"/actions/manage/campaigns/{SLUG}/translations/de/remove"
    assert client.post(remove, data={"csrf_token": token}).status_code == 303
    fallback = f"/actions/manage/campaigns/{SLUG}/translations/en/remove"
    assert client.post(fallback, data={"csrf_token": token}).status_code == 303
    kept = find(get_session(), SLUG)
    assert kept is not None and kept.languages == ["en"]
    assert audit_rows() == [("campaign.edit", SLUG, "changed: translations.de")]


def test_posts_without_csrf_are_refused(client: FlaskClient, campaign: Any, organiser: str) -> None:
    version = find(get_session(), SLUG)
    assert version is not None
    before = definition(version)
    posts = {
        NEW: new_fields("", slug="no-token"),
        EDIT: {"partner": "Changed"},
        translation_url(SLUG, "en"): {"title": "Changed"},
        f"/actions/manage/campaigns/{SLUG}/status": {"status": "closed"},
        f"/actions/manage/campaigns/{SLUG}/translations/de/remove": {},
        IMPORT: {"text": SAMPLE.replace("goal = 5000", "goal = 1")},
    }
    for url, data in posts.items():
        data.pop("csrf_token", None)
        assert client.post(url, data=data).status_code == 400, url
    after = find(get_session(), SLUG)
    assert after is not None and definition(after) == before
    assert find(get_session(), "no-token") is None
    assert audit_rows() == []


def test_saving_with_actions_on_each_database(shared_app: Flask, tmp_path: Path) -> None:
    """An edit of a campaign with actions keeps its target rows (their outbox
    history), its count and its texts, in one transaction with its audit entry."""
    shared_app.extensions["urgentaction"].extension.organiser_check(lambda: ORGANISER)
    client = shared_app.test_client()
    token = csrf_token(client, NEW)
    fields = new_fields(token, slug=SLUG, status="live")
    assert client.post(NEW, data=fields).status_code == 303
    assert client.post(f"/actions/api/campaigns/{SLUG}/actions",
                       json=action_body(client)).status_code == 201  # fmt: skip
    session = get_session()
    (target_id,) = session.scalars(select(Target.id))
    values = form_values(client.get(EDIT).get_data(as_text=True))
    values |= {"targets-0-name": "The factory's owner", "goal": "2500"}
    assert client.post(EDIT, data=values).status_code == 303
    session.expire_all()
    campaign = find(session, SLUG)
    assert campaign is not None
    assert [(t.id, t.name) for t in campaign.targets] == [(target_id, "The factory's owner")]
    assert (campaign.goal, campaign.action_count) == (2500, 1)
    assert [a for a, _slug, _detail in audit_rows()] == ["campaign.create", "campaign.edit"]
