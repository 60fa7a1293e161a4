"""Published solidarity messages: asked for in the form, moderated through the CLI,
shown on their pages and in the Atom feed, gone once rejected or erased."""

from __future__ import annotations

import html
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import feedparser
import pytest
from babel.dates import format_date
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, inspect, select

from flask_urgentaction import solidarity
from flask_urgentaction.campaigns import CampaignError, CampaignSnapshot, validate
from flask_urgentaction.models import Action, MessageStatus
from flask_urgentaction.storage import get_session, get_storage

from .conftest import SAMPLE, Mailbox, action_body, api_challenge, form_data, migrate
from .servers import call
from .test_api import campaign_variant, load_campaign, widget_typedef
from .test_pages import Page

SLUG = "example-mine-strike"
OTHER = "example-port-lockout"
PUBLISH = "\n[messages]\npublish = true\n"
ARABIC = """
[translations.ar]
title = "أعيدوا القادة النقابيين المفصولين إلى عملهم"
message = "أطالبكم بإعادة القادة النقابيين المفصولين إلى عملهم فورًا."
"""
# About 660 characters of Arabic in words of a few letters each.
ARABIC_TEXT = " ".join(["تضامننا الكامل مع عمال المنجم المفصولين ونقابتهم"] * 13)
MESSAGES = f"/actions/{SLUG}/messages"
FEED = f"/actions/{SLUG}/messages.atom"


@pytest.fixture
def app_config() -> dict[str, Any]:
    # Mail waits for a worker: these tests are about what is shown, not sent.
    return {"URGENTACTION_DELIVERY": "worker"}


@pytest.fixture
def publishing(app: Flask, tmp_path: Path) -> Any:
    return load_campaign(tmp_path, SAMPLE + ARABIC + PUBLISH)


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["urgentaction", *args])


def act(client: FlaskClient, email: str, slug: str = SLUG, **fields: Any) -> int:
    """Take an action through the JSON API (asking to publish unless told); its id."""
    token, answer = api_challenge(client, slug)
    fields = {"publish": True, "name": email.split("@")[0].title(), **fields}
    body = action_body(client, email=email, challenge_token=token, challenge_answer=answer,
                       **fields)  # fmt: skip
    response = client.post(f"/actions/api/campaigns/{slug}/actions", json=body)
    assert response.status_code == 201, response.get_json()
    return stored(email).id


def stored(email: str) -> Action:
    with get_storage().sessions() as session:
        found = session.scalar(select(Action).where(Action.email_key == email))
        assert found is not None
        return found


def approve(app: Flask, *ids: int) -> None:
    result = run(app, "messages", SLUG, *(f"--approve={i}" for i in ids))
    assert result.exit_code == 0, result.output


def text_of(response: Any) -> str:
    body: str = response.get_data(as_text=True)
    return body


def teasers(page: str) -> list[str]:
    """The teasers of a list page, as text, in page order."""
    found = re.findall(r'<p class="ua-message-text"[^>]*>(.*?)</p>', page, re.S)
    return [html.unescape(t) for t in found]


def names(page: str) -> list[str]:
    return [html.unescape(n) for n in re.findall(r'<h2 dir="auto">(.*?)</h2>', page)]


def meta(page: str) -> dict[str, str]:
    """The page's description and main Open Graph tags, as a browser reads their values."""
    tags = Page(page).all("meta")
    found = {t["name"]: t["content"] for t in tags if t.get("name") == "description"}
    wanted = ("og:title", "og:description", "og:type", "og:url", "og:locale")
    found |= {t["property"]: t["content"] for t in tags if t.get("property") in wanted}
    return found


# The campaign's [messages] table


def test_campaign_messages_table_is_checked_and_reaches_the_snapshot(
    app: Flask, publishing: Any
) -> None:
    definition = validate({**_sample_dict(), "messages": {"publish": True}})
    assert definition["publish_messages"] is True
    assert validate(_sample_dict())["publish_messages"] is False
    refused = (
        ({"publish": "yes"}, "messages.publish: must be true or false"),
        ({"publish": True, "moderate": False}, "messages.moderate: unknown key"),
        (True, "messages: must be a table"),
    )
    for table, problem in refused:
        with pytest.raises(CampaignError) as caught:
            validate({**_sample_dict(), "messages": table})
        assert str(caught.value) == problem
    assert publishing.publish_messages is True
    assert CampaignSnapshot.of(publishing).publish_messages is True


def _sample_dict() -> dict[str, Any]:
    return tomllib.loads(SAMPLE)


# Asking to publish


