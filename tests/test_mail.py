"""Mail to the targets, read as it arrived at a real SMTP server."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from flask_urgentaction import clock, mail, outbox
from flask_urgentaction.campaigns import load_files
from flask_urgentaction.countries import country_name
from flask_urgentaction.models import Action, OutboxMessage, Subscriber
from flask_urgentaction.storage import get_session, get_storage

from .conftest import SAMPLE, Mailbox, action_body, form_data, named_address

TARGETS = ["ceo@mining.example", "minister@labour.example"]
SENDER = "actions@network.example"
ACTIONS_URL = "/actions/api/campaigns/example-mine-strike/actions"


def outbox_rows() -> list[OutboxMessage]:
    # A fresh session: the request's session may hold stale copies.
    with get_storage().sessions() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def action_count() -> int:
    with get_storage().sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Action)) or 0)


def by_target(mailbox: Mailbox) -> dict[str, EmailMessage]:
    """One message per target, each in an envelope of its own with that target alone."""
    found: dict[str, EmailMessage] = {}
    for rcpt, message in mailbox.received:
        (address,) = rcpt
        assert address not in found, f"two messages to {address}"
        assert [a.addr_spec for a in message["To"].addresses] == [address]
        found[address] = message
    assert sorted(found) == TARGETS
    return found


def only_message(mailbox: Mailbox) -> EmailMessage:
    """The mail to the first target (every target gets the same text)."""
    return by_target(mailbox)[TARGETS[0]]


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())  # type: ignore[attr-defined]


def test_one_mail_per_target_each_in_its_own_envelope_from_the_configured_sender(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    data = form_data(client, subject="Give the jobs back", message="Reinstate all five.")
    assert client.post("/actions/example-mine-strike", data=data).status_code == 303

    messages = by_target(mailbox)
    rows = outbox_rows()
    assert [(r.kind, r.recipient, r.status) for r in rows] == [
        ("target", address, "sent") for address in TARGETS
    ]
    assert [r.recipient_name for r in rows] == ["Example Mining Company", "Ministry of Labour"]
    assert len({r.message_id for r in rows}) == 2
    for row in rows:
        message = messages[row.recipient]
        assert str(message["Message-ID"]) == row.message_id
        (to,) = message["To"].addresses
        assert to.display_name == row.recipient_name
        assert named_address(message, "From") == ("Ana Kovač via Example Network", SENDER)
        assert named_address(message, "Reply-To") == ("Ana Kovač", "ana@example.org")
        assert str(message["Subject"]) == "Give the jobs back"
        assert row.last_reply.startswith("250") and row.last_error == ""
    # The public count is per action, not per message.
    assert action_count() == 1


def test_second_supporter_gets_a_message_of_their_own_and_a_repeat_gets_none(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    assert client.post(ACTIONS_URL, json=action_body(client)).status_code == 201
    other = action_body(client, name="Lejla", email="lejla@example.org")
    assert client.post(ACTIONS_URL, json=other).status_code == 201
    again = action_body(client, email="ANA@example.org")
    assert client.post(ACTIONS_URL, json=again).status_code == 409

    assert len(mailbox.messages) == 4
    for target in TARGETS:
        assert [str(m["Reply-To"].addresses[0].addr_spec) for m in mailbox.to(target)] == [
            "ana@example.org",
            "lejla@example.org",
        ]
    assert len({str(m["Message-ID"]) for m in mailbox.messages}) == 4


def test_text_body_carries_message_name_union_and_country_name(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    body = action_body(client, message="Stop the lockout at shaft 3.", union="SSM Tuzla")
    assert client.post(ACTIONS_URL, json=body).status_code == 201

    text, _html = parts(only_message(mailbox))
    assert "Stop the lockout at shaft 3." in text
    assert "Ana Kovač" in text
    assert "SSM Tuzla" in text
    assert country_name("BA", "en") in text
    assert "Bosnia" in text
    assert "\nBA\n" not in text


def test_html_part_escapes_html_typed_by_the_supporter(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    body = action_body(
        client,
        name="Ana <b>Kovač</b>",
        union="<i>SSM</i>",
        message='<script>alert("x")</script> & <a href="https://evil.example">click</a>',
    )
    assert client.post(ACTIONS_URL, json=body).status_code == 201

    text, html = parts(only_message(mailbox))
    assert "&lt;script&gt;" in html
    assert "<script>" not in html
    assert '<a href="https://evil.example">' not in html
    assert "&lt;b&gt;Kovač&lt;/b&gt;" in html
    assert "&lt;i&gt;SSM&lt;/i&gt;" in html
    # The plain text part is plain text: shown as typed, nothing to escape.
    assert '<script>alert("x")</script>' in text


@pytest.mark.parametrize(
    "app_config", [{"URGENTACTION_SENDER": "Solidarity Desk <desk@solidarity.example>"}]
)
def test_urgentaction_sender_overrides_mail_default_sender(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    assert client.post(ACTIONS_URL, json=action_body(client)).status_code == 201

    assert named_address(only_message(mailbox), "From") == (
        "Ana Kovač via Solidarity Desk",
        "desk@solidarity.example",
    )
    assert all(row.message_id.endswith("@solidarity.example>") for row in outbox_rows())


@pytest.mark.parametrize(
    "name",
    [
        "Ana <ana@example.org>",
        "ana@example.org",
        "Kovač, Ana",
        'Ana "the welder" Kovač',
        "Ana (SSM) Kovač",
        "Bcc: x@evil.example",
    ],
)
def test_from_address_is_always_the_sender_whatever_the_supporter_calls_themselves(
    client: FlaskClient, campaign: Any, mailbox: Mailbox, name: str
) -> None:
    assert client.post(ACTIONS_URL, json=action_body(client, name=name)).status_code == 201

    for message in by_target(mailbox).values():
        assert named_address(message, "From") == (f"{name} via Example Network", SENDER)
        assert named_address(message, "Reply-To") == (name, "ana@example.org")


@pytest.mark.parametrize("field", ["name", "subject"])
@pytest.mark.parametrize("char", ["\r\n", "\n", "\r", "\0"])
def test_form_refuses_line_breaks_and_nul_in_header_fields(
    client: FlaskClient, campaign: Any, mailbox: Mailbox, field: str, char: str
) -> None:
    value = f"Ana{char}Bcc: x@evil.example"
    response = client.post(ACTIONS_URL, json=action_body(client, **{field: value}))
    assert response.status_code == 422
    assert field in response.get_json()["errors"]

    page = client.post("/actions/example-mine-strike", data=form_data(client, **{field: value}))
    assert page.status_code == 422
    assert action_count() == 0
    assert outbox_rows() == []
    assert mailbox.messages == []


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\r\nBcc: x@evil.example", "a\0b"])
def test_header_safe_raises_header_injection_on_cr_lf_nul(value: str) -> None:
    with pytest.raises(mail.HeaderInjection):
        mail.header_safe(value)


def test_header_safe_passes_one_line_values_unchanged() -> None:
    assert mail.header_safe("Ana Kovač, SSM: Bcc <x>") == "Ana Kovač, SSM: Bcc <x>"


def test_bcc_typed_into_every_field_adds_no_header_and_no_recipient(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    evil = "Bcc: x@evil.example"
    body = action_body(
        client,
        name=evil,
        subject=evil,
        message=f"{evil}\r\nCc: y@evil.example\n\nTo: z@evil.example",
    )
    assert client.post(ACTIONS_URL, json=body).status_code == 201

    message = only_message(mailbox)
    assert {key.lower() for key in message} == {
        "content-type", "mime-version", "subject", "from", "to", "date", "message-id",
        "reply-to",
    }  # fmt: skip
    assert message["Bcc"] is None and message["Cc"] is None
    assert str(message["Subject"]) == evil
    assert message["From"].addresses[0].addr_spec == SENDER
    text, _html = parts(message)
    assert "Cc: y@evil.example" in text


def test_target_mail_is_rendered_in_the_message_language_of_the_action(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    body = action_body(client, lang="de", country="DE", subject=None, message=None)
    del body["subject"], body["message"]
    assert client.post(ACTIONS_URL, json=body).status_code == 201

    message = only_message(mailbox)
    assert str(message["Subject"]) == "Stellt die Gewerkschafter wieder ein"
    text, html = parts(message)
    assert "Stellt die entlassenen Gewerkschafter wieder ein." in text
    assert country_name("DE", "de") == "Deutschland"
    assert "Deutschland" in text
    assert 'lang="de"' in html


@pytest.mark.parametrize("message", ["я" * 551, "x" * 5000, "مرحبا" * 600 + "\n\n" + "中" * 1000])
def test_long_paragraphs_reach_every_target_with_no_line_over_998_octets(
    client: FlaskClient, campaign: Any, mailbox: Mailbox, message: str
) -> None:
    # A server enforcing RFC 5321's line limit (aiosmtpd does) refused these before.
    assert client.post(ACTIONS_URL, json=action_body(client, message=message)).status_code == 201

    assert [row.status for row in outbox_rows()] == ["sent", "sent"]
    for received in by_target(mailbox).values():
        text, html = parts(received)
        assert text.startswith(message + "\n\n--\nAna Kovač\n")
        assert message in html
    for raw in mailbox.raw:
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_the_personal_line_comes_first_then_the_message_then_the_supporter(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    body = action_body(client, personal="My father dug coal at Kreka <for> 30 years & more.",
                       message="Reinstate them.\n\nAll five.", union="SSM Tuzla")  # fmt: skip
    assert client.post(ACTIONS_URL, json=body).status_code == 201

    for received in by_target(mailbox).values():
        text, html = parts(received)
        assert text.startswith(
            "My father dug coal at Kreka <for> 30 years & more.\n\n"
            "Reinstate them.\n\nAll five.\n\n--\nAna Kovač\nSSM Tuzla\n"
        )
        personal = html.index("<p>My father dug coal at Kreka &lt;for&gt; 30 years &amp; more.</p>")
        assert personal < html.index("Reinstate them.") < html.index("Ana Kovač")


def test_without_a_personal_line_the_mail_starts_with_the_message(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    body = action_body(client, personal="  \r\n ", message="Reinstate them.")
    assert client.post(ACTIONS_URL, json=body).status_code == 201
    text, html = parts(only_message(mailbox))
    assert text.startswith("Reinstate them.\n\n--\nAna Kovač\n")
    assert "<p>" not in html.split('<div style="white-space: pre-wrap">')[0]


# The sample campaign in Persian too: the language of every mail in the tests below.
PERSIAN = """
[translations.fa]
title = "رهبران سندیکایی اخراج‌شده را به کار بازگردانید"
summary = "معدنچیان به خاطر تأسیس سندیکا اخراج شدند."
subject = "رهبران سندیکا را همین حالا به کار بازگردانید"
message = "از شما می‌خواهم رهبران سندیکایی اخراج‌شده معدن را فوراً به کار بازگردانید."
"""
HTML_TAG = re.compile(r"<html[^>]*>")


def load_campaign(tmp_path: Path, text: str) -> None:
    path = tmp_path / "campaign.toml"
    path.write_text(text, encoding="utf-8")
    load_files(get_session(), [path])


def html_tag(message: EmailMessage) -> str:
    _text, html = parts(message)
    found = HTML_TAG.search(html)
    assert found is not None, html
    return found.group()


def test_target_mail_in_persian_is_marked_right_to_left_and_english_left_to_right(
    app: Flask, client: FlaskClient, mailbox: Mailbox, tmp_path: Path
) -> None:
    load_campaign(tmp_path, SAMPLE + PERSIAN)
    body = action_body(client, lang="fa", subject=None, message=None)
    del body["subject"], body["message"]
    assert client.post(ACTIONS_URL, json=body).status_code == 201
    english = action_body(client, email="bo@example.org")
    assert client.post(ACTIONS_URL, json=english).status_code == 201

    persian, latin = mailbox.to(TARGETS[0])
    assert str(persian["Subject"]) == "رهبران سندیکا را همین حالا به کار بازگردانید"
    assert html_tag(persian) == '<html lang="fa" dir="rtl">'
    assert html_tag(latin) == '<html lang="en" dir="ltr">'


def test_digest_confirmation_and_alert_in_persian_are_marked_right_to_left(
    app: Flask, client: FlaskClient, mailbox: Mailbox, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # Digested, and written to the targets in Persian whatever the supporter's language.
    digested = SAMPLE.replace(
        "[translations.en]", '[delivery]\nmode = "digest"\n\n[translations.en]'
    )
    load_campaign(tmp_path, 'message_lang = "fa"\n' + digested + PERSIAN)
    start = datetime(2026, 6, 1, 9, tzinfo=UTC)
    monkeypatch.setattr(clock, "now", lambda: start)
    body = action_body(client, lang="fa", opt_in=True, subject=None, message=None)
    del body["subject"], body["message"]
    assert client.post(ACTIONS_URL, json=body).status_code == 201

    # The opt-in confirmation goes at once, in the supporter's language.
    (confirm,) = mailbox.to("ana@example.org")
    assert html_tag(confirm) == '<html lang="fa" dir="rtl">'
    # The digest an hour later.
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(hours=1))
    outbox.drain()
    (digest,) = mailbox.to(TARGETS[0])
    assert str(digest["Subject"]).startswith("رهبران سندیکا")
    assert html_tag(digest) == '<html lang="fa" dir="rtl">'

    # The alert of a new campaign to the confirmed Persian subscriber.
    session = get_session()
    subscriber = session.scalars(select(Subscriber)).one()
    subscriber.status = "confirmed"
    session.commit()
    result = app.test_cli_runner().invoke(args=["urgentaction", "alert", "example-mine-strike"])
    assert result.exit_code == 0, result.output
    confirm_again, alert = mailbox.to("ana@example.org")
    assert confirm_again is confirm
    assert "رهبران سندیکایی اخراج‌شده را به کار بازگردانید" in str(alert["Subject"])
    assert html_tag(alert) == '<html lang="fa" dir="rtl">'
