"""Bounces: a signed return path per message, DSNs read from a Maildir and an mbox and
posted to the webhook, and a dead address that gets no more mail until cleared.

Mail goes through the real SMTP server on loopback; the DSNs are written as Postfix
and Exim write them, around the headers of the message as that server received it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import mailbox as mailboxes
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.test import TestResponse

from flask_urgentaction import bounces
from flask_urgentaction.models import Bounce, OutboxMessage
from flask_urgentaction.storage import get_storage

from .conftest import Mailbox, action_body, make_app
from .test_openapi import assert_documented

ACTIONS_URL = "/actions/api/campaigns/example-mine-strike/actions"
WEBHOOK = "/actions/api/bounces"
CEO, MINISTER = "ceo@mining.example", "minister@labour.example"
SENDER = "actions@network.example"
RETURN_PATH = "bounces@lists.example.org"
SECRET = "webhook secret shared with the provider"
VERP = re.compile(r"bounces\+([0-9]+)-([0-9a-f]{16})@lists\.example\.org")
USER_UNKNOWN = (
    "550 5.1.1 <ceo@mining.example>: Recipient address rejected: User unknown in virtual "
    "mailbox table"
)


class EnvelopeMailbox(Mailbox):
    """The test server, also keeping each message's envelope sender (MAIL FROM)."""

    def __init__(self) -> None:
        super().__init__()
        self.senders: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.senders.append(envelope.mail_from)
        return await super().handle_DATA(server, session, envelope)

    def envelope_sender(self, message_id: str) -> str:
        (index,) = [i for i, m in enumerate(self.messages) if m["Message-ID"] == message_id]
        return self.senders[index]


@pytest.fixture
def mailbox() -> Iterator[EnvelopeMailbox]:
    box = EnvelopeMailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def app(
    tmp_path: Path, mailbox: EnvelopeMailbox, database_url: str, app_config: dict[str, Any]
) -> Iterator[Flask]:
    config = {
        "URGENTACTION_DATABASE_URL": database_url,
        "URGENTACTION_RETURN_PATH": RETURN_PATH,
        "URGENTACTION_BOUNCE_WEBHOOK_SECRET": SECRET,
        **app_config,
    }
    app = make_app(tmp_path, mailbox, **config)
    with app.app_context():
        yield app
    app.extensions["urgentaction"].storage.engine.dispose()


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["urgentaction", *args])


def take(client: FlaskClient, email: str) -> None:
    response = client.post(ACTIONS_URL, json=action_body(client, email=email))
    assert response.status_code == 201, response.get_json()


def rows(recipient: str | None = None) -> list[OutboxMessage]:
    with get_storage().sessions() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if recipient is not None:
            query = query.where(OutboxMessage.recipient == recipient)
        return list(session.scalars(query))


def listed() -> dict[str, tuple[str, str, str, int]]:
    with get_storage().sessions() as session:
        return {
            b.address: (b.status, b.diagnostic, b.source, b.count)
            for b in session.scalars(select(Bounce))
        }


def state() -> tuple[Any, ...]:
    """Everything a bounce may change, to tell that nothing did."""
    outbox = [(r.id, r.status, r.last_error, r.last_reply) for r in rows()]
    return (outbox, listed())


def report(app: Flask) -> dict[str, dict[str, Any]]:
    result = run(app, "report", "example-mine-strike", "--json")
    assert result.exit_code == 0, result.output
    return {t["address"]: t for t in json.loads(result.output)["targets"]}


# --- DSNs as MTAs write them ---------------------------------------------------------


def received_headers(box: EnvelopeMailbox, message_id: str) -> str:
    """The header section of a message as the server received it, LF line ends."""
    (raw,) = [
        r for r, m in zip(box.raw, box.messages, strict=True) if m["Message-ID"] == message_id
    ]
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii").replace("\r\n", "\n")


