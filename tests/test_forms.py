"""The HTML form's rules: what is refused, what is kept, and what reaches the mail."""

from __future__ import annotations

import re
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import getaddresses
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from werkzeug.test import TestResponse

from flask_urgentaction import campaigns
from flask_urgentaction.storage import get_session

from .conftest import Mailbox, form_data

TARGET = "ceo@mining.example"  # the campaign's first target; each gets its own mail

SLUG = "example-mine-strike"
URL = f"/actions/{SLUG}"
REQUIRED = "This field is required."
ONE_LINE = "Line breaks and control characters are not allowed."
NOT_ALLOWED = "This text contains characters that are not allowed."
BAD_EMAIL = "Please enter a valid email address."
BAD_COUNTRY = "Please choose a country from the list."


class Controls(HTMLParser):
    """Form controls and every element id of a page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.controls: dict[str, dict[str, str]] = {}
        self.ids: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if "id" in attributes:
            self.ids.append(attributes["id"])
        if tag in ("input", "select", "textarea") and "name" in attributes:
            self.controls[attributes["name"]] = attributes


def stored(app: Flask) -> list[dict[str, Any]]:
    """The stored actions, read on a connection of their own."""
    with app.extensions["urgentaction"].storage.engine.connect() as connection:
        result = connection.execute(text("SELECT * FROM ua_actions ORDER BY id"))
        return [dict(row._mapping) for row in result]


def address_header(message: EmailMessage, header: str) -> tuple[str, str]:
    """The one (display name, address) of a header, read as a mail client reads it.

    Unfolded, split into addresses, and the display name's encoded words decoded
    by RFC 2047 (CPython's newer parser puts a space between adjacent encoded
    words, which mail clients do not).
    """
    (raw,) = [value for name, value in message.raw_items() if name.lower() == header.lower()]
    unfolded = raw.replace("\r\n", "").replace("\n", "")
    addresses = getaddresses([unfolded])
    assert len(addresses) == 1, f"{header} holds {addresses}"
    encoded_name, address = addresses[0]
    return str(make_header(decode_header(encoded_name))), address


def post(client: FlaskClient, **fields: Any) -> TestResponse:
    return client.post(URL, data=form_data(client, **fields))


def page(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def field_error(html: str, field: str) -> str:
    """The error text tied to ``field``, checking the ARIA wiring on the way."""
    controls = Controls(html)
    control = controls.controls[field]
    assert control.get("aria-invalid") == "true", control
    described = control["aria-describedby"].split()
    for ref in described:
        assert ref in controls.ids, f"aria-describedby points at missing id {ref}"
    error_id = f"{control['id']}-error"
    assert error_id in described
    found = re.search(rf'<p class="ua-error" id="{error_id}">(.*?)</p>', html, re.S)
    assert found
    return found.group(1)


def assert_refused(
    app: Flask, mailbox: Mailbox, response: TestResponse, field: str, message: str
) -> str:
    assert response.status_code == 422
    html = page(response)
    assert message in field_error(html, field)
    assert "Please check the form" in html
    assert stored(app) == []
    assert mailbox.messages == []
    return html


# Success and the shape of an error page


def test_valid_post_stores_one_action_and_mails_the_targets(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    response = post(client, email="Ana@Example.org", opt_in="y")
    assert response.status_code == 303
    assert response.headers["Location"] == f"{URL}/thanks?lang=en&optin=1"
    (action,) = stored(app)
    assert action["name"] == "Ana Kovač"
    assert action["email"] == "Ana@Example.org"
    assert action["email_key"] == "ana@example.org"
    assert action["country"] == "BA" and action["union"] == "SSM"
    assert action["message"] == "Reinstate them."
    assert len(mailbox.to("ceo@mining.example")) == 1
    assert len(mailbox.to("Ana@Example.org")) == 1  # the opt-in confirmation


def test_errors_rerender_with_summary_field_messages_and_input_kept(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    data = form_data(
        client,
        name="Ana Kovač",
        email="not-an-address",
        union="SSM",
        country="BA",
        subject="My own subject",
        message="My own words.\nSecond line.",
        opt_in="y",
    )
    response = client.post(URL, data=data)
    html = assert_refused(app, mailbox, response, "email", BAD_EMAIL)
    controls = Controls(html).controls
    assert controls["name"]["value"] == "Ana Kovač"
    assert controls["email"]["value"] == "not-an-address"
    assert controls["union"]["value"] == "SSM"
    assert controls["subject"]["value"] == "My own subject"
    assert "checked" in controls["opt_in"]
    assert "My own words.\nSecond line.</textarea>" in html
    assert '<option selected value="BA">' in html
    # The spam-check answer is not kept; a fresh challenge replaces the old one.
    assert controls["challenge_answer"]["value"] == ""
    assert controls["challenge_token"]["value"] != data["challenge_token"]
    summary = re.search(r'<div class="ua-summary" role="alert"[^>]*>(.*?)</div>', html, re.S)
    assert summary
    assert '<a href="#email">Your email</a>: ' + BAD_EMAIL in summary.group(1)
    # Fields without errors are not marked.
    assert "aria-invalid" not in controls["name"]


def test_rerendered_form_can_then_be_sent(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    html = page(post(client, email="ana@"))
    token = Controls(html).controls["challenge_token"]["value"]
    number = re.search(r"Enter the number (\d+) here", html)
    assert number
    data = form_data(client, challenge_token=token, challenge_answer=number.group(1))
    assert client.post(URL, data=data).status_code == 303
    assert len(stored(app)) == 1


def test_duplicate_email_is_a_friendly_409_and_sends_no_second_mail(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    assert post(client, email="ana@example.org").status_code == 303
    assert len(mailbox.messages) == 2  # one to each target
    response = post(client, email="  ANA@Example.ORG ", name="Ana again", opt_in="y")
    assert response.status_code == 409
    assert "You have already sent this message. Thank you!" in page(response)
    assert len(stored(app)) == 1
    assert len(mailbox.messages) == 2


# Bad input: each refused with its message, nothing stored, nothing sent


@pytest.mark.parametrize("field", ["name", "email", "country"])
def test_empty_required_field_is_refused(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox, field: str
) -> None:
    assert_refused(app, mailbox, post(client, **{field: ""}), field, REQUIRED)


def test_whitespace_only_name_counts_as_empty(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    assert_refused(app, mailbox, post(client, name="   \t "), "name", REQUIRED)


def test_all_required_fields_empty_lists_each_in_the_summary(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    response = post(client, name="", email="", country="")
    html = assert_refused(app, mailbox, response, "name", REQUIRED)
    for field in ("name", "email", "country"):
        assert REQUIRED in field_error(html, field)
        assert f'<li><a href="#{field}">' in html


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [
        ("name", "N" * 201, 200),
        ("email", "a" * 64 + "@" + ("b" * 60 + ".") * 3 + "example.org", 254),
        ("union", "U" * 201, 200),
        ("subject", "S" * 301, 300),
        ("message", "M" * 5001, 5000),
    ],
)
def test_overlong_field_is_refused(
    client: FlaskClient,
    app: Flask,
    campaign: Any,
    mailbox: Mailbox,
    field: str,
    value: str,
    limit: int,
) -> None:
    assert len(value) > limit
    message = f"Please use at most {limit} characters."
    assert_refused(app, mailbox, post(client, **{field: value}), field, message)


def test_fields_at_their_limits_are_accepted(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    response = post(client, name="N" * 200, union="U" * 200, subject="S" * 300, message="M" * 5000)
    assert response.status_code == 303
    (action,) = stored(app)
    assert len(action["name"]) == 200 and len(action["message"]) == 5000


@pytest.mark.parametrize(
    "email",
    ["ana", "ana@", "@example.org", "ana example@example.org", "ana@@example.org", "ana@example"],
)
def test_malformed_email_is_refused(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox, email: str
) -> None:
    assert_refused(app, mailbox, post(client, email=email), "email", BAD_EMAIL)


def test_email_that_could_not_be_mailed_is_refused_and_an_idn_domain_is_delivered(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    # The supporter's address goes in Reply-To: without SMTPUTF8 a non-ASCII local
    # part cannot be written there, so the form says so instead of mail failing later.
    assert_refused(app, mailbox, post(client, email="josé@example.org"), "email", BAD_EMAIL)
    assert post(client, email="ana@bücher.example").status_code == 303
    (mail,) = mailbox.to(TARGET)
    assert address_header(mail, "Reply-To") == ("Ana Kovač", "ana@xn--bcher-kva.example")


@pytest.mark.parametrize("country", ["XX", "ZZ", "EU", "ba", "BIH", "001", "<b>"])
def test_unknown_country_code_is_refused(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox, country: str
) -> None:
    assert_refused(app, mailbox, post(client, country=country), "country", BAD_COUNTRY)


@pytest.mark.parametrize("field", ["name", "union", "subject", "email"])
@pytest.mark.parametrize("breaker", ["\r\n", "\n", "\r", "\u2028"])
def test_line_breaks_in_one_line_fields_are_refused(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox, field: str, breaker: str
) -> None:
    value = f"Ana{breaker}Bcc: victim@example.org"
    if field == "email":
        value = f"ana@example.org{breaker}Bcc: victim@example.org"
    assert_refused(app, mailbox, post(client, **{field: value}), field, ONE_LINE)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "Ana\x00Kovač", ONE_LINE),
        ("email", "ana\x00@example.org", ONE_LINE),
        ("union", "SSM\x00", ONE_LINE),
        ("subject", "Hello\x00", ONE_LINE),
        ("message", "Reinstate\x00them.", NOT_ALLOWED),
        ("message", "Bell\x07 and escape\x1b", NOT_ALLOWED),
        ("country", "B\x00A", BAD_COUNTRY),
    ],
)
def test_nul_and_control_characters_are_refused(
    client: FlaskClient,
    app: Flask,
    campaign: Any,
    mailbox: Mailbox,
    field: str,
    value: str,
    message: str,
) -> None:
    assert_refused(app, mailbox, post(client, **{field: value}), field, message)


def test_nul_in_the_spam_check_answer_is_a_challenge_error(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    data = form_data(client)
    data["challenge_answer"] = data["challenge_answer"][:2] + "\x00" + data["challenge_answer"][2:]
    assert_refused(
        app, mailbox, client.post(URL, data=data), "challenge_answer", "not the number shown"
    )


def test_message_keeps_tabs_and_line_breaks(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    message = "Dear minister,\r\n\r\n\tReinstate them.\r\nAna"
    assert post(client, message=message).status_code == 303
    assert stored(app)[0]["message"].replace("\r\n", "\n") == message.replace("\r\n", "\n")


SCRIPT = "<script>alert('x')</script>"


def test_html_in_every_field_is_escaped_in_the_rerendered_page(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    data = form_data(
        client,
        name=f'"><{SCRIPT}',
        email=f"{SCRIPT}@example.org",
        union=f"<b>SSM</b>{SCRIPT}",
        country=SCRIPT,
        subject=f"' onmouseover='alert(1){SCRIPT}",
        message=f"</textarea>{SCRIPT}",
        partner=f'"><img src=x onerror=alert(1)>{SCRIPT}',
        lang=f'en"><{SCRIPT}',
        hp=SCRIPT,
        challenge_answer=SCRIPT,
    )
    response = client.post(URL, data=data)
    assert response.status_code == 422
    html = page(response)
    assert "<script" not in html
    assert "<img" not in html and "<b>SSM" not in html
    assert "</textarea><" not in html
    controls = Controls(html).controls
    # The values come back as typed, only escaped in the markup.
    assert controls["name"]["value"] == f'"><{SCRIPT}'
    assert controls["union"]["value"] == f"<b>SSM</b>{SCRIPT}"
    assert controls["subject"]["value"] == f"' onmouseover='alert(1){SCRIPT}"
    assert "&lt;/textarea&gt;&lt;script&gt;" in html
    assert stored(app) == [] and mailbox.messages == []


def test_html_in_fields_is_stored_as_typed(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    fields = {
        "name": f"<i>Ana</i>{SCRIPT}",
        "union": f"<b>SSM</b> & co {SCRIPT}",
        "subject": f"<u>Now</u>{SCRIPT}",
        "message": f"<p>Reinstate</p>\n{SCRIPT}",
    }
    assert post(client, **fields).status_code == 303
    (action,) = stored(app)
    for field, value in fields.items():
        assert action[field] == value
    (mail,) = mailbox.to(TARGET)
    assert address_header(mail, "Reply-To") == (fields["name"], "ana@example.org")
    # The HTML part of the mail escapes what the supporter typed.
    html_part = mail.get_body(("html",))
    assert html_part is not None
    assert "<script>" not in html_part.get_content()


@pytest.mark.parametrize(
    "name",
    [
        "Ëndrit Çela",
        "Олена Шевченко",
        "محمد الأحمد",
        "Ana 🌹 Kovač ✊🏽",
        "Kovač, Ana",
        'Ana "Ana" <ana@example.org> Kovač',
        "Ана Ковач, секретарка синдиката рудара Примјер",
    ],
)
def test_names_in_any_script_reach_the_stored_action_and_the_reply_to(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox, name: str
) -> None:
    response = post(client, name=name, union="Синдикат «Єдність»", email="person@example.org")
    assert response.status_code == 303
    (action,) = stored(app)
    assert action["name"] == name
    assert action["union"] == "Синдикат «Єдність»"
    (mail,) = mailbox.to(TARGET)
    assert address_header(mail, "Reply-To") == (name, "person@example.org")
    assert address_header(mail, "From") == (
        f"{name} via Example Network",
        "actions@network.example",
    )
    assert name in mail.get_body(("plain",)).get_content()


def test_filled_honeypot_is_refused(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    response = post(client, hp="http://spam.example")
    assert response.status_code == 422
    assert "This field must be left empty." in page(response)
    assert stored(app) == [] and mailbox.messages == []


@pytest.mark.parametrize("app_config", [{"URGENTACTION_MIN_FILL_SECONDS": 30}])
def test_submission_faster_than_min_fill_seconds_is_refused(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    response = post(client)
    assert_refused(app, mailbox, response, "challenge_answer", "faster than a person can type")


# Where the post comes from


@pytest.mark.parametrize(
    "app_config", [{"URGENTACTION_ALLOWED_ORIGINS": ["https://union.example"]}]
)
def test_post_with_a_foreign_origin_is_forbidden(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    data = form_data(client)
    response = client.post(URL, data=data, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert "This form cannot be sent from that website." in page(response)
    assert stored(app) == [] and mailbox.messages == []
    # Our own pages may post, and so may an allowed site.
    own = client.post(URL, data=data, headers={"Origin": "http://actions.test"})
    assert own.status_code == 303


def test_post_with_an_origin_the_campaign_does_not_allow_is_forbidden(
    client: FlaskClient, app: Flask, mailbox: Mailbox
) -> None:
    campaigns.save(get_session(), {
        "slug": "narrow",
        "status": "live",
        "allowed_origins": ["https://union.example"],
        "targets": [{"name": "The Employer", "email": "boss@employer.example"}],
        "translations": {"en": {"title": "Narrow"}},
    })  # fmt: skip
    get_session().commit()
    data = form_data(client, "narrow")
    foreign = client.post(
        "/actions/narrow", data=data, headers={"Origin": "https://not-the-union.example"}
    )
    assert foreign.status_code == 403
    assert stored(app) == [] and mailbox.messages == []


def test_cross_site_fetch_without_origin_is_forbidden(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    data = form_data(client)
    response = client.post(URL, data=data, headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert stored(app) == [] and mailbox.messages == []
    same = client.post(URL, data=data, headers={"Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 303


@pytest.mark.parametrize("app_config", [{"URGENTACTION_RATE_LIMIT": "2 per minute"}])
def test_too_many_submissions_get_429_with_retry_after(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    assert post(client, email="one@example.org").status_code == 303
    assert post(client, email="two@example.org").status_code == 303
    response = post(client, email="three@example.org")
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert "Too many messages from your connection" in page(response)
    assert [a["email"] for a in stored(app)] == ["one@example.org", "two@example.org"]
    assert len(mailbox.to(TARGET)) == 2
    # The limit is per client address: another address may still post.
    other = client.post(
        URL,
        data=form_data(client, email="four@example.org"),
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert other.status_code == 303


# The personal line: a short paragraph of the supporter's own, put first in the mail

DEFAULT_MESSAGE = "Reinstate the sacked union leaders of the Example mine."
PERSONAL_LABEL = "A line in your own words (optional)"


@pytest.mark.parametrize("url", [URL, f"{URL}/embed"])
def test_the_form_offers_the_personal_line_above_the_message_with_a_hint_why(
    client: FlaskClient, campaign: Any, url: str
) -> None:
    html = page(client.get(url))
    controls = Controls(html).controls
    names = list(controls)
    assert names.index("subject") < names.index("personal") < names.index("message")
    personal = controls["personal"]
    assert f'<label for="{personal["id"]}">{PERSONAL_LABEL}</label>' in html
    hint = re.search(rf'<p class="ua-help" id="{personal["aria-describedby"]}">(.*?)</p>', html)
    assert hint, "the hint is tied to the field"
    assert "above the message" in hint.group(1)
    assert "more weight" in hint.group(1) and "bulk mail" in hint.group(1)
    assert "aria-invalid" not in personal
    assert re.search(r'<textarea[^>]*name="personal"[^>]*>\s*</textarea>', html)


def test_the_personal_line_is_stored_and_reaches_the_targets_above_the_message(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    response = post(client, personal="My brother is one of the five.", message=DEFAULT_MESSAGE)
    assert response.status_code == 303
    (action,) = stored(app)
    assert (action["personal"], bool(action["edited"])) == ("My brother is one of the five.", False)
    for mail in mailbox.messages:
        body = mail.get_body(("plain",))
        assert body is not None
        text = str(body.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]
        assert text.startswith(
            f"My brother is one of the five.\n\n{DEFAULT_MESSAGE}\n\n--\nAna Kovač\n"
        )


def test_line_breaks_and_tabs_in_the_personal_line_become_single_spaces(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    typed = "  My brother is one of the five. \r\n\r\nHe has two children.\n\tThey wait.\r\n"
    assert post(client, personal=typed).status_code == 303
    assert stored(app)[0]["personal"] == (
        "My brother is one of the five. He has two children. They wait."
    )


def test_a_personal_line_over_500_characters_is_refused_and_kept_for_correction(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    html = assert_refused(
        app, mailbox, post(client, personal="P" * 501), "personal",
        "Please use at most 500 characters.",
    )  # fmt: skip
    assert f'<a href="#personal">{PERSONAL_LABEL}</a>: Please use at most 500' in html
    assert "P" * 501 + "</textarea>" in html


def test_the_limit_counts_the_personal_line_after_its_line_breaks_are_joined(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    # 503 characters as typed, 500 once the line breaks are one space.
    assert post(client, personal="P" * 250 + "\r\n\r\n" + "Q" * 249).status_code == 303
    assert stored(app)[0]["personal"] == "P" * 250 + " " + "Q" * 249


@pytest.mark.parametrize("value", ["Hello\x00", "Bell\x07", "Bytes \ufffd", "Sep\u2028arator"])
def test_control_and_unusable_characters_in_the_personal_line_are_refused(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox, value: str
) -> None:
    assert_refused(app, mailbox, post(client, personal=value), "personal", NOT_ALLOWED)


@pytest.mark.parametrize(
    ("message", "edited"),
    [
        (DEFAULT_MESSAGE, False),
        # What a textarea may add: CRLF line ends, spaces at either end.
        (f"  {DEFAULT_MESSAGE}  \r\n\r\n", False),
        (DEFAULT_MESSAGE.replace(" of ", " of\r\n"), False),
        (DEFAULT_MESSAGE.replace("sacked", "fired"), True),
        (f"{DEFAULT_MESSAGE}\r\nMy brother is one of them.", True),
    ],
)
def test_the_action_records_whether_the_message_was_changed(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox, message: str, edited: bool
) -> None:
    assert post(client, message=message).status_code == 303
    assert bool(stored(app)[0]["edited"]) is edited
