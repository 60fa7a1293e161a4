"""The HTML pages for supporters: list, campaign page, thanks, errors and markup."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from babel import Locale
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from werkzeug.test import TestResponse

from flask_urgentaction import campaigns
from flask_urgentaction.challenge import read
from flask_urgentaction.storage import get_session

from .conftest import Mailbox, form_challenge, form_data

SLUG = "example-mine-strike"
URL = f"/actions/{SLUG}"


class Page(HTMLParser):
    """The elements of a page with their attributes, and the text of each option."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.options: dict[str, str] = {}
        self._option: str | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.elements.append((tag, attributes))
        self._option = attributes.get("value", "") if tag == "option" else None

    def handle_endtag(self, tag: str) -> None:
        if tag == "option":
            self._option = None

    def handle_data(self, data: str) -> None:
        if self._option is not None:
            self.options[self._option] = self.options.get(self._option, "") + data

    def all(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [
            a
            for t, a in self.elements
            if t == tag and all(a.get(k.rstrip("_")) == v for k, v in attrs.items())
        ]

    def one(self, tag: str, **attrs: str) -> dict[str, str]:
        found = self.all(tag, **attrs)
        assert len(found) == 1, (tag, attrs, found)
        return found[0]

    def controls(self) -> list[tuple[str, dict[str, str]]]:
        return [(t, a) for t, a in self.elements if t in ("input", "select", "textarea")]


def html(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def stored_actions(app: Flask) -> int:
    with app.extensions["urgentaction"].storage.engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM ua_actions")).scalar_one())


def save(slug: str, status: str, title: str, **extra: Any) -> Any:
    definition = {
        "slug": slug,
        "status": status,
        "targets": [{"name": "The Employer", "email": "boss@employer.example"}],
        "translations": {"en": {"title": title, "summary": f"Summary of {title}."}},
    }
    definition |= extra
    campaign, _created = campaigns.save(get_session(), definition)
    get_session().commit()
    return campaign


def take_action(client: FlaskClient, slug: str = SLUG, **fields: Any) -> TestResponse:
    response = client.post(f"/actions/{slug}", data=form_data(client, slug, **fields))
    assert response.status_code == 303, html(response)
    return response


# The list


def test_index_lists_live_campaigns_with_title_summary_link_and_count(
    client: FlaskClient, campaign: Any
) -> None:
    save("a-draft", "draft", "Draft campaign title")
    save("a-closed", "closed", "Closed campaign title")
    save("second-live", "live", "Second live title")
    take_action(client)
    response = client.get("/actions/")
    assert response.status_code == 200
    page = html(response)
    assert "Reinstate the sacked union leaders" in page
    assert "Miners were sacked for founding a union." in page
    assert "Second live title" in page and "Summary of Second live title." in page
    assert "Draft campaign title" not in page and "Closed campaign title" not in page
    assert "1 message sent" in page
    assert "0 messages sent" in page
    links = {a["href"] for a in Page(page).all("a") if "href" in a}
    assert f"{URL}?lang=en" in links
    assert "/actions/second-live?lang=en" in links
    assert not any("a-draft" in link or "a-closed" in link for link in links)
    assert "Read more and take action" in page


def test_index_without_live_campaigns_says_so(client: FlaskClient, app: Flask) -> None:
    save("only-draft", "draft", "Only a draft")
    page = html(client.get("/actions/"))
    assert "There are no urgent actions right now." in page
    assert "Only a draft" not in page


# The campaign page


def test_campaign_page_shows_title_partner_body_and_target_names_only(
    client: FlaskClient, campaign: Any
) -> None:
    response = client.get(URL)
    assert response.status_code == 200
    page = html(response)
    assert '<h1 dir="auto">Reinstate the sacked union leaders</h1>' in page
    assert "Example Mineworkers&#39; Union" in page
    assert "<p>The <strong>company</strong> sacked five miners.</p>" in page
    assert "<li>a list item</li>" in page
    assert "<li>Example Mining Company</li>" in page and "<li>Ministry of Labour</li>" in page
    assert "ceo@mining.example" not in page and "minister@labour.example" not in page
    assert "0 messages sent" in page


def test_campaign_body_neutralises_raw_html_and_unsafe_links(
    client: FlaskClient, app: Flask
) -> None:
    body = (
        "<script>alert('body')</script>\n\n"
        '<img src="x" onerror="alert(1)">\n\n'
        "[click me](javascript:alert(2)) [data](data:text/html;base64,PHNjcmlwdD4=)\n\n"
        "![tracker](https://tracker.example/pixel.png) [fine](https://union.example/news)"
    )
    save("unsafe-body", "live", "Unsafe body", translations={"en": {"title": "T", "body": body}})
    page = html(client.get("/actions/unsafe-body"))
    body_html = page.split('<div class="ua-body" dir="auto">', 1)[1].split("</div>", 1)[0]
    assert "<script" not in body_html
    assert "&lt;script&gt;alert('body')&lt;/script&gt;" in body_html
    assert "<img" not in body_html
    assert 'href="javascript:' not in body_html and 'href="data:' not in body_html
    assert '<a href="https://union.example/news">fine</a>' in body_html
    # An image from another site becomes a link, so the page loads nothing from it.
    assert '<a href="https://tracker.example/pixel.png" rel="noopener">tracker</a>' in body_html


def test_campaign_page_has_the_whole_form_with_labels_tied_to_inputs(
    client: FlaskClient, campaign: Any
) -> None:
    page = Page(html(client.get(URL)))
    form = page.one("form")
    assert form["method"] == "post"
    # No action attribute: the form posts back to the campaign page itself.
    assert "action" not in form
    names = {a.get("name") for _t, a in page.controls()}
    expected = {"name", "email", "union", "country", "subject", "message", "opt_in"}
    assert names >= expected | {"challenge_answer", "challenge_token", "hp", "lang"}
    labelled = {a["for"] for a in page.all("label")}
    for tag, attrs in page.controls():
        if attrs.get("type") == "hidden":
            continue
        assert attrs.get("id") in labelled, (tag, attrs)
    ids = [a["id"] for _t, a in page.elements if "id" in a]
    assert len(ids) == len(set(ids)), "element ids must be unique"
    assert page.one("input", name="email")["type"] == "email"
    assert page.one("input", name="opt_in")["type"] == "checkbox"
    assert "checked" not in page.one("input", name="opt_in")
    assert page.one("a", href="https://example.org/privacy")


def test_message_and_subject_are_prefilled_in_the_page_language(
    client: FlaskClient, campaign: Any
) -> None:
    english = Page(html(client.get(URL)))
    assert english.one("input", name="subject")["value"] == "Reinstate the union leaders now"
    assert english.one("input", name="lang")["value"] == "en"
    assert "Reinstate the sacked union leaders of the Example mine.</textarea>" in html(
        client.get(URL)
    )
    german = html(client.get(URL + "?lang=de"))
    assert Page(german).one("input", name="subject")["value"] == (
        "Stellt die Gewerkschafter wieder ein"
    )
    assert "Stellt die entlassenen Gewerkschafter wieder ein.</textarea>" in german


@pytest.mark.parametrize("lang", ["en", "de"])
def test_country_select_names_come_from_babel_in_the_page_language(
    client: FlaskClient, campaign: Any, lang: str
) -> None:
    page = Page(html(client.get(f"{URL}?lang={lang}")))
    page.one("select", name="country")
    territories = Locale(lang).territories
    for code in ("DE", "AT", "BA", "XK", "ZA"):
        assert page.options[code] == territories[code]
    # Not countries: continents, the EU, unknown regions.
    assert not {"001", "150", "EU", "ZZ", "QO"} & set(page.options)
    assert page.options[""]  # the "choose" prompt comes first, with an empty value
    assert next(iter(page.options)) == ""
    assert len(page.options) > 240


def test_accept_language_picks_a_campaign_language(client: FlaskClient, campaign: Any) -> None:
    page = html(client.get(URL, headers={"Accept-Language": "de-AT,de;q=0.9,en;q=0.5"}))
    assert '<html lang="de" dir="ltr">' in page
    assert '<h1 dir="auto">Stellt die entlassenen Gewerkschafter wieder ein</h1>' in page
    assert Page(page).options["AT"] == "Österreich"


def test_challenge_question_shows_the_signed_number_as_digits(
    client: FlaskClient, campaign: Any
) -> None:
    page = html(client.get(URL))
    token, number = form_challenge(page)
    assert re.fullmatch(r"\d{4}", number)
    issued = read(token)
    assert issued is not None and issued.number == number
    assert f'<label for="challenge_answer">Enter the number {number} here</label>' in page
    answer = Page(page).one("input", name="challenge_answer")
    assert answer["value"] == "" and answer["inputmode"] == "numeric"
    # Every page view gets a fresh challenge.
    assert form_challenge(html(client.get(URL)))[0] != token


def test_page_works_without_javascript(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    page = html(client.get(URL))
    assert "<script" not in page
    parsed = Page(page)
    assert parsed.one("button", type="submit")
    # A plain form post, as a browser with scripting off sends it.
    fields = {
        a["name"]: a.get("value", "")
        for _t, a in parsed.controls()
        if a.get("type") in ("hidden", "text", "email")
    }
    token, number = form_challenge(page)
    assert fields["challenge_token"] == token
    fields |= {"name": "Ana Kovač", "email": "ana@example.org", "country": "BA"}
    fields |= {"challenge_answer": number, "message": "Reinstate them."}
    response = client.post(URL, data=fields)
    assert response.status_code == 303
    assert stored_actions(app) == 1
    assert len(mailbox.to("ceo@mining.example")) == 1


def external(url: str) -> bool:
    return bool(urlsplit(url).netloc) or url.startswith("//")


def assets(page: Page) -> list[str]:
    found = [a["href"] for a in page.all("link") if "href" in a]
    for tag in ("script", "img", "iframe", "source", "video", "audio", "embed"):
        found += [a["src"] for a in page.all(tag) if "src" in a]
    return found


def test_pages_load_no_external_assets(client: FlaskClient, campaign: Any) -> None:
    save("with-image", "live", "Image", translations={
        "en": {"title": "Image", "body": "![poster](https://cdn.example/poster.jpg)"}
    })  # fmt: skip
    thanks = take_action(client).headers["Location"]
    for url in ("/actions/", URL, URL + "?lang=de", thanks, "/actions/with-image", "/actions/x"):
        page = Page(html(client.get(url)))
        found = assets(page)
        assert found, url  # at least the stylesheet
        assert not [a for a in found if external(a)], url
    with client.get("/actions/static/urgentaction.css") as stylesheet:
        assert stylesheet.status_code == 200
        assert stylesheet.mimetype == "text/css"
        css = stylesheet.get_data(as_text=True)
    assert "url(" not in css and "@import" not in css


def test_pages_send_security_headers(client: FlaskClient, campaign: Any) -> None:
    thanks = take_action(client).headers["Location"]
    for url in ("/actions/", URL, thanks, "/actions/no-such-campaign"):
        response = client.get(url)
        policy = response.headers["Content-Security-Policy"]
        directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ")}
        assert directives["default-src"] == ["'self'"], url
        assert directives["frame-ancestors"] == ["'self'"], url
        assert directives["object-src"] == ["'none'"], url
        assert "script-src" not in directives or "'unsafe-inline'" not in directives["script-src"]
        assert response.headers["X-Content-Type-Options"] == "nosniff", url
        assert response.headers["Referrer-Policy"] == "no-referrer", url


# Not public, closed


def test_unknown_slug_is_a_404_page(client: FlaskClient, campaign: Any) -> None:
    response = client.get("/actions/no-such-campaign")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "There is no such campaign, or it is not public yet." in html(response)


def test_draft_campaign_is_a_404_for_get_post_and_thanks(client: FlaskClient, app: Flask) -> None:
    save("secret-draft", "draft", "Secret draft title")
    for response in (
        client.get("/actions/secret-draft"),
        client.post("/actions/secret-draft", data={"name": "Ana"}),
        client.get("/actions/secret-draft/thanks"),
    ):
        assert response.status_code == 404
        assert "Secret draft title" not in html(response)
        assert "There is no such campaign" in html(response)
    assert stored_actions(app) == 0


def test_closed_campaign_shows_no_form_and_refuses_posts(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    data = form_data(client)  # a valid challenge from while it was live
    campaign.status = "closed"
    get_session().commit()
    response = client.get(URL)
    assert response.status_code == 410
    page = html(response)
    assert '<h1 dir="auto">Reinstate the sacked union leaders</h1>' in page
    assert "This campaign is closed." in page
    assert "<form" not in page and "challenge_token" not in page
    posted = client.post(URL, data=data)
    assert posted.status_code == 410
    assert "This campaign is closed." in html(posted)
    assert "<form" not in html(posted)
    assert stored_actions(app) == 0
    assert mailbox.messages == []


# Thanks


def test_successful_post_redirects_to_thanks_with_language_and_optin(
    client: FlaskClient, campaign: Any
) -> None:
    response = client.post(URL, data=form_data(client, lang="de"))
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == f"{URL}/thanks"
    assert parse_qs(location.query) == {"lang": ["de"], "optin": ["0"]}


def test_thanks_page_shows_count_share_links_and_no_optin_note_without_optin(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    take_action(client, email="first@example.org")
    location = take_action(client, email="second@example.org").headers["Location"]
    assert "optin=0" in location
    response = client.get(location)
    assert response.status_code == 200
    page = html(response)
    assert "Thank you!" in page
    assert "2 messages sent" in page
    assert "Please check your inbox" not in page
    shared = "http%3A//actions.test/actions/example-mine-strike"
    hrefs = [a["href"] for a in Page(page).all("a") if "href" in a]
    share = [h for h in hrefs if shared in h]
    assert any(h.startswith("mailto:?") for h in share)
    assert any(h.startswith("https://wa.me/") for h in share)
    assert len(share) >= 4
    assert all(m["Subject"] for m in mailbox.messages)
    # One to each of the two targets per action, no opt-in mail.
    assert len(mailbox.messages) == 4


def test_thanks_page_notes_the_optin_mail_only_when_one_was_sent(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    location = take_action(client, opt_in="y").headers["Location"]
    assert "optin=1" in location
    assert "Please check your inbox" in html(client.get(location))
    confirms = mailbox.to("ana@example.org")
    assert len(confirms) == 1
    link = re.search(r"https?://\S+/confirm/\S+", confirms[0].get_body(("plain",)).get_content())
    assert link
    assert client.post(link.group(0)).status_code == 200

    # Already confirmed: ticking the box on another campaign sends no new mail.
    save("second-campaign", "live", "Second")
    before = len(mailbox.messages)
    location = take_action(client, "second-campaign", opt_in="y").headers["Location"]
    assert "optin=0" in location
    assert "Please check your inbox" not in html(client.get(location))
    assert len(mailbox.messages) == before + 1
    assert mailbox.to("ana@example.org") == confirms


# Accessibility basics


def test_honeypot_is_hidden_from_people_screen_readers_and_autofill(
    client: FlaskClient, campaign: Any
) -> None:
    page = html(client.get(URL))
    trap = re.search(r'<div class="ua-hp"([^>]*)>(.*?)</div>', page, re.S)
    assert trap, "no honeypot wrapper"
    assert 'aria-hidden="true"' in trap.group(1)
    hp = Page(trap.group(2)).one("input", name="hp")
    assert hp["tabindex"] == "-1"
    assert hp["autocomplete"] == "off"
    assert hp["value"] == ""


def test_html_element_has_lang_and_dir(client: FlaskClient, campaign: Any, app: Flask) -> None:
    assert '<html lang="en" dir="ltr">' in html(client.get(URL))
    assert '<html lang="de" dir="ltr">' in html(client.get(URL + "?lang=de"))
    save("arabic", "live", "Arabic", translations={
        "ar": {"title": "أعيدوا النقابيين إلى العمل", "message": "أعيدوهم."}
    })  # fmt: skip
    page = html(client.get("/actions/arabic"))
    assert '<html lang="ar" dir="rtl">' in page
    assert Page(page).options["EG"] == Locale("ar").territories["EG"]
    for url in ("/actions/", "/actions/nothing-here"):
        assert re.search(r'<html lang="[a-z-]+" dir="(ltr|rtl)">', html(client.get(url)))


def test_other_http_errors_get_our_translated_page(
    app: Flask, client: FlaskClient, campaign: Any
) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 2000
    response = client.post(
        "/actions/example-mine-strike?lang=de",
        data={"message": "x" * 5000},
        headers={"Accept-Language": "de"},
    )
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "Etwas ist schiefgelaufen" in page and 'lang="de"' in page
    # The host's MAX_CONTENT_LENGTH, smaller than our own cap, holds on our routes too.
    too_large = "Was du gesendet hast, ist zu groß. Bitte kürze es und versuche es noch einmal."
    assert too_large in page
    api = client.post(
        "/actions/api/campaigns/example-mine-strike/actions",
        json={"message": "x" * 5000},
        headers={"Accept-Language": "de"},
    )
    assert api.status_code == 413
    assert api.get_json() == {"error": too_large}