def received_message(box: EnvelopeMailbox, message_id: str) -> str:
    (raw,) = [
        r for r, m in zip(box.raw, box.messages, strict=True) if m["Message-ID"] == message_id
    ]
    return raw.decode("ascii").replace("\r\n", "\n")


def postfix_dsn(
    return_path: str, headers: str, recipient: str = CEO, action: str = "failed",
    status: str = "5.1.1", diagnostic: str = USER_UNKNOWN,
) -> bytes:  # fmt: skip
    """A bounce as Postfix writes it: the returned message's headers only."""
    boundary = "4Yq3F71Zx2z9kW.1772531998/mail.network.example"
    cut = diagnostic.rfind(" ", 0, 60)  # folded as Postfix folds it, at a space
    folded = diagnostic if cut < 0 else diagnostic[:cut] + "\n    " + diagnostic[cut + 1 :]
    return f"""\
Return-Path: <>
Delivered-To: {return_path}
Received: by mail.network.example (Postfix)
\tid 4Yq3F71Zx2z9kW; Tue,  3 Mar 2026 10:00:00 +0000 (UTC)
Date: Tue,  3 Mar 2026 10:00:00 +0000 (UTC)
From: MAILER-DAEMON@mail.network.example (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {return_path}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="{boundary}"
Content-Transfer-Encoding: 8bit
Message-Id: <20260303100000.4Yq3F71Zx2z9kW@mail.network.example>

This is a MIME-encapsulated message.

--{boundary}
Content-Description: Notification
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

This is the mail system at host mail.network.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

<{recipient}>: host mx.mining.example[192.0.2.25] said: {diagnostic}
    (in reply to RCPT TO command)

--{boundary}
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.network.example
X-Postfix-Queue-ID: 4Yq3F71Zx2z9kW
X-Postfix-Sender: rfc822; {return_path}
Arrival-Date: Tue,  3 Mar 2026 09:59:58 +0000 (UTC)

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; mx.mining.example
Diagnostic-Code: smtp; {folded}

--{boundary}
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers
Content-Transfer-Encoding: 8bit

{headers}

--{boundary}--
""".encode()


def exim_dsn(return_path: str, original: str, recipient: str = CEO) -> bytes:
    """A bounce as Exim writes it: the whole message returned as message/rfc822."""
    boundary = "1772531998-eximdsn-1804289383"
    return f"""\
Envelope-to: {return_path}
Delivery-date: Tue, 03 Mar 2026 10:00:01 +0000
Received: from Debian-exim by mx.network.example with local (Exim 4.96)
\tid 1vXyZa-000Abc-2Q
\tfor {return_path}; Tue, 03 Mar 2026 10:00:00 +0000
X-Failed-Recipients: {recipient}
Auto-Submitted: auto-replied
From: Mail Delivery System <Mailer-Daemon@mx.network.example>
To: {return_path}
References: <original@network.example>
Content-Type: multipart/report; report-type=delivery-status; boundary={boundary}
MIME-Version: 1.0
Subject: Mail delivery failed: returning message to sender
Message-Id: <E1vXyZa-000Abc-2Q@mx.network.example>
Date: Tue, 03 Mar 2026 10:00:00 +0000

--{boundary}
Content-type: text/plain; charset=us-ascii

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {recipient}
    host mx.mining.example [192.0.2.25]
    SMTP error from remote mail server after RCPT TO:<{recipient}>:
    550 5.1.1 User unknown

--{boundary}
Content-type: message/delivery-status

Reporting-MTA: dns; mx.network.example

Action: failed
Final-Recipient: rfc822;{recipient}
Status: 5.0.0
Remote-MTA: dns; mx.mining.example
Diagnostic-Code: smtp; 550 5.1.1 User unknown

--{boundary}
Content-type: message/rfc822

{original}
--{boundary}--
""".encode()


