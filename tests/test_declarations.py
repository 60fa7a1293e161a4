"""Declarations of solidarity by organisations: checked and stored from the
campaign's file, shown on the campaign page and on pages of their own; and
campaigns without targets, which only gather solidarity and take no action."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from flask_urgentaction.campaigns import CampaignError, validate
from flask_urgentaction.models import Action, Declaration, OutboxMessage
from flask_urgentaction.storage import get_session

from .conftest import SAMPLE, Mailbox, api_challenge
from .test_api import load_campaign
from .test_pages import Page

SLUG = "port-solidarity"
# A campaign that only gathers solidarity: no targets, two declarations.
GATHERING = """\
slug = "port-solidarity"
status = "live"
partner = "Example Dockers"

[translations.en]
title = "Solidarity with the port workers"
summary = "Unions stand with the sacked dockers."

[translations.de]
title = "Solidarität mit den Hafenarbeitern"

[[declarations]]
id = "itf"
organisation = "Example Transport Federation"
country = "gb"
published = 2026-11-20T09:00:00+01:00

[declarations.translations.en]
title = "We stand with the dockers <b>now</b>"
teaser = "The federation's affiliates back the strike."
body = \"\"\"Our **affiliates** back the strike.

<script>alert(1)</script>
\"\"\"

[declarations.translations.bs]
title = "Uz lučke radnike"
body = "Naše članice podržavaju štrajk."

[[declarations]]
id = "miners"
organisation = "Example Miners"