def test_form_offers_an_unticked_publish_box_only_where_the_campaign_publishes(
    app: Flask, client: FlaskClient, publishing: Any, tmp_path: Path
) -> None:
    load_campaign(tmp_path, campaign_variant(OTHER))
    for path in (f"/actions/{SLUG}", f"/actions/{SLUG}/embed"):
        page = Page(text_of(client.get(path)))
        box = page.one("input", name="publish")
        assert box["type"] == "checkbox" and "checked" not in box
        assert box["aria-describedby"] == "publish-help"
        assert page.one("label", for_="publish")
        # What becomes public is said next to the box: name, union, country, message.
        help_text = text_of(client.get(path)).split('id="publish-help">')[1].split("</p>")[0]
        assert "your name, union, country, your own line and your message" in help_text
        assert "email address is never shown" in help_text
    for path in (f"/actions/{OTHER}", f"/actions/{OTHER}/embed"):
        assert Page(text_of(client.get(path))).all("input", name="publish") == []

    data = client.get(f"/actions/api/campaigns/{SLUG}").get_json()
    assert data["publish"] is True
    assert data["labels"]["publish"] == "Publish my message on the campaign page"
    assert "never shown" in data["labels"]["publish_help"]
    other = client.get(f"/actions/api/campaigns/{OTHER}").get_json()
    assert other["publish"] is False
    # The labels are there anyway: the widget needs no second request to offer it.
    assert other["labels"]["publish"] == data["labels"]["publish"]


def test_publish_is_ignored_where_the_campaign_does_not_publish(
    app: Flask, client: FlaskClient, campaign: Any
) -> None:
    act(client, "ana@example.org", publish=True)
    action = stored("ana@example.org")
    assert (action.publish_requested, action.message_status, action.public_id) == (
        False, None, None,
    )  # fmt: skip


def test_publish_asked_for_is_stored_pending_and_not_asked_for_stays_out(
    app: Flask, client: FlaskClient, publishing: Any
) -> None:
    act(client, "ana@example.org")
    act(client, "lejla@example.org", publish=False)
    ana, lejla = stored("ana@example.org"), stored("lejla@example.org")
    assert ana.publish_requested and ana.message_status is MessageStatus.PENDING
    assert ana.public_id and len(ana.public_id) >= 22 and str(ana.id) != ana.public_id
    assert not lejla.publish_requested and lejla.message_status is None
    assert lejla.public_id is None
    # Pending is not shown.
    page = text_of(client.get(MESSAGES))
    assert names(page) == [] and "No messages have been published yet." in page


def test_publish_must_be_true_or_false_in_json(
    app: Flask, client: FlaskClient, publishing: Any
) -> None:
    body = action_body(client, publish="yes")
    response = client.post(f"/actions/api/campaigns/{SLUG}/actions", json=body)
    assert response.status_code == 422
    assert response.get_json()["errors"]["publish"] == ["Must be true or false."]


def test_html_form_box_ticked_asks_to_publish(
    app: Flask, client: FlaskClient, publishing: Any
) -> None:
    response = client.post(f"/actions/{SLUG}", data=form_data(client, publish="y"))
    assert response.status_code == 303
    assert stored("ana@example.org").message_status is MessageStatus.PENDING


# Moderation through the CLI


def test_cli_lists_pending_messages_then_approves_and_rejects_them(
    app: Flask, client: FlaskClient, publishing: Any
) -> None:
    ana = act(client, "ana@example.org", union="Sindikat rudara", country="BA",
              personal="Solidarity from Tuzla.", message="We stand with you.")  # fmt: skip
    lejla = act(client, "lejla@example.org", country="DE", lang="de", message="Wir stehen zu euch.")
    act(client, "quiet@example.org", publish=False)

    listed = run(app, "messages", SLUG, "--pending")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].split() == ["id", "date", "status", "name", "union", "country", "lang",
                                "teaser"]  # fmt: skip
    # Newest first; the one that did not ask is not listed.
    assert [int(line.split()[0]) for line in lines[1:]] == [lejla, ana]
    assert "Sindikat rudara" in lines[2] and " BA " in lines[2] and " en " in lines[2]
    assert "Solidarity from Tuzla. We stand with you." in lines[2]
    assert " DE " in lines[1] and " de " in lines[1] and "Wir stehen zu euch." in lines[1]

    result = run(app, "messages", SLUG, "--approve", str(ana), "--approve", str(lejla))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"{ana}: approved", f"{lejla}: approved"]
    assert run(app, "messages", SLUG, "--pending").output.strip() == "No messages waiting."
    assert names(text_of(client.get(MESSAGES))) == ["Lejla", "Ana"]
    lejla_page = f"{MESSAGES}/{stored('lejla@example.org').public_id}"
    assert client.get(lejla_page).status_code == 200

    # Taken down: gone from the list, its page and the feed on the next request.
    result = run(app, "messages", SLUG, "--reject", str(lejla))
    assert result.output.strip() == f"{lejla}: rejected"
    assert names(text_of(client.get(MESSAGES))) == ["Ana"]
    assert client.get(lejla_page).status_code == 404
    assert [e.author for e in feedparser.parse(client.get(FEED).data).entries] == ["Ana"]
    everything = run(app, "messages", SLUG).output
    assert re.search(rf"^ *{lejla} .* rejected ", everything, re.M)
    assert re.search(rf"^ *{ana} .* approved ", everything, re.M)