AUTO_REPLY = b"""\
From: Example Mining Company <ceo@mining.example>
To: bounces@lists.example.org
Subject: Out of office
Auto-Submitted: auto-replied
Content-Type: text/plain

I am out of the office until Monday.
"""


def write_maildir(path: Path, *messages: bytes) -> Path:
    box = mailboxes.Maildir(path, create=True)
    for message in messages:
        box.add(message)
    box.close()
    return path


def write_mbox(path: Path, *messages: bytes) -> Path:
    box = mailboxes.mbox(path, create=True)
    for message in messages:
        box.add(message)
    box.close()
    return path


def first_to(box: EnvelopeMailbox, address: str) -> OutboxMessage:
    row = rows(address)[0]
    assert row.status == "sent"
    assert len([m for m in box.to(address) if m["Message-ID"] == row.message_id]) == 1
    return row


def signed_post(
    client: FlaskClient, body: bytes, content_type: str, secret: str = SECRET,
    at: float | None = None, **headers: str,
) -> TestResponse:  # fmt: skip
    stamp = str(int(time.time() if at is None else at))
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers.setdefault("X-UrgentAction-Signature", f"t={stamp},v1={mac}")
    return client.post(WEBHOOK, data=body, content_type=content_type, headers=headers)


# --- the return path ------------------------------------------------------------------


def test_each_message_goes_out_with_a_return_path_of_its_own_signed_for_it(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: EnvelopeMailbox
) -> None:
    take(client, "ana@example.org")
    sent = rows()
    assert len(sent) == 2 and len(mailbox.messages) == 2
    for row in sent:
        envelope_sender = mailbox.envelope_sender(row.message_id)
        match = VERP.fullmatch(envelope_sender)
        assert match, envelope_sender
        assert int(match[1]) == row.id
        assert bounces.verified(f"{match[1]}-{match[2]}", app.config) == row.id
        local = envelope_sender.rpartition("@")[0]
        assert len(local.encode()) <= 64 and re.fullmatch(r"[a-z0-9.+-]+", local)
    # From: stays the configured sender; only the envelope changes.
    assert {m["From"].addresses[0].addr_spec for m in mailbox.messages} == {SENDER}
    # A token signed for one row does not name another, nor under another key.
    token = VERP.fullmatch(mailbox.senders[0])
    assert token
    assert bounces.verified(f"{int(token[1]) + 1}-{token[2]}", app.config) is None
    other_key = {**app.config, "SECRET_KEY": "another", "SECRET_KEY_FALLBACKS": []}
    assert bounces.verified(f"{token[1]}-{token[2]}", other_key) is None


@pytest.mark.parametrize("app_config", [{"URGENTACTION_RETURN_PATH": None}])
def test_without_a_return_path_the_envelope_sender_is_the_from_address(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: EnvelopeMailbox
) -> None:
    take(client, "ana@example.org")
    assert mailbox.senders == [SENDER, SENDER]


def test_a_token_still_verifies_after_the_secret_key_is_rotated(app: Flask) -> None:
    old = bounces.token(42, app.config)
    rotated = {**app.config, "SECRET_KEY": "new key", "SECRET_KEY_FALLBACKS": ["test secret"]}
    assert bounces.verified(old, rotated) == 42
    assert bounces.token(42, rotated) != old  # new mail is signed with the new key
    assert bounces.verified(old, {**rotated, "SECRET_KEY_FALLBACKS": []}) is None


# --- DSNs from a Maildir and an mbox ------------------------------------------------------