[declarations.translations.ar]
title = "تضامن مع عمال الميناء"
body = "نحن معكم."
"""


def declaration_rows() -> list[Declaration]:
    return list(get_session().scalars(select(Declaration).order_by(Declaration.position)))


@pytest.fixture
def gathering(app: Flask, tmp_path: Path) -> Any:
    return load_campaign(tmp_path, GATHERING)


def public_id(key: str) -> str:
    return next(d.public_id for d in declaration_rows() if d.key == key)


BAD = {
    "unknown key": ('[[declarations]]\nid = "a"\norganisation = "O"\nsigned = 1\n'
                    '[declarations.translations.en]\ntitle = "T"\nbody = "B"\n',
                    "declarations[0].signed"),
    "no id": ('[[declarations]]\norganisation = "O"\n[declarations.translations.en]\n'
              'title = "T"\nbody = "B"\n', "declarations[0].id"),
    "no organisation": ('[[declarations]]\nid = "a"\n[declarations.translations.en]\n'
                        'title = "T"\nbody = "B"\n', "declarations[0].organisation"),
    "bad country": ('[[declarations]]\nid = "a"\norganisation = "O"\ncountry = "XX"\n'
                    '[declarations.translations.en]\ntitle = "T"\nbody = "B"\n',
                    "declarations[0].country"),
    "no offset": ('[[declarations]]\nid = "a"\norganisation = "O"\n'
                  "published = 2026-11-20T09:00:00\n"
                  '[declarations.translations.en]\ntitle = "T"\nbody = "B"\n',
                  "declarations[0].published"),
    "no texts": ('[[declarations]]\nid = "a"\norganisation = "O"\n',
                 "declarations[0].translations"),
    "no title": ('[[declarations]]\nid = "a"\norganisation = "O"\n'
                 '[declarations.translations.en]\nbody = "B"\n',
                 "declarations[0].translations.en.title"),
    "bad language": ('[[declarations]]\nid = "a"\norganisation = "O"\n'
                     '[declarations.translations.xx-1]\ntitle = "T"\nbody = "B"\n',
                     "declarations[0].translations.xx-1"),
    "same id twice": ('[[declarations]]\nid = "a"\norganisation = "O"\n'
                      '[declarations.translations.en]\ntitle = "T"\nbody = "B"\n'
                      '[[declarations]]\nid = "a"\norganisation = "P"\n'
                      '[declarations.translations.en]\ntitle = "T"\nbody = "B"\n',
                      "declarations[1].id"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD)
def test_a_bad_declaration_is_refused_naming_its_key(case: str) -> None:
    import tomllib

    text, key = BAD[case]
    with pytest.raises(CampaignError) as caught:
        validate(tomllib.loads(SAMPLE + "\n" + text), "c.toml")
    assert caught.value.key == key, caught.value


def test_a_campaign_without_targets_needs_declarations_or_published_messages() -> None:
    import tomllib

    no_targets = (
        SAMPLE.split("[[targets]]")[0] + "[translations" + SAMPLE.split("[translations", 1)[1]
    )
    with pytest.raises(CampaignError) as caught:
        validate(tomllib.loads(no_targets))
    assert caught.value.key == "targets"
    assert "[[declarations]]" in caught.value.problem
    published = validate(tomllib.loads(no_targets + "\n[messages]\npublish = true\n"))
    assert published["targets"] == []
    declared = validate(tomllib.loads(GATHERING))
    assert [d["key"] for d in declared["declarations"]] == ["itf", "miners"]
    assert declared["declarations"][0]["country"] == "GB"
    # English first: the fallback of its texts.
    assert list(declared["declarations"][0]["texts"]) == ["en", "bs"]


def test_loading_again_updates_declarations_by_their_id(gathering: Any, tmp_path: Path) -> None:
    first = {d.key: d.public_id for d in declaration_rows()}
    assert list(first) == ["itf", "miners"]
    changed = GATHERING.replace("Example Miners", "Example Miners' Union")
    load_campaign(tmp_path, changed)
    rows = declaration_rows()
    assert {d.key: d.public_id for d in rows} == first
    assert rows[1].organisation == "Example Miners' Union"
    # Left out of the file: gone from the campaign.
    load_campaign(tmp_path, changed.split('[[declarations]]\nid = "miners"')[0])
    assert [d.key for d in declaration_rows()] == ["itf"]


def test_a_gathering_campaign_shows_declarations_and_no_form(
    client: FlaskClient, gathering: Any
) -> None:
    response = client.get(f"/actions/{SLUG}?lang=en")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    page = Page(text)
    assert page.all("form") == []
    assert "it gathers and shows solidarity" in text
    assert "Your message goes to" not in text
    assert "Declarations of solidarity" in text
    # Escaped as typed: the title's markup shows as text.
    assert "We stand with the dockers &lt;b&gt;now&lt;/b&gt;" in text
    assert "Example Transport Federation" in text and "United Kingdom" in text
    assert "The federation&#39;s affiliates back the strike." in text
    links = {a["href"] for a in page.all("a") if "/declarations/" in a.get("href", "")}
    assert links == {
        f"/actions/{SLUG}/declarations/{public_id('itf')}?lang=en",
        f"/actions/{SLUG}/declarations/{public_id('miners')}?lang=en",
    }
    # The list and the site's feed still carry it.
    assert "Solidarity with the port workers" in client.get("/actions/?lang=en").get_data(True)
    assert "Solidarity with the port workers" in client.get("/actions/feed.atom").get_data(True)


def test_a_gathering_campaign_takes_no_action_and_mails_nothing(
    client: FlaskClient, gathering: Any, mailbox: Mailbox
) -> None:
    answer = client.get(f"/actions/api/campaigns/{SLUG}?lang=en").get_json()
    assert answer["form"] is False
    assert answer["targets"] == []
    assert "gathers and shows solidarity" in answer["no_form_text"]
    token, solved = api_challenge(client, SLUG)
    body = {"name": "Ana", "email": "ana@example.org", "lang": "en", "hp": "",
            "challenge_token": token, "challenge_answer": solved}  # fmt: skip
    response = client.post(f"/actions/api/campaigns/{SLUG}/actions", json=body)
    assert response.status_code == 404
    assert "takes no actions" in response.get_json()["error"]
    assert client.post(f"/actions/{SLUG}", data={"name": "Ana"}).status_code == 404
    assert client.post(f"/actions/{SLUG}/embed", data={"name": "Ana"}).status_code == 404
    embed = client.get(f"/actions/{SLUG}/embed").get_data(as_text=True)
    assert Page(embed).all("form") == [] and "gathers and shows solidarity" in embed
    session = get_session()
    assert session.scalar(select(func.count()).select_from(Action)) == 0
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert mailbox.messages == []


def meta(text: str, name: str) -> str:
    found = re.search(rf'<meta (?:name|property)="{re.escape(name)}" content="([^"]*)"', text)
    assert found, name
    return html.unescape(found.group(1))


def test_a_declaration_has_its_own_page_in_the_readers_language(
    client: FlaskClient, gathering: Any
) -> None:
    address = f"/actions/{SLUG}/declarations/{public_id('itf')}"
    english = client.get(address + "?lang=en").get_data(as_text=True)
    assert "<strong>affiliates</strong>" in english
    # Raw HTML is off: the script shows as text, never as an element.
    assert "<script>alert" not in english and "&lt;script&gt;alert(1)&lt;/script&gt;" in english
    assert "A declaration of solidarity by Example Transport Federation" in english
    assert '<time datetime="2026-11-20">' in english
    assert meta(english, "og:title") == (
        "We stand with the dockers <b>now</b> · Example Transport Federation"
    )
    assert meta(english, "description") == "The federation's affiliates back the strike."
    assert meta(english, "og:type") == "article"
    switch = Page(english).all("a", hreflang="bs")
    assert switch and switch[0]["href"] == "?lang=bs"
    bosnian = client.get(address + "?lang=bs").get_data(as_text=True)
    assert 'lang="bs"' in bosnian and "Uz lučke radnike" in bosnian
    assert "Naše članice podržavaju štrajk." in bosnian
    # A language it is not written in: its first language (English).
    german = client.get(address, headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "We stand with the dockers" in german
    arabic = client.get(f"/actions/{SLUG}/declarations/{public_id('miners')}?lang=en")
    assert "تضامن مع عمال الميناء" in arabic.get_data(as_text=True)
    assert client.get(f"/actions/{SLUG}/declarations/nope").status_code == 404


def test_a_campaign_with_targets_may_carry_declarations(client: FlaskClient, app: Flask,
                                                        tmp_path: Path) -> None:  # fmt: skip
    declaration = GATHERING.split("[[declarations]]", 1)[1].split("[[declarations]]")[0]
    load_campaign(tmp_path, SAMPLE + "\n[[declarations]]" + declaration)
    text = client.get("/actions/example-mine-strike?lang=en").get_data(as_text=True)
    assert len(Page(text).all("form")) == 1
    assert "Your message goes to" in text and "Example Transport Federation" in text
    assert client.get("/actions/api/campaigns/example-mine-strike").get_json()["form"] is True


def test_the_organisers_commands_work_on_a_campaign_without_targets(
    app: Flask, gathering: Any
) -> None:
    runner = app.test_cli_runner()
    for args in (["campaigns", "list"], ["report", SLUG], ["export", SLUG], ["send-mail"],
                 ["messages", SLUG]):  # fmt: skip
        result = runner.invoke(args=["urgentaction", *args])
        assert result.exit_code == 0, (args, result.output)
    listed = runner.invoke(args=["urgentaction", "campaigns", "list"]).output
    assert SLUG in listed


DEMO = Path(__file__).parent.parent / "examples" / "demo" / "campaigns"


def test_the_demo_declaration_reads_in_english_bosnian_and_arabic(
    client: FlaskClient, app: Flask
) -> None:
    from flask_urgentaction.campaigns import load_files

    load_files(get_session(), [DEMO / "ironbridge-dockworkers.toml"])
    (row,) = declaration_rows()
    address = f"/actions/ironbridge-dockworkers/declarations/{row.public_id}"
    titles = {
        "en": "Ports across the Adriatic stand with Ironbridge",
        "bs": "Luke širom Jadrana uz Ironbridge",
        "ar": "موانئ البحر الأدرياتيكي تقف مع آيرنبريدج",
    }
    for lang, title in titles.items():
        text = client.get(f"{address}?lang={lang}").get_data(as_text=True)
        assert f'<h1 dir="auto">{title}</h1>' in text, lang
        assert f'<article class="ua-declaration" lang="{lang}">' in text
    arabic = client.get(f"{address}?lang=ar").get_data(as_text=True)
    assert 'dir="rtl"' in arabic
    campaign = client.get("/actions/ironbridge-dockworkers?lang=bs").get_data(as_text=True)
    assert "Izjave solidarnosti" in campaign and titles["bs"] in campaign