def test_cli_refuses_ids_not_of_the_campaign_and_changes_nothing(
    app: Flask, client: FlaskClient, publishing: Any, tmp_path: Path
) -> None:
    load_campaign(tmp_path, campaign_variant(OTHER) + PUBLISH)
    ours = act(client, "ana@example.org")
    theirs = act(client, "lejla@example.org", slug=OTHER)
    quiet = act(client, "quiet@example.org", publish=False)

    result = run(app, "messages", SLUG, "--approve", str(ours), "--approve", str(theirs),
                 "--approve", str(quiet), "--approve", "9999")  # fmt: skip
    assert result.exit_code == 1
    assert f"{theirs}: a message of {OTHER}, not of {SLUG}" in result.output
    assert f"{quiet}: its supporter did not ask to publish it" in result.output
    assert "9999: no such message" in result.output
    assert "nothing was changed" in result.output
    # All or none: the valid id stays pending too.
    assert stored("ana@example.org").message_status is MessageStatus.PENDING
    assert stored("lejla@example.org").message_status is MessageStatus.PENDING

    both = run(app, "messages", SLUG, "--approve", str(ours), "--reject", str(ours))
    assert both.exit_code == 1 and "given to both --approve and --reject" in both.output
    unknown = run(app, "messages", "no-such-campaign")
    assert unknown.exit_code == 1 and "no-such-campaign: no such campaign" in unknown.output


# The pages


def test_message_routes_answer_404_where_the_campaign_does_not_publish(
    app: Flask, client: FlaskClient, campaign: Any, tmp_path: Path
) -> None:
    act(client, "ana@example.org")
    for path in (MESSAGES, FEED, f"{MESSAGES}/anything"):
        assert client.get(path).status_code == 404, path
    # A draft is not public, messages or not.
    load_campaign(tmp_path, campaign_variant("a-draft", status="draft") + PUBLISH)
    assert client.get("/actions/a-draft/messages").status_code == 404
    assert client.get("/actions/a-draft/messages.atom").status_code == 404


def test_a_message_page_is_named_by_its_public_id_only(
    app: Flask, client: FlaskClient, publishing: Any
) -> None:
    ana = act(client, "ana@example.org", message="Full text here.")
    approve(app, ana)
    public_id = stored("ana@example.org").public_id
    page = text_of(client.get(f"{MESSAGES}/{public_id}"))
    assert "A message from Ana" in page and "Full text here." in page
    assert client.get(f"{MESSAGES}/{ana}").status_code == 404
    assert client.get(f"{MESSAGES}/{public_id}x").status_code == 404


def test_list_is_newest_first_and_paginated_with_prev_and_next_links(
    app: Flask, client: FlaskClient, publishing: Any
) -> None:
    ids = [act(client, f"s{n:02}@example.org", message=f"Message number {n}.") for n in range(21)]
    approve(app, *ids)
    first = text_of(client.get(MESSAGES))
    assert teasers(first) == [f"Message number {n}." for n in range(20, 0, -1)]
    head = Page(first)
    assert head.one("link", rel="next")["href"] == f"{MESSAGES}?lang=en&page=2"
    assert head.all("link", rel="prev") == []
    assert head.one("a", rel="next")["href"] == f"{MESSAGES}?lang=en&page=2"
    assert "Page 1 of 2" in first

    second = text_of(client.get(f"{MESSAGES}?page=2"))
    assert teasers(second) == ["Message number 0."]
    assert Page(second).one("link", rel="prev")["href"] == f"{MESSAGES}?lang=en"
    assert Page(second).all("link", rel="next") == []
    assert "Page 2 of 2" in second
    for bad in ("3", "0", "-1", "two"):
        assert client.get(f"{MESSAGES}?page={bad}").status_code == 404, bad


def test_language_filter_offers_the_languages_present_in_the_readers_language(
    app: Flask, client: FlaskClient, publishing: Any
) -> None:
    ids = [
        act(client, "ana@example.org", lang="en", message="In English."),
        act(client, "jonas@example.org", lang="de", message="Auf Deutsch."),
        act(client, "sara@example.org", lang="ar", message=ARABIC_TEXT[:80]),
        act(client, "erik@example.org", lang="de", message="Noch eine."),
    ]
    act(client, "pending@example.org", lang="en", message="Not approved.")
    approve(app, *ids)

    page = text_of(client.get(MESSAGES))
    nav = page.split('<nav class="ua-filter"')[1].split("</nav>")[0]
    filters = re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav)
    assert [name for _href, name in filters] == ["All languages", "Arabic", "English", "German"]
    german = dict((name, html.unescape(href)) for href, name in filters)["German"]
    assert german == f"{MESSAGES}?lang=en&written_in=de"
    only = text_of(client.get(german))
    assert teasers(only) == ["Noch eine.", "Auf Deutsch."]
    assert re.search(r'aria-current="true">German<', only)
    # The language of each message is named in the reader's language.
    in_german = text_of(client.get(f"{MESSAGES}?lang=de"))
    assert "Arabisch" in in_german and "Deutsch" in in_german and "Englisch" in in_german
    # The filter follows the pages; a language with no message lists them all.
    assert len(teasers(text_of(client.get(f"{MESSAGES}?written_in=fr")))) == 4