def test_postfix_bounce_in_a_maildir_marks_the_message_and_stops_mail_to_the_address(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: EnvelopeMailbox, tmp_path: Path
) -> None:
    take(client, "ana@example.org")
    row = first_to(mailbox, CEO)
    dsn = postfix_dsn(
        mailbox.envelope_sender(row.message_id), received_headers(mailbox, row.message_id)
    )
    maildir = write_maildir(tmp_path / "Maildir", dsn, AUTO_REPLY)

    result = run(app, "bounces", "read", str(maildir))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "read 2 messages: 1 hard bounces (1 addresses), 0 delayed, 1 not a delivery report"
    )
    (bounced,) = rows(CEO)
    assert bounced.status == "bounced"
    assert bounced.last_error == f"bounced: 5.1.1 {USER_UNKNOWN}"
    assert bounced.last_reply == "250 OK"  # what our server said stays
    assert [r.status for r in rows(MINISTER)] == ["sent"]
    assert listed() == {CEO: ("5.1.1", USER_UNKNOWN, "dsn", 1)}

    # The report and the outbox listing show it, with its reason.
    ceo = report(app)[CEO]
    assert (ceo["sent"], ceo["bounced"]) == (0, 1)
    assert ceo["last_bounce"]["outbox_id"] == row.id
    assert ceo["last_bounce"]["error"] == bounced.last_error
    assert report(app)[MINISTER]["bounced"] == 0
    lines = run(app, "report", "example-mine-strike").output.splitlines()
    assert lines[3].split()[-1] == "bounced"
    ceo_line = next(line for line in lines if line.startswith(f"Example Mining Company <{CEO}>"))
    assert [int(n) for n in ceo_line.rpartition(">")[2].split()] == [0, 0, 0, 0, 0, 1]
    assert f"    last bounce (outbox {row.id}): bounced: 5.1.1 {USER_UNKNOWN}" in lines
    failed = run(app, "outbox", "--failed").output.splitlines()
    assert len(failed) == 2
    assert failed[1].split()[:4] == [str(row.id), "target", CEO, "bounced"]
    assert failed[1].endswith(f"bounced: 5.1.1 {USER_UNKNOWN}")
    bounce_list = run(app, "bounces", "list").output.splitlines()
    assert bounce_list[0].split() == ["address", "status", "last", "count", "from", "diagnostic"]
    assert bounce_list[1].startswith(CEO) and bounce_list[1].endswith(USER_UNKNOWN)

    # Read again: the same DSN changes nothing, and counts no second bounce.
    before = state()
    assert run(app, "bounces", "read", str(maildir)).output.startswith("read 2 messages: 1 hard")
    assert state() == before

    # A later action: the CEO's copy is not sent, and says why; the minister's goes.
    received = len(mailbox.messages)
    take(client, "lejla@example.org")
    assert len(mailbox.messages) == received + 1
    assert len(mailbox.to(CEO)) == 1 and len(mailbox.to(MINISTER)) == 2
    refused = rows(CEO)[-1]
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert (refused.status, refused.attempts) == ("failed", 0)
    assert refused.last_error == f"not sent: {CEO} bounced on {today}: 5.1.1 {USER_UNKNOWN}"
    assert report(app)[CEO]["last_failure"]["error"] == refused.last_error

    # Cleared (the organiser fixed it): mail goes to it again, and the refused one can.
    cleared = run(app, "bounces", "clear", CEO.upper())
    assert cleared.exit_code == 0, cleared.output
    assert f"outbox --retry {refused.id}" in cleared.output
    assert listed() == {}
    take(client, "hans@example.de")
    assert len(mailbox.to(CEO)) == 2 and rows(CEO)[-1].status == "sent"
    assert run(app, "outbox", "--retry", str(refused.id)).exit_code == 0
    assert run(app, "send-mail").output.startswith("sent 1,")
    assert len(mailbox.to(CEO)) == 3
    # The old DSN does not put a cleared address back on the list.
    assert run(app, "bounces", "read", str(maildir)).exit_code == 0
    assert listed() == {}
    again = run(app, "bounces", "clear", CEO)
    assert again.exit_code != 0 and "not on the bounce list" in again.output


