"""The outbox: every mail stored first, sent by a real SMTP round trip, retried with care."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text, update

from flask_urgentaction import outbox
from flask_urgentaction.campaigns import load_files
from flask_urgentaction.models import Action, OutboxMessage
from flask_urgentaction.signals import action_taken, mail_failed, mail_sent
from flask_urgentaction.storage import get_session, get_storage

from .conftest import SAMPLE, Mailbox, action_body, form_data, make_app, migrate

ACTIONS_URL = "/actions/api/campaigns/example-mine-strike/actions"
SECOND_TARGET = """
[[targets]]
name = "Ministry of Labour"
email = "minister@labour.example"
"""


@pytest.fixture
def campaign_file(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """The sample campaign with one target (unless a test asks for another text): one
    outbox row per action keeps these tests about retries plain. Mail to several
    targets: test_mail and test_delivery_faults."""
    assert SECOND_TARGET in SAMPLE
    path = tmp_path / "campaign.toml"
    path.write_text(getattr(request, "param", SAMPLE.replace(SECOND_TARGET, "")), encoding="utf-8")
    return path


def outbox_rows() -> list[OutboxMessage]:
    # A fresh session: the request's session may hold stale copies.
    with get_storage().sessions() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def send_mail(app: Flask) -> str:
    result = app.test_cli_runner().invoke(args=["urgentaction", "send-mail"])
    assert result.exit_code == 0, result.output
    return result.output


def take(client: FlaskClient, email: str = "ana@example.org") -> None:
    response = client.post(ACTIONS_URL, json=action_body(client, email=email))
    assert response.status_code == 201, response.get_json()


def test_action_is_kept_while_smtp_is_down_and_send_mail_delivers_it_exactly_once(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    mailbox.stop()
    page = client.post("/actions/example-mine-strike", data=form_data(client))
    assert page.status_code == 303
    take(client, "lejla@example.org")

    rows = outbox_rows()
    assert [(r.kind, r.status, r.attempts) for r in rows] == [("target", "queued", 1)] * 2
    assert all(r.last_error and r.claimed_by is None for r in rows)

    mailbox.start()
    assert send_mail(app).startswith("sent 2,")
    assert len(mailbox.messages) == 2
    assert {str(m["Message-ID"]) for m in mailbox.messages} == {r.message_id for r in rows}
    assert [r.status for r in outbox_rows()] == ["sent", "sent"]

    assert send_mail(app).startswith("sent 0,")
    assert len(mailbox.messages) == 2


@pytest.mark.parametrize(
    "app_config",
    [{"URGENTACTION_RETRY_BASE_SECONDS": 100, "URGENTACTION_RETRY_MAX_SECONDS": 10_000}],
)
def test_temporary_4xx_reply_keeps_the_row_queued_with_a_jittered_backoff(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    mailbox.reply = "451 4.3.0 try later"
    before = datetime.now(UTC)
    take(client)
    after = datetime.now(UTC)

    (row,) = outbox_rows()
    assert row.status == "queued"
    assert row.attempts == 1
    assert "451" in row.last_error and "try later" in row.last_error
    assert row.claimed_by is None and row.claimed_until is None
    # base 100 s for the first retry, jittered by a factor between 0.5 and 1.5
    assert before + timedelta(seconds=50) <= row.next_attempt_at
    assert row.next_attempt_at <= after + timedelta(seconds=150)

    # Not due yet: the server may have recovered, but nothing is sent early.
    mailbox.reply = None
    assert send_mail(app).startswith("sent 0,")
    assert mailbox.messages == []


@pytest.mark.parametrize(
    "app_config",
    [{"URGENTACTION_RETRY_BASE_SECONDS": 10, "URGENTACTION_RETRY_MAX_SECONDS": 100}],
)
def test_backoff_doubles_per_attempt_with_jitter_and_stops_growing_at_the_cap(
    app: Flask,
) -> None:
    for attempts, delay in [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (12, 100)]:
        samples = [outbox.backoff(attempts).total_seconds() for _ in range(200)]
        assert all(0.5 * delay <= s <= 1.5 * delay for s in samples), (attempts, samples)
        # Jitter: retries of many rows do not all land on the same second.
        assert max(samples) - min(samples) > 0.3 * delay


def test_permanent_5xx_reply_fails_the_row_and_it_is_never_retried(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    mailbox.reply = "554 5.7.1 relay refused"
    take(client)

    (row,) = outbox_rows()
    assert row.status == "failed"
    assert row.attempts == 1
    assert "554" in row.last_error and "relay refused" in row.last_error

    mailbox.reply = None
    assert send_mail(app).startswith("sent 0,")
    assert mailbox.messages == []
    assert outbox_rows()[0].attempts == 1


@pytest.mark.parametrize("app_config", [{"URGENTACTION_MAX_ATTEMPTS": 3}])
def test_row_fails_for_good_after_max_attempts(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    mailbox.reply = "451 4.3.0 try later"
    take(client)  # attempt 1, inline
    assert outbox_rows()[0].status == "queued"
    outbox.deliver()  # attempt 2
    assert [(r.status, r.attempts) for r in outbox_rows()] == [("queued", 2)]
    outbox.deliver()  # attempt 3: the last one
    (row,) = outbox_rows()
    assert (row.status, row.attempts) == ("failed", 3)
    assert "451" in row.last_error

    mailbox.reply = None
    assert outbox.deliver().sent == []
    assert mailbox.messages == []


def test_retry_after_a_failed_attempt_sends_the_same_message_id(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    mailbox.reply = "451 4.3.0 try later"
    take(client)
    (row,) = outbox_rows()
    assert row.status == "queued"

    mailbox.reply = None
    assert send_mail(app).startswith("sent 1,")
    (message,) = mailbox.messages
    assert str(message["Message-ID"]) == row.message_id
    assert outbox_rows()[0].message_id == row.message_id


@pytest.mark.parametrize("app_config", [{"URGENTACTION_DELIVERY": "worker"}])
def test_claim_left_by_a_dead_worker_is_picked_up_once_it_expires(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    take(client)
    take(client, "lejla@example.org")
    expired, held = (row.id for row in outbox_rows())
    now = datetime.now(UTC)
    session = get_session()
    for row_id, until in [(expired, now - timedelta(seconds=1)), (held, now + timedelta(hours=1))]:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(status="sending", claimed_by="dead-worker", claimed_until=until)
        )
    session.commit()

    report = outbox.deliver()
    assert report.sent == [expired]
    assert len(mailbox.messages) == 1
    rows = {row.id: row for row in outbox_rows()}
    assert rows[expired].status == "sent" and rows[expired].claimed_by is None
    # A claim still running belongs to its worker: not sent a second time.
    assert rows[held].status == "sending" and rows[held].claimed_by == "dead-worker"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP server that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _addr = server.accept()
            except TimeoutError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_smtp_server_that_never_answers_times_out_and_the_row_stays_queued(
    tmp_path: Path, mailbox: Mailbox, campaign_file: Path, silent_port: int
) -> None:
    silent = make_app(
        tmp_path / "silent", mailbox, MAIL_PORT=silent_port, URGENTACTION_SMTP_TIMEOUT=0.5
    )
    with silent.app_context():
        load_files(get_session(), [campaign_file])
        client = silent.test_client()
        started = time.monotonic()
        assert client.post(ACTIONS_URL, json=action_body(client)).status_code == 201
        assert time.monotonic() - started < 3

        started = time.monotonic()
        report = outbox.deliver()
        assert time.monotonic() - started < 3
        (row,) = outbox_rows()
        assert report.retrying == [row.id]
        assert (row.status, row.attempts) == ("queued", 2)
        assert "timed out" in row.last_error
    assert mailbox.messages == []


def test_signals_carry_the_action_and_each_outbox_message(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    events: list[tuple[str, Any, dict[str, Any]]] = []

    def recorder(name: str) -> Any:
        def receive(sender: Any, **kwargs: Any) -> None:
            events.append((name, sender, kwargs))

        return receive

    on_action, on_sent, on_failed = recorder("action"), recorder("sent"), recorder("failed")
    with (
        action_taken.connected_to(on_action, app),
        mail_sent.connected_to(on_sent, app),
        mail_failed.connected_to(on_failed, app),
    ):
        body = action_body(client, opt_in=True)
        assert client.post(ACTIONS_URL, json=body).status_code == 201
        mailbox.reply = "451 4.3.0 try later"
        take(client, "lejla@example.org")
        mailbox.reply = "554 5.7.1 no"
        outbox.deliver()

    assert [(name, sender) for name, sender, _kw in events] == [
        ("action", app), ("sent", app), ("sent", app),
        ("action", app), ("failed", app), ("failed", app),
    ]  # fmt: skip
    action = events[0][2]["action"]
    assert isinstance(action, Action) and action.email == "ana@example.org" and action.id
    assert [events[i][2]["message"].kind for i in (1, 2)] == ["target", "confirm"]
    assert events[1][2]["message"].status == "sent"
    assert events[1][2]["message"].message_id == str(mailbox.messages[0]["Message-ID"])
    assert events[3][2]["action"].email == "lejla@example.org"
    retry, final = events[4][2], events[5][2]
    assert set(retry) == {"message", "error", "final"}
    assert retry["final"] is False and "451" in str(retry["error"])
    assert final["final"] is True and "554" in str(final["error"])
    assert retry["message"].id == final["message"].id
    assert final["message"].status == "failed"


@pytest.mark.parametrize("app_config", [{"URGENTACTION_DELIVERY": "worker"}])
def test_worker_delivery_sends_nothing_in_the_request_and_the_worker_sends_it(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    page = client.post("/actions/example-mine-strike", data=form_data(client))
    assert page.status_code == 303
    assert mailbox.messages == []
    assert [(r.status, r.attempts) for r in outbox_rows()] == [("queued", 0)]

    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    result = app.test_cli_runner().invoke(args=["urgentaction", "worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "sent 1," in result.output
    assert len(mailbox.messages) == 1
    assert [r.status for r in outbox_rows()] == ["sent"]
    # The worker leaves the process's signal handlers as it found them.
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == handlers


@pytest.mark.parametrize("campaign_file", [SAMPLE], indirect=True)
def test_server_that_cannot_be_reached_leaves_the_rest_of_the_batch_untried_and_waiting(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    mailbox.stop()
    take(client)  # two targets: the first attempt finds no server

    first, second = outbox_rows()
    assert (first.recipient, first.status, first.attempts) == ("ceo@mining.example", "queued", 1)
    assert "Connection refused" in first.last_error and first.last_reply == ""
    # Not tried against a server known to be down, and not due before the first.
    assert (second.status, second.attempts, second.last_error) == ("queued", 0, "")
    assert second.claimed_by is None
    assert second.next_attempt_at == first.next_attempt_at

    mailbox.start()
    assert send_mail(app).startswith("sent 2,")
    assert sorted(rcpt[0] for rcpt, _m in mailbox.received) == [
        "ceo@mining.example", "minister@labour.example",
    ]  # fmt: skip


@pytest.mark.parametrize("app_config", [{"URGENTACTION_DELIVERY": "worker"}])
def test_a_worker_sends_a_row_only_while_its_lease_on_it_holds(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    take(client)
    (row,) = outbox.claim("worker-a")
    # Worker a stalls past its lease; worker b finds the row due and claims it.
    session = get_session()
    session.execute(
        update(OutboxMessage).values(claimed_until=datetime.now(UTC) - timedelta(seconds=1))
    )
    session.commit()
    assert not outbox.renew(row, "worker-a")  # ran out, even with no one else around
    (taken,) = outbox.claim("worker-b")
    assert taken.id == row.id
    assert not outbox.renew(row, "worker-a")
    assert outbox.renew(taken, "worker-b")
    (stored,) = outbox_rows()
    assert (stored.claimed_by, stored.attempts, stored.status) == ("worker-b", 1, "sending")

    # Nothing else can claim it now, however many look.
    assert outbox.claim("worker-c") == []
    assert outbox.deliver().sent == []
    assert mailbox.messages == []


def test_message_that_cannot_be_written_fails_at_once_and_says_why(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    session = get_session()
    row = OutboxMessage(
        kind="alert",
        message_id="<1@network.example>",
        sender=["Example Network", "actions@network.example"],
        recipient_name="José",
        recipient="josé@example.org",
        subject="Urgent action",
        text_body="Read more.",
        headers={},
    )
    session.add(row)
    session.commit()

    report = outbox.deliver()
    assert report.failed == [row.id]
    (stored,) = outbox_rows()
    assert (stored.status, stored.attempts) == ("failed", 1)
    assert "cannot be written" in stored.last_error and "SMTPUTF8" in stored.last_error
    assert mailbox.messages == []


@pytest.mark.parametrize("campaign_file", [SAMPLE], indirect=True)
def test_migration_gives_each_recipient_of_an_old_row_a_row_of_its_own(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    engine = get_storage().engine
    mailbox.reply = "554 5.7.1 no"
    take(client)
    before, _other = outbox_rows()
    # Back to the schema with one row for all of an action's targets, as it was written.
    migrate(engine, "0002")
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM ua_outbox WHERE id = :id"), {"id": _other.id})
        connection.execute(
            text("UPDATE ua_outbox SET recipients = :recipients, dedupe_key = :key"),
            {
                "recipients": json.dumps([
                    ["Example Mining Company", "ceo@mining.example"],
                    ["Ministry of Labour", "minister@labour.example"],
                ]),
                "key": f"target:{before.action_id}",
            },
        )  # fmt: skip
    migrate(engine, "head")

    first, second = outbox_rows()
    assert first.id == before.id and first.message_id == before.message_id
    assert (first.recipient_name, first.recipient) == ("Example Mining Company", before.recipient)
    assert (second.recipient_name, second.recipient) == (
        "Ministry of Labour", "minister@labour.example",
    )  # fmt: skip
    assert second.message_id != first.message_id
    assert second.message_id.endswith("@network.example>")
    targets = {t.email: t.id for t in campaign.targets}
    assert [r.target_id for r in (first, second)] == [
        targets["ceo@mining.example"], targets["minister@labour.example"],
    ]  # fmt: skip
    assert [r.dedupe_key for r in (first, second)] == [
        f"target:{before.action_id}:{r.target_id}" for r in (first, second)
    ]
    # A copy keeps the original's state and text.
    assert [(r.status, r.attempts) for r in (first, second)] == [("failed", 1)] * 2
    assert (second.subject, second.text_body) == (first.subject, first.text_body)