def test_each_message_shows_name_union_country_language_and_date_in_the_readers_language(
    app: Flask, client: FlaskClient, publishing: Any
) -> None:
    approve(app, act(client, "ana@example.org", union="SSM", country="BA", message="Hello."))
    page = text_of(client.get(f"{MESSAGES}?lang=de"))
    line = page.split('<p class="ua-meta">')[1].split("</p>")[0]
    assert "<bdi>SSM</bdi>" in line and "Bosnien und Herzegowina" in line and "Englisch" in line
    created = stored("ana@example.org").created_at
    assert format_date(created.date(), format="long", locale="de") in line
    assert f'datetime="{created.date().isoformat()}"' in line


def test_hostile_message_is_escaped_and_its_links_stay_text(
    app: Flask, client: FlaskClient, publishing: Any
) -> None:
    long_word = "A" * 2000
    message = (
        '<script>alert("x")</script> <a href="javascript:alert(1)">click</a> '
        f"javascript:alert(2) https://evil.example/steal www.evil.example {long_word}"
    )
    name = '"><img src=x onerror=alert(3)>'
    approve(app, act(client, "ana@example.org", name=name, message=message))
    public_id = stored("ana@example.org").public_id
    for path in (MESSAGES, f"{MESSAGES}/{public_id}"):
        page = text_of(client.get(path))
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
        hrefs = [a["href"] for a in Page(page).all("a")]
        assert not [h for h in hrefs if "javascript:" in h or "evil.example" in h], hrefs
        assert "&lt;img src=x onerror=alert(3)&gt;" in page
    (teaser,) = teasers(text_of(client.get(MESSAGES)))
    # The long word is cut (the teaser stays short), the page has it whole.
    assert len(teaser) <= solidarity.TEASER_CHARS + 1 and teaser.endswith("…")
    assert long_word in text_of(client.get(f"{MESSAGES}/{public_id}"))


def test_arabic_teaser_is_cut_at_a_word_in_its_own_language_and_direction(
    app: Flask, client: FlaskClient, publishing: Any
) -> None:
    approve(app, act(client, "sara@example.org", lang="ar", message=ARABIC_TEXT))
    page = text_of(client.get(f"{MESSAGES}?lang=ar"))
    assert re.search(r'<html lang="ar" dir="rtl">', page)
    element = re.search(r'<p class="ua-message-text" lang="ar" dir="auto">(.*?)</p>', page, re.S)
    assert element is not None
    teaser = element.group(1)
    assert teaser.endswith("…") and len(teaser) <= solidarity.TEASER_CHARS + 1
    kept = teaser.removesuffix("…")
    # A whole number of words of the message.
    assert ARABIC_TEXT.startswith(kept) and ARABIC_TEXT[len(kept)] == " "
    public_id = stored("sara@example.org").public_id
    whole = text_of(client.get(f"{MESSAGES}/{public_id}?lang=ar"))
    assert f'lang="ar" dir="auto">{ARABIC_TEXT}</p>' in whole


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Short and whole.", "Short and whole."),
        ("Spaces at line ends \r\nare no cut.  ", "Spaces at line ends\nare no cut."),
        ("word " * 100, ("word " * 60).strip() + "…"),
        ("x" * 500, "x" * 300 + "…"),
        # Never between a letter and its combining mark, nor inside a joined pair.
        ("a" * 299 + "e\u0301" + "b" * 100, "a" * 299 + "…"),
        ("a" * 299 + "\U0001f469\u200d\U0001f4bb" + "b" * 100, "a" * 299 + "…"),
        # The first lines only.
        ("one\ntwo\nthree\nfour\nfive\nsix", "one\ntwo\nthree\nfour…"),
        # Thai is written without spaces between words: cut at the limit, but
        # not between a consonant and its vowel sign (the 301st character is one).
        ("สามัคคี" * 60, ("สามัคคี" * 60)[:299] + "…"),
    ],
)
def test_teaser_takes_the_first_lines_cut_at_a_word(text: str, expected: str) -> None:
    assert solidarity.teaser(text) == expected