def test_exim_bounce_in_an_mbox_returning_the_whole_message_and_delete(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: EnvelopeMailbox, tmp_path: Path
) -> None:
    take(client, "ana@example.org")
    row = first_to(mailbox, CEO)
    return_path = mailbox.envelope_sender(row.message_id)
    dsn = exim_dsn(return_path, received_message(mailbox, row.message_id))
    mbox = write_mbox(tmp_path / "bounces.mbox", AUTO_REPLY, dsn)

    result = run(app, "bounces", "read", "--delete", str(mbox))
    assert result.output.strip() == (
        "read 2 messages: 1 hard bounces (1 addresses), 0 delayed, 1 not a delivery report"
    )
    (bounced,) = rows(CEO)
    assert (bounced.status, bounced.last_error) == (
        "bounced",
        "bounced: 5.0.0 550 5.1.1 User unknown",
    )
    assert listed()[CEO][:3] == ("5.0.0", "550 5.1.1 User unknown", "dsn")
    # Only the delivery report was removed; the auto-reply stays for a person to read.
    left = mailboxes.mbox(mbox)
    assert [m["Subject"] for m in left] == ["Out of office"]
    left.close()


def test_delete_in_a_maildir_removes_only_the_reports(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: EnvelopeMailbox, tmp_path: Path
) -> None:
    take(client, "ana@example.org")
    row = first_to(mailbox, CEO)
    dsn = postfix_dsn(
        mailbox.envelope_sender(row.message_id), received_headers(mailbox, row.message_id)
    )
    maildir = write_maildir(tmp_path / "Maildir", dsn, AUTO_REPLY)
    assert run(app, "bounces", "read", "--delete", str(maildir)).exit_code == 0
    left = mailboxes.Maildir(maildir, create=False)
    assert [m["Subject"] for m in left] == ["Out of office"]
    assert rows(CEO)[0].status == "bounced"


def test_a_bounce_with_a_forged_token_marks_nothing(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: EnvelopeMailbox, tmp_path: Path
) -> None:
    take(client, "ana@example.org")
    row = first_to(mailbox, CEO)
    headers = received_headers(mailbox, row.message_id)  # the real Message-ID, even
    forged_signature = f"bounces+{row.id}-{'0' * 16}@lists.example.org"
    other_key = {**app.config, "SECRET_KEY": "a guess", "SECRET_KEY_FALLBACKS": []}
    other_signature = f"bounces+{bounces.token(row.id, other_key)}@lists.example.org"
    maildir = write_maildir(
        tmp_path / "Maildir",
        postfix_dsn(forged_signature, headers),
        postfix_dsn(other_signature, headers),
    )
    before = state()
    result = run(app, "bounces", "read", str(maildir))
    assert result.output.strip() == (
        "read 2 messages: 0 hard bounces (0 addresses), 0 delayed, 0 not a delivery report, "
        "2 forged"
    )
    assert state() == before
    take(client, "lejla@example.org")
    assert len(mailbox.to(CEO)) == 2


@pytest.mark.parametrize("app_config", [{"URGENTACTION_RETURN_PATH": None}])
def test_without_a_token_the_returned_message_id_names_the_message(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: EnvelopeMailbox, tmp_path: Path
) -> None:
    take(client, "ana@example.org")
    row = first_to(mailbox, MINISTER)
    diagnostic = "550 5.2.1 <minister@labour.example>: mailbox disabled"
    dsn = postfix_dsn(
        SENDER, received_headers(mailbox, row.message_id), MINISTER, status="5.2.1",
        diagnostic=diagnostic,
    )  # fmt: skip
    result = run(app, "bounces", "read", str(write_mbox(tmp_path / "mbox", dsn)))
    assert "1 hard bounces (1 addresses)" in result.output
    assert [(r.status, r.last_error) for r in rows(MINISTER)] == [
        ("bounced", f"bounced: 5.2.1 {diagnostic}")
    ]
    assert rows(CEO)[0].status == "sent"


def test_delayed_and_temporary_failures_mark_no_address(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: EnvelopeMailbox, tmp_path: Path
) -> None:
    take(client, "ana@example.org")
    ceo, minister = first_to(mailbox, CEO), first_to(mailbox, MINISTER)
    delay = "451 4.4.7 Message delayed: connection timed out"
    delayed = postfix_dsn(
        mailbox.envelope_sender(ceo.message_id), received_headers(mailbox, ceo.message_id),
        action="delayed", status="4.4.7", diagnostic=delay,
    )  # fmt: skip
    expired = postfix_dsn(
        mailbox.envelope_sender(minister.message_id),
        received_headers(mailbox, minister.message_id),
        MINISTER, status="4.4.1", diagnostic="connect to mx.labour.example: Connection refused",
    )  # fmt: skip
    result = run(app, "bounces", "read", str(write_maildir(tmp_path / "Maildir", delayed, expired)))
    assert result.output.strip() == (
        "read 2 messages: 0 hard bounces (0 addresses), 1 delayed, 0 not a delivery report, "
        "1 failed for now (address kept)"
    )
    (ceo_row,) = rows(CEO)
    assert (ceo_row.status, ceo_row.last_error) == ("sent", f"delayed: 4.4.7 {delay}")
    # That message is lost, but the address is not known dead: mail still goes to it.
    assert rows(MINISTER)[0].status == "bounced"
    assert listed() == {}
    take(client, "lejla@example.org")
    assert (len(mailbox.to(CEO)), len(mailbox.to(MINISTER))) == (2, 2)


def test_a_mailed_bounce_that_names_no_message_of_ours_lists_nothing(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: EnvelopeMailbox, tmp_path: Path
) -> None:
    # Anyone can mail the return path; a target's employer could so try to take its
    # own address off the campaign. Only a DSN naming one of our messages counts.
    take(client, "ana@example.org")
    no_headers = "X-Note: the returned message was not kept"
    known = postfix_dsn(RETURN_PATH, no_headers, MINISTER)
    stranger = postfix_dsn(RETURN_PATH, no_headers, "someone@else.example")
    result = run(app, "bounces", "read", str(write_maildir(tmp_path / "M", known, stranger)))
    assert "0 hard bounces (0 addresses)" in result.output
    assert "2 about mail not sent from here" in result.output
    assert listed() == {}
    assert [r.status for r in rows()] == ["sent", "sent"]
    # The signed webhook may report an address alone, if mail went to it.
    event = {"recipient": MINISTER, "action": "failed", "status": "5.1.1", "diagnostic": "gone"}
    body = json.dumps({"events": [event]}).encode()
    answer = signed_post(client, body, "application/json").get_json()
    assert answer == {"recorded": 1, "ignored": 0}
    assert set(listed()) == {MINISTER}


def test_a_path_that_is_no_mailbox_is_refused(app: Flask, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run(app, "bounces", "read", str(tmp_path / "empty"))
    assert result.exit_code != 0 and "not a Maildir or an mbox file" in result.output


# --- the webhook ------------------------------------------------------------------------


def test_webhook_takes_a_signed_raw_dsn(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: EnvelopeMailbox
) -> None:
    take(client, "ana@example.org")
    row = first_to(mailbox, CEO)
    dsn = postfix_dsn(
        mailbox.envelope_sender(row.message_id), received_headers(mailbox, row.message_id)
    )
    response = signed_post(client, dsn, "message/rfc822", Origin="https://union.example")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"recorded": 1, "ignored": 0}
    assert "Access-Control-Allow-Origin" not in response.headers
    assert rows(CEO)[0].status == "bounced"
    assert listed() == {CEO: ("5.1.1", USER_UNKNOWN, "webhook", 1)}
    # The same call again (a provider's retry) changes nothing.
    before = state()
    assert signed_post(client, dsn, "message/rfc822").get_json() == {"recorded": 1, "ignored": 0}
    assert state() == before