def test_open_graph_tags_on_campaign_list_and_message_pages_are_escaped(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    hostile = 'Free "the" <miners> & co'
    text = (SAMPLE + PUBLISH).replace(
        "Reinstate the sacked union leaders", 'Free \\"the\\" <miners> & co'
    )
    text = text.replace("Miners were sacked for founding a union.", "Sacked <b>for</b> a union.")
    load_campaign(tmp_path, text)
    approve(app, act(client, "ana@example.org", name='Ana "A" <Kovač>', message="Stand <firm>."))
    public_id = stored("ana@example.org").public_id

    pages = {
        f"/actions/{SLUG}": (hostile, "Sacked <b>for</b> a union.", "website", f"/actions/{SLUG}"),
        MESSAGES: (f"Solidarity messages: {hostile}", "Sacked <b>for</b> a union.", "website",
                   MESSAGES),
        f"{MESSAGES}/{public_id}": (f'A message from Ana "A" <Kovač> · {hostile}', "Stand <firm>.",
                                    "article", f"{MESSAGES}/{public_id}"),
    }  # fmt: skip
    for path, (title, description, kind, url) in pages.items():
        page = text_of(client.get(path))
        tags = meta(page)
        assert tags == {
            "description": description,
            "og:title": title,
            "og:description": description,
            "og:type": kind,
            "og:url": f"http://actions.test{url}?lang=en",
            "og:locale": "en_US",
        }, path
        assert "<miners>" not in page and "<b>for" not in page and "<firm>" not in page
        assert "Free &#34;the&#34; &lt;miners&gt; &amp; co" in page


def test_atom_feed_is_well_formed_and_lists_the_approved_messages_newest_first(
    app: Flask, client: FlaskClient, publishing: Any
) -> None:
    ana = act(client, "ana@example.org", union="SSM", country="BA", personal="From Tuzla.",
              message='Stand firm & <strong> "always".')  # fmt: skip
    sara = act(client, "sara@example.org", lang="ar", country="EG", union="",
               message=ARABIC_TEXT)  # fmt: skip
    act(client, "pending@example.org", message="Not approved.")
    approve(app, ana, sara)

    response = client.get(FEED)
    assert response.status_code == 200
    assert response.content_type == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(response.data)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.title == "Solidarity messages: Reinstate the sacked union leaders"
    assert feed.feed.language == "en"
    assert feed.feed.link == f"http://actions.test{MESSAGES}?lang=en"
    assert [link.href for link in feed.feed.links if link.rel == "self"] == [
        f"http://actions.test{FEED}?lang=en"
    ]
    entries = feed.entries
    assert [e.author for e in entries] == ["Sara", "Ana"]
    sara_entry, ana_entry = entries
    ana_row, sara_row = stored("ana@example.org"), stored("sara@example.org")
    assert ana_entry.id == f"http://actions.test{MESSAGES}/{ana_row.public_id}"
    assert ana_entry.link == f"http://actions.test{MESSAGES}/{ana_row.public_id}?lang=en"
    assert ana_entry.title == "Ana · SSM · Bosnia & Herzegovina"
    assert ana_entry.content[0].value == 'From Tuzla.\n\nStand firm & <strong> "always".'
    assert ana_entry.content[0].type == "text/plain"
    assert ana_entry.content[0].language == "en"
    assert sara_entry.content[0].value == ARABIC_TEXT
    assert sara_entry.content[0].language == "ar"
    # The title names the country in the feed's language, whatever the message's.
    assert sara_entry.title_detail.language == "en" and sara_entry.title == "Sara · Egypt"
    assert sara_entry.id == f"http://actions.test{MESSAGES}/{sara_row.public_id}"
    assert ana_entry.published_parsed[:6] == ana_row.created_at.utctimetuple()[:6]
    assert ana_row.moderated_at is not None
    assert ana_entry.updated_parsed[:6] == ana_row.moderated_at.utctimetuple()[:6]
    # Escaped as XML: the raw document has no tag the supporter typed.
    assert b"<strong>" not in response.data and b"&lt;strong&gt;" in response.data

    # In German: the titles' country names and the feed's texts follow ?lang=.
    german = feedparser.parse(client.get(f"{FEED}?lang=de").data)
    assert german.bozo == 0 and german.feed.language == "de"
    assert german.entries[1].title == "Ana · SSM · Bosnien und Herzegowina"
    # A conditional request is answered 304 while nothing changed.
    etag = response.headers["ETag"]
    assert client.get(FEED, headers={"If-None-Match": etag}).status_code == 304
    assert response.headers["Cache-Control"] == "no-cache"


def test_feed_holds_the_newest_fifty(app: Flask, client: FlaskClient, publishing: Any) -> None:
    ids = [act(client, f"s{n:02}@example.org", message=f"Number {n}.") for n in range(51)]
    approve(app, *ids)
    feed = feedparser.parse(client.get(FEED).data)
    assert feed.bozo == 0
    assert [e.content[0].value for e in feed.entries] == [f"Number {n}." for n in range(50, 0, -1)]


def test_empty_feed_is_well_formed(app: Flask, client: FlaskClient, publishing: Any) -> None:
    feed = feedparser.parse(client.get(FEED).data)
    assert feed.bozo == 0 and feed.entries == [] and feed.feed.updated_parsed is not None


# Erasure


def _shown(client: FlaskClient, public_id: str) -> dict[str, bool]:
    return {
        "list": public_id in text_of(client.get(MESSAGES)),
        "page": client.get(f"{MESSAGES}/{public_id}").status_code == 200,
        "feed": public_id in text_of(client.get(FEED)),
    }


def test_forget_takes_the_published_message_off_pages_and_feed(
    app: Flask, client: FlaskClient, publishing: Any
) -> None:
    ana = act(client, "ana@example.org", message="Remember me not.")
    approve(app, ana, act(client, "lejla@example.org", message="Still here."))
    public_id = stored("ana@example.org").public_id
    assert public_id is not None
    assert _shown(client, public_id) == {"list": True, "page": True, "feed": True}

    result = run(app, "forget", "ana@example.org", "--yes")
    assert result.exit_code == 0, result.output
    assert _shown(client, public_id) == {"list": False, "page": False, "feed": False}
    assert teasers(text_of(client.get(MESSAGES))) == ["Still here."]
    with get_storage().sessions() as session:
        erased = session.get(Action, ana)
        assert erased is not None
        assert (erased.publish_requested, erased.message_status, erased.public_id,
                erased.moderated_at) == (False, None, None, None)  # fmt: skip
    # Not listed for moderation, and not to be approved again.
    listed = run(app, "messages", SLUG).output.splitlines()[1:]
    assert str(ana) not in [line.split()[0] for line in listed]
    again = run(app, "messages", SLUG, "--approve", str(ana))
    assert again.exit_code == 1
    assert f"{ana}: erased: its supporter was forgotten or purged" in again.output


def test_purge_takes_old_published_messages_off_pages_and_feed(
    app: Flask, client: FlaskClient, publishing: Any
) -> None:
    approve(app, act(client, "ana@example.org", message="Old enough."))
    public_id = stored("ana@example.org").public_id
    assert public_id is not None and _shown(client, public_id)["page"]
    app.config["URGENTACTION_RETENTION_DAYS"] = 0
    result = run(app, "purge")
    assert result.exit_code == 0, result.output
    assert "erased 1 actions" in result.output
    assert _shown(client, public_id) == {"list": False, "page": False, "feed": False}


def test_the_person_record_says_whether_a_message_was_asked_to_be_published(
    app: Flask, client: FlaskClient, publishing: Any
) -> None:
    approve(app, act(client, "ana@example.org"))
    record = json.loads(run(app, "person", "ana@example.org").output)
    (action,) = record["actions"]
    assert action["publish_requested"] is True and action["message_status"] == "approved"
    assert action["moderated_at"].endswith("+00:00")


# Over real HTTP


def test_pages_and_feed_over_a_live_server(tmp_path: Path, mailbox: Mailbox) -> None:
    from tests.browser.support import serve_app

    with serve_app(tmp_path, mailbox, URGENTACTION_DELIVERY="worker") as live:
        live.add_campaign(tmp_path / "publishing.toml", SAMPLE + ARABIC + PUBLISH)
        port = live.server.port
        campaign = call(port, "GET", f"/actions/api/campaigns/{SLUG}?lang=ar").json()
        assert campaign["publish"] is True
        question = re.search(r"\d{4}", campaign["challenge"]["question"])
        assert question is not None
        body = {
            "name": "سارة", "email": "sara@example.org", "country": "EG", "lang": "ar",
            "message": ARABIC_TEXT, "publish": True, "hp": "",
            "challenge_token": campaign["challenge"]["token"],
            "challenge_answer": question.group(0),
        }  # fmt: skip
        assert call(port, "POST", f"/actions/api/campaigns/{SLUG}/actions", body).status == 201
        with live.app.app_context():
            sara = get_session().scalar(select(Action))
            assert sara is not None and sara.public_id is not None
            sara_id, public_id = sara.id, sara.public_id
        assert call(port, "GET", MESSAGES).body.count(b"ua-message-text") == 0
        moderated = run(live.app, "messages", SLUG, "--approve", str(sara_id))
        assert moderated.exit_code == 0, moderated.output

        listing = call(port, "GET", f"{MESSAGES}?lang=ar")
        assert listing.status == 200
        page = listing.body.decode()
        assert "سارة" in page and 'lang="ar" dir="auto"' in page
        assert meta(page)["og:url"] == f"{live.origin}{MESSAGES}?lang=ar"
        single = call(port, "GET", f"{MESSAGES}/{public_id}")
        assert single.status == 200 and ARABIC_TEXT in single.body.decode()

        answer = call(port, "GET", FEED)
        assert answer.status == 200
        assert answer.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
        feed = feedparser.parse(answer.body)
        assert feed.bozo == 0
        (entry,) = feed.entries
        assert entry.id == f"{live.origin}{MESSAGES}/{public_id}"
        assert entry.content[0].value == ARABIC_TEXT and entry.content[0].language == "ar"

        assert run(live.app, "messages", SLUG, "--reject", str(sara_id)).exit_code == 0
        assert feedparser.parse(call(port, "GET", FEED).body).entries == []
        assert call(port, "GET", f"{MESSAGES}/{public_id}").status == 404
        assert not live.errors


def test_migration_adds_and_removes_the_publication_columns(app: Flask, publishing: Any) -> None:
    engine = get_storage().engine
    migrate(engine, "0008")
    assert "public_id" not in {c["name"] for c in inspect(engine).get_columns("ua_actions")}
    migrate(engine, "head")
    columns = {c["name"] for c in inspect(engine).get_columns("ua_actions")}
    assert {"publish_requested", "message_status", "moderated_at", "public_id"} <= columns
    indexes = {i["name"]: i for i in inspect(engine).get_indexes("ua_actions")}
    assert indexes["ix_ua_actions_public_id"]["unique"]
    assert indexes["ix_ua_actions_messages"]["column_names"] == [
        "campaign_id", "message_status", "created_at",
    ]  # fmt: skip


def message_page_plans(client: FlaskClient, page: str) -> dict[str, str]:
    """SQLite's plan of each query of published messages that ``page`` runs."""
    engine = get_storage().engine
    ran: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if "message_status" in statement:
            ran.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get(page).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    with engine.connect() as connection:
        return {
            " ".join(statement.split()): " ".join(
                row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}",
                                                              parameters)
            )
            for statement, parameters in ran
        }  # fmt: skip


def test_message_pages_count_and_list_languages_from_the_index_alone(
    app: Flask, client: FlaskClient, publishing: Any
) -> None:
    """Not from every approved message's row: a campaign with thousands of them would
    read them all on each view of its pages."""
    engine = get_storage().engine
    migrate(engine, "0014")
    assert "ix_ua_actions_published" not in {i["name"] for i in inspect(engine).get_indexes(
        "ua_actions")}  # fmt: skip
    migrate(engine, "head")
    approve(app, *(act(client, f"s{n}@example.org", lang=lang) for n, lang in
                   enumerate(["en", "de", "ar", "de"])))  # fmt: skip
    plans = message_page_plans(client, MESSAGES) | message_page_plans(
        client, f"{MESSAGES}?written_in=de"
    )
    # The count, the count in one language, and the languages: the first, then
    # each next one after the last found.
    aggregates = {s: p for s, p in plans.items() if "count(" in s or "min(" in s}
    assert len(aggregates) == 4, plans
    for statement, plan in aggregates.items():
        assert "COVERING INDEX ix_ua_actions_published" in plan, (statement, plan)
    (next_language,) = [p for s, p in aggregates.items() if "lang > ?" in s]
    assert "lang>?" in next_language, next_language
    # A page in one language is read in order from it, not picked out of all languages.
    (one_language,) = [p for s, p in plans.items() if s not in aggregates and "lang = ?" in s]
    assert "ix_ua_actions_published" in one_language and "lang=?" in one_language
    assert "TEMP B-TREE" not in one_language