def test_webhook_takes_signed_json_events(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: EnvelopeMailbox
) -> None:
    take(client, "ana@example.org")
    ceo, minister = first_to(mailbox, CEO), first_to(mailbox, MINISTER)
    events = {
        "events": [
            {"recipient": CEO, "action": "failed", "status": "5.1.1",
             "diagnostic": "550 5.1.1 no such user",
             "return_path": mailbox.envelope_sender(ceo.message_id)},
            {"recipient": MINISTER, "action": "delayed", "status": "4.2.2",
             "diagnostic": "452 4.2.2 mailbox full", "message_id": minister.message_id},
            {"recipient": "nobody@else.example", "action": "failed", "status": "5.1.1"},
            {"recipient": MINISTER, "action": "delivered", "status": "2.0.0"},
        ]
    }  # fmt: skip
    body = json.dumps(events).encode()
    response = signed_post(client, body, "application/json")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"recorded": 2, "ignored": 2}
    assert (rows(CEO)[0].status, rows(CEO)[0].last_error) == (
        "bounced",
        "bounced: 5.1.1 550 5.1.1 no such user",
    )
    assert (rows(MINISTER)[0].status, rows(MINISTER)[0].last_error) == (
        "sent",
        "delayed: 4.2.2 452 4.2.2 mailbox full",
    )
    assert listed() == {CEO: ("5.1.1", "550 5.1.1 no such user", "webhook", 1)}


def test_webhook_refuses_forged_stale_and_unsigned_calls_and_changes_nothing(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: EnvelopeMailbox
) -> None:
    take(client, "ana@example.org")
    row = first_to(mailbox, CEO)
    dsn = postfix_dsn(
        mailbox.envelope_sender(row.message_id), received_headers(mailbox, row.message_id)
    )
    now = time.time()
    good = signed_post(client, b"x", "message/rfc822").request.headers["X-UrgentAction-Signature"]
    before = state()
    refused = [
        signed_post(client, dsn, "message/rfc822", secret="not the secret"),
        signed_post(client, dsn, "message/rfc822", at=now - 301),
        signed_post(client, dsn, "message/rfc822", at=now + 301),
        client.post(WEBHOOK, data=dsn, content_type="message/rfc822"),
        # A valid signature of another body.
        client.post(
            WEBHOOK,
            data=dsn,
            content_type="message/rfc822",
            headers={"X-UrgentAction-Signature": good},
        ),
        signed_post(client, dsn, "message/rfc822", **{"X-UrgentAction-Signature": "t=1,v1=00"}),
    ]
    for response in refused:
        assert response.status_code == 401
        assert "error" in response.get_json()
    assert state() == before
    document = client.get("/actions/api/openapi.json").get_json()
    assert_documented(document, "/bounces", "post", refused[0])
    # Within the window it is taken, even a few seconds early or late.
    assert signed_post(client, dsn, "message/rfc822", at=now - 290).status_code == 200
    assert state() != before


def test_webhook_answers_are_documented_and_other_bodies_get_400(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: EnvelopeMailbox
) -> None:
    take(client, "ana@example.org")
    document = client.get("/actions/api/openapi.json").get_json()
    before = state()
    for body, kind in [
        (b"hello", "text/plain"),
        (b"[1, 2]", "application/json"),
        (b'{"events": [{"recipient": 5}]}', "application/json"),
        (b"{not json", "application/json"),
        (AUTO_REPLY, "message/rfc822"),
    ]:
        response = signed_post(client, body, kind)
        assert response.status_code == 400, body
        assert_documented(document, "/bounces", "post", response)
    assert state() == before
    ok = signed_post(client, b'{"events": []}', "application/json")
    assert ok.get_json() == {"recorded": 0, "ignored": 0}
    assert_documented(document, "/bounces", "post", ok)
    big = signed_post(
        client, b"x" * (app.config["URGENTACTION_MAX_BODY_BYTES"] + 1), "message/rfc822"
    )
    assert big.status_code == 413