# The JSON list for the messages widget: GET /api/campaigns/<slug>/messages

API_MESSAGES = f"/actions/api/campaigns/{SLUG}/messages"
PUBLISHED_KEYS = {"public_id", "name", "union", "country", "country_name", "lang",
                  "language_name", "dir", "teaser", "date", "date_text", "url"}  # fmt: skip


def test_messages_json_lists_approved_messages_only_newest_first_without_addresses(
    app: Flask, client: FlaskClient, publishing: Any
) -> None:
    ana = act(client, "ana@example.org", union="SSM", country="BA", message="From Tuzla.")
    sara = act(client, "sara@example.org", lang="ar", country="EG", message=ARABIC_TEXT)
    rejected = act(client, "rex@example.org", message="Rejected.")
    erased = act(client, "erin@example.org", message="Forget me.")
    act(client, "pending@example.org", message="Not yet.")
    act(client, "quiet@example.org", publish=False, message="Not asked.")
    approve(app, ana, sara, rejected, erased)
    assert run(app, "messages", SLUG, f"--reject={rejected}").exit_code == 0
    assert run(app, "forget", "erin@example.org", "--yes").exit_code == 0

    response = client.get(f"{API_MESSAGES}?lang=de")
    assert response.status_code == 200
    raw = response.get_data(as_text=True)
    # No address, and no row id: only the public ids name the messages.
    assert "@" not in raw
    body = response.get_json()
    assert (body["slug"], body["lang"], body["dir"]) == (SLUG, "de", "ltr")
    assert (body["page"], body["pages"], body["total"], body["written_in"]) == (1, 1, 2, "")
    assert body["url"] == f"http://actions.test{MESSAGES}?lang=de"
    assert body["heading"].endswith(body["title"]) and body["title"]
    assert set(body["labels"]) == {"read_more", "all", "empty"}
    newest, older = body["messages"]
    assert set(newest) == set(older) == PUBLISHED_KEYS
    assert [newest["teaser"], older["teaser"]] == [solidarity.teaser(ARABIC_TEXT), "From Tuzla."]
    assert newest["teaser"].endswith("…")
    assert (newest["lang"], newest["dir"], newest["language_name"]) == ("ar", "rtl", "Arabisch")
    assert (older["name"], older["union"], older["country"]) == ("Ana", "SSM", "BA")
    assert (older["country_name"], older["language_name"], older["dir"]) == (
        "Bosnien und Herzegowina", "Englisch", "ltr",
    )  # fmt: skip
    created = stored("ana@example.org").created_at
    assert older["date"] == created.date().isoformat()
    assert older["date_text"] == format_date(created.date(), format="long", locale="de")
    public_id = stored("ana@example.org").public_id
    assert older["public_id"] == public_id
    assert older["url"] == f"http://actions.test{MESSAGES}/{public_id}?lang=de"
    assert client.get(older["url"]).status_code == 200
    assert str(ana) not in {m["public_id"] for m in body["messages"]}