def test_webhook_takes_a_bare_report_body_and_delivery_status_fields(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: EnvelopeMailbox
) -> None:
    take(client, "ana@example.org")
    ceo = first_to(mailbox, CEO)
    first_to(mailbox, MINISTER)
    dsn = postfix_dsn(
        mailbox.envelope_sender(ceo.message_id), received_headers(mailbox, ceo.message_id)
    )
    # Some providers post the multipart body alone, its boundary in Content-Type.
    head, _blank, body = dsn.partition(b"\n\n")
    boundary = re.search(rb'boundary="([^"]+)"', head)
    assert boundary
    kind = f'multipart/report; report-type=delivery-status; boundary="{boundary[1].decode()}"'
    assert signed_post(client, body, kind).get_json() == {"recorded": 1, "ignored": 0}
    assert rows(CEO)[0].status == "bounced"
    fields = f"""Reporting-MTA: dns; mx.example

Final-Recipient: rfc822; {MINISTER}
Action: failed
Status: 5.7.1
Diagnostic-Code: smtp; 550 5.7.1 rejected by policy
""".encode()
    response = signed_post(client, fields, "message/delivery-status")
    assert response.get_json() == {"recorded": 1, "ignored": 0}
    # No row is named (no token, no Message-ID), but mail went to the address.
    assert rows(MINISTER)[0].status == "sent"
    assert listed()[MINISTER][:2] == ("5.7.1", "550 5.7.1 rejected by policy")


@pytest.mark.parametrize("app_config", [{"URGENTACTION_BOUNCE_WEBHOOK_SECRET": None}])
def test_webhook_is_off_without_a_secret(app: Flask, client: FlaskClient) -> None:
    response = signed_post(client, b'{"events": []}', "application/json")
    assert response.status_code == 404
    assert listed() == {}


# --- any bytes ----------------------------------------------------------------------------

SAMPLE_DSN = postfix_dsn(
    "bounces+12-0123456789abcdef@lists.example.org",
    "Message-ID: <1.2.3@network.example>\nFrom: a@network.example",
)


def test_the_sample_dsn_parses_as_one_hard_bounce() -> None:
    (found,) = bounces.parse(SAMPLE_DSN)
    assert found == bounces.Report(
        "failed", "5.1.1", CEO, USER_UNKNOWN, "<1.2.3@network.example>",
        ("12-0123456789abcdef",),
    )  # fmt: skip
    assert found.hard
    assert bounces.parse(AUTO_REPLY) == []


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_garbage_never_raises(data: bytes) -> None:
    found = bounces.parse(data)
    assert isinstance(found, list)
    assert all(isinstance(r, bounces.Report) for r in found)
    assert bounces.parse_status(data) is not None


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_damaged_dsn_never_raises(data: st.DataObject) -> None:
    """A real DSN cut, spliced and with bytes changed, as a broken MTA might send it."""
    raw = bytearray(SAMPLE_DSN)
    for _ in range(data.draw(st.integers(0, 8))):
        where = data.draw(st.integers(0, len(raw) - 1))
        raw[where : where + data.draw(st.integers(0, 40))] = data.draw(st.binary(max_size=40))
    found = bounces.parse(bytes(raw))
    assert all(isinstance(r.recipient, str) and isinstance(r.status, str) for r in found)
    kind = data.draw(st.sampled_from(["message/rfc822", "multipart/report; boundary=x",
                                      "message/delivery-status", "application/json"]))  # fmt: skip
    posted = bounces.posted(kind, bytes(raw))
    assert posted is None or all(isinstance(r, bounces.Report) for r in posted)


@given(st.text(max_size=200), st.binary(max_size=200))
def test_any_signature_header_is_refused_without_raising(header: str, body: bytes) -> None:
    assert bounces.signature_ok(header, body, SECRET, time.time()) is False