def test_messages_json_filters_by_language_and_pages_like_the_page(
    app: Flask, client: FlaskClient, publishing: Any
) -> None:
    ids = [act(client, f"s{n:02}@example.org", message=f"Message number {n}.") for n in range(20)]
    ids.append(act(client, "sara@example.org", lang="ar", message="تضامننا"))
    approve(app, *ids)
    first = client.get(API_MESSAGES).get_json()
    assert (first["pages"], first["total"], len(first["messages"])) == (2, 21, 20)
    second = client.get(f"{API_MESSAGES}?page=2").get_json()
    assert [m["teaser"] for m in second["messages"]] == ["Message number 0."]
    arabic = client.get(f"{API_MESSAGES}?written_in=ar&lang=ar").get_json()
    assert (arabic["written_in"], arabic["total"], arabic["dir"]) == ("ar", 1, "rtl")
    assert [m["teaser"] for m in arabic["messages"]] == ["تضامننا"]
    # A language no message is in filters nothing, as on the page.
    assert client.get(f"{API_MESSAGES}?written_in=fr").get_json()["total"] == 21
    for bad in ("3", "0", "two"):
        response = client.get(f"{API_MESSAGES}?page={bad}")
        assert response.status_code == 404 and response.get_json()["error"], bad


def test_messages_json_empty_then_404_where_the_campaign_does_not_publish(
    app: Flask, client: FlaskClient, publishing: Any, tmp_path: Path
) -> None:
    empty = client.get(f"{API_MESSAGES}?lang=de").get_json()
    assert (empty["messages"], empty["total"]) == ([], 0)
    assert empty["labels"]["empty"] == "Es wurden noch keine Nachrichten veröffentlicht."
    load_campaign(tmp_path, SAMPLE)
    refused = client.get(API_MESSAGES)
    assert refused.status_code == 404
    assert refused.get_json() == {"error": "This campaign does not publish solidarity messages."}
    load_campaign(tmp_path, campaign_variant("a-draft", status="draft") + PUBLISH)
    assert client.get("/actions/api/campaigns/a-draft/messages").status_code == 404
    assert client.get("/actions/api/campaigns/nothing/messages").status_code == 404


def test_messages_json_cors_and_caching_follow_the_campaign_list(
    app: Flask, client: FlaskClient, publishing: Any, tmp_path: Path
) -> None:
    approve(app, act(client, "ana@example.org", message="Hello."))
    response = client.get(API_MESSAGES, headers={"Origin": "https://union.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://union.example"
    assert "Origin" in response.vary and "Accept-Language" in response.vary
    assert response.headers["Cache-Control"] == "public, max-age=60"
    etag = response.headers["ETag"]
    again = client.get(
        API_MESSAGES, headers={"If-None-Match": etag, "Origin": "https://union.example"}
    )
    assert again.status_code == 304
    # A campaign that narrows its origins: others get a readable 403 and no messages.
    narrow = 'allowed_origins = ["https://union.example"]'
    load_campaign(tmp_path, campaign_variant(SLUG, extra=narrow) + PUBLISH)
    refused = client.get(API_MESSAGES, headers={"Origin": "https://other.example"})
    assert refused.status_code == 403
    assert refused.headers["Access-Control-Allow-Origin"] == "https://other.example"
    assert refused.get_json() == {"error": "This campaign cannot be embedded on this website."}
    allowed = client.get(API_MESSAGES, headers={"Origin": "https://union.example"})
    assert allowed.status_code == 200 and len(allowed.get_json()["messages"]) == 1
    # A server (no Origin) reads it, without CORS headers.
    plain = client.get(API_MESSAGES)
    assert plain.status_code == 200 and "Access-Control-Allow-Origin" not in plain.headers


def test_messages_json_serves_every_key_the_widget_source_reads(
    app: Flask, client: FlaskClient, publishing: Any
) -> None:
    approve(app, act(client, "ana@example.org", message="Hello."))
    body = client.get(API_MESSAGES).get_json()
    assert {"heading", "url", "messages"} <= widget_typedef("MessageList") <= set(body)
    assert {"teaser", "dir", "date_text"} <= widget_typedef("PublishedMessage")
    assert widget_typedef("PublishedMessage") <= set(body["messages"][0])
    assert widget_typedef("MessageLabels") == set(body["labels"])
