"""Delivery under faults, counted at a real SMTP server by Message-ID, on SQLite and PostgreSQL.

Each fault is made by the server (aiosmtpd) or by killing a real worker process:
the server down, a 4xx reply, the line dropped after DATA, one recipient refused,
a worker killed mid-batch, three workers racing, a slow server with two workers.
Expected every time: nothing lost, nothing doubled, except after a line dropped
after DATA, where the message may arrive twice, with the same Message-ID.
Each test prints its figures: messages tried, lost, doubled.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from flask_urgentaction import outbox, smtp
from flask_urgentaction.campaigns import load_files
from flask_urgentaction.models import OutboxMessage
from flask_urgentaction.storage import get_session, get_storage

from .conftest import Mailbox, action_body, make_app
from .servers import Workers

ROOT = Path(__file__).resolve().parent.parent
ACTIONS_URL = "/actions/api/campaigns/example-mine-strike/actions"
CEO, MINISTER = "ceo@mining.example", "minister@labour.example"
SENDER = "actions@network.example"


class FaultyMailbox(Mailbox):
    """The shared test server, with faults made by its handler."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse: dict[str, str] = {}  # address -> reply to its RCPT TO
        self.data_replies: list[str] = []  # replies to the next DATA commands
        self.drop_after_data = 0  # messages to keep, then hang up without a reply
        self.delay = 0.0  # seconds before each reply to DATA
        self.hold_rcpt = 0  # hold the n-th RCPT TO until `released` is set
        self.rcpts = 0
        self.held = threading.Event()
        self.released = threading.Event()
        # Called as the n-th message is taken, before the server says so: (n, call).
        self.on_data: tuple[int, Callable[[], None]] | None = None
        self.datas = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.rcpts += 1
        if self.rcpts == self.hold_rcpt:
            self.held.set()
            while not self.released.is_set():
                await asyncio.sleep(0.02)
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.datas += 1
        if self.on_data is not None and self.on_data[0] == self.datas:
            self.on_data[1]()
        if self.data_replies:
            return self.data_replies.pop(0)
        reply = await super().handle_DATA(server, session, envelope)
        if self.drop_after_data:
            # Kept, as a real server would queue it, but the client never hears so.
            self.drop_after_data -= 1
            server.transport.close()
        elif self.delay:
            await asyncio.sleep(self.delay)
        return reply

    def message_ids(self) -> list[str]:
        return [str(message["Message-ID"]) for message in self.messages]


@dataclass
class Tally:
    tried: int
    lost: int
    doubled: int


def tally(expected: list[str], received: list[str]) -> Tally:
    counts = Counter(received)
    assert set(counts) <= set(expected), "a message nobody queued"
    return Tally(
        tried=len(expected),
        lost=sum(1 for message_id in expected if counts[message_id] == 0),
        doubled=sum(counts[message_id] - 1 for message_id in expected if counts[message_id] > 1),
    )


@pytest.fixture
def report(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> Any:
    def write(figures: Tally, note: str = "") -> None:
        line = (
            f"{request.node.name}: tried {figures.tried}, lost {figures.lost}, "
            f"doubled {figures.doubled}{note}"
        )
        request.node.user_properties.append(("figures", line))
        with capsys.disabled():
            print(f"\n  {line}", end="")

    return write


@pytest.fixture
def server() -> Iterator[FaultyMailbox]:
    box = FaultyMailbox()
    box.start()
    yield box
    box.released.set()
    box.stop()


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {}


@pytest.fixture
def app(
    tmp_path: Path,
    server: FaultyMailbox,
    database_url: str,
    campaign_file: Path,
    app_config: dict[str, Any],
) -> Iterator[Flask]:
    app = make_app(
        tmp_path, server, URGENTACTION_DATABASE_URL=database_url,
        URGENTACTION_WORKER_POLL_SECONDS=0.2, **app_config,
    )  # fmt: skip
    with app.app_context():
        load_files(get_session(), [campaign_file])
        yield app
    app.extensions["urgentaction"].storage.engine.dispose()


def take_actions(client: FlaskClient, count: int) -> None:
    for number in range(count):
        body = action_body(client, name=f"Supporter {number}", email=f"s{number}@example.org")
        response = client.post(ACTIONS_URL, json=body)
        assert response.status_code == 201, response.get_json()


def rows() -> list[OutboxMessage]:
    with get_storage().sessions() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def all_sent() -> bool:
    return all(row.status == "sent" for row in rows())


# In the test's own process.


def test_server_down_then_up(
    app: Flask, server: FaultyMailbox, report: Any
) -> None:  # fmt: skip
    client = app.test_client()
    server.stop()
    take_actions(client, 3)
    assert {row.status for row in rows()} == {"queued"}

    server.start()
    assert len(outbox.drain().sent) == 6
    queued = rows()
    figures = tally([row.message_id for row in queued], server.message_ids())
    report(figures)
    assert (figures.tried, figures.lost, figures.doubled) == (6, 0, 0)
    assert {(row.status, row.last_error) for row in queued} == {("sent", "")}


def test_4xx_then_ok(app: Flask, server: FaultyMailbox, report: Any) -> None:
    client = app.test_client()
    server.data_replies = ["451 4.3.0 try again later"] * 3
    take_actions(client, 3)
    deferred = [row for row in rows() if row.status == "queued"]
    assert len(deferred) == 3
    assert all(row.last_reply == "451 4.3.0 try again later" for row in deferred)

    outbox.drain()
    final = rows()
    figures = tally([row.message_id for row in final], server.message_ids())
    report(figures)
    assert (figures.tried, figures.lost, figures.doubled) == (6, 0, 0)
    retried = [row for row in final if row.id in {d.id for d in deferred}]
    assert {(row.status, row.attempts) for row in retried} == {("sent", 2)}
    assert all(row.last_reply.startswith("250") and not row.last_error for row in final)


def test_connection_dropped_after_data(app: Flask, server: FaultyMailbox, report: Any) -> None:
    client = app.test_client()
    server.drop_after_data = 1
    take_actions(client, 3)
    (unsure,) = [row for row in rows() if row.status == "queued"]
    assert "may have been delivered" in unsure.last_error
    assert unsure.last_reply == ""

    outbox.drain()
    final = rows()
    figures = tally([row.message_id for row in final], server.message_ids())
    report(figures, " (at-least-once: the same Message-ID twice)")
    # The one case where a receiver may see a message twice: it arrived, but we
    # never heard so. The copy is the same message, by its Message-ID.
    assert (figures.tried, figures.lost, figures.doubled) == (6, 0, 1)
    counts = Counter(server.message_ids())
    assert [message_id for message_id, n in counts.items() if n > 1] == [unsure.message_id]
    assert {row.status for row in final} == {"sent"}


def test_one_recipient_refused_while_the_other_gets_it(
    app: Flask, server: FaultyMailbox, report: Any
) -> None:
    client = app.test_client()
    server.refuse[MINISTER] = "550 5.1.1 <minister@labour.example>: no such user"
    take_actions(client, 3)
    outbox.drain()

    final = rows()
    refused = [row for row in final if row.recipient == MINISTER]
    delivered = [row for row in final if row.recipient == CEO]
    assert len(refused) == len(delivered) == 3
    # Each refusal is on its own row, with the server's words, and never retried.
    for row in refused:
        assert (row.status, row.attempts) == ("failed", 1)
        assert row.last_reply == "550 5.1.1 <minister@labour.example>: no such user"
        assert "recipient <minister@labour.example> refused" in row.last_error
    assert {row.status for row in delivered} == {"sent"}
    figures = tally([row.message_id for row in delivered], server.message_ids())
    report(figures, f"; refused {len(refused)}, each failed with its reply")
    assert (figures.tried, figures.lost, figures.doubled) == (3, 0, 0)
    assert {rcpt for rcpts, _m in server.received for rcpt in rcpts} == {CEO}


# Worker processes sharing the database.


@pytest.fixture
def workers(app: Flask, tmp_path: Path) -> Iterator[Workers]:
    running = Workers(app, tmp_path)
    yield running
    running.stop()


LEASE = {"URGENTACTION_DELIVERY": "worker", "URGENTACTION_LEASE_SECONDS": 2}


@pytest.mark.parametrize("app_config", [LEASE])
def test_worker_killed_mid_batch_and_restarted(
    app: Flask, server: FaultyMailbox, workers: Workers, report: Any
) -> None:
    take_actions(app.test_client(), 5)
    server.hold_rcpt = 3  # the worker is mid-conversation about its third message
    first = workers.start("worker")
    assert server.held.wait(20), workers.output()
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    server.released.set()
    assert len(server.messages) == 2
    # Its claims stay until the lease runs out; then the next worker takes them.
    workers.start("worker")
    wait_for(all_sent, 20, f"every row sent\n{workers.output()}")

    final = rows()
    figures = tally([row.message_id for row in final], server.message_ids())
    report(figures)
    assert (figures.tried, figures.lost, figures.doubled) == (10, 0, 0)
    assert sorted(row.attempts for row in final) == [1] * 9 + [2]


class OutboxLock:
    """Another transaction holding the outbox, so a worker cannot write its outcomes."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.connection: Any = None

    def take(self) -> None:
        if self.url.startswith("sqlite"):
            import sqlite3

            path = self.url.removeprefix("sqlite:///")
            self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.connection.execute("BEGIN IMMEDIATE")
        else:
            import psycopg

            self.connection = psycopg.connect(self.url.replace("+psycopg", ""))
            self.connection.execute("SELECT id FROM ua_outbox FOR UPDATE")

    def release(self) -> None:
        if self.connection is not None:
            self.connection.rollback()
            self.connection.close()


@pytest.mark.parametrize("app_config", [LEASE])
def test_worker_killed_between_a_send_and_its_commit_resends_that_message_only(
    app: Flask, server: FaultyMailbox, workers: Workers, database_url: str, report: Any
) -> None:
    take_actions(app.test_client(), 3)
    # The server takes the third message; before it says so, the outbox is locked,
    # so the worker hears "250" but cannot write down that the message was sent.
    lock = OutboxLock(database_url)
    locked = threading.Event()

    def take_lock() -> None:
        lock.take()
        locked.set()

    server.on_data = (3, take_lock)
    try:
        first = workers.start("worker")
        assert locked.wait(20), workers.output()
        time.sleep(0.3)  # the worker reads the reply and waits on the lock
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        lock.release()
    third = server.message_ids()[2]
    assert len(server.messages) == 3
    # Its claim stays until the lease runs out; then the next worker sends what
    # is not recorded as sent: the third message again, and the rest.
    workers.start("worker")
    wait_for(all_sent, 20, f"every row sent\n{workers.output()}")

    final = rows()
    figures = tally([row.message_id for row in final], server.message_ids())
    report(figures, " (at-least-once: the same Message-ID twice)")
    assert (figures.tried, figures.lost, figures.doubled) == (6, 0, 1)
    counts = Counter(server.message_ids())
    assert [message_id for message_id, n in counts.items() if n > 1] == [third]
    # The first worker counted its attempt before it sent; the copy is the second.
    by_id = {row.message_id: row for row in final}
    assert by_id[third].attempts == 2
    assert sorted(row.attempts for row in final) == [1] * 5 + [2]


@pytest.mark.parametrize("app_config", [{"URGENTACTION_DELIVERY": "worker"}])
def test_three_workers_racing(
    app: Flask, server: FaultyMailbox, workers: Workers, report: Any
) -> None:
    take_actions(app.test_client(), 15)
    server.delay = 0.05
    racing = [workers.start("send-mail") for _ in range(3)]
    for process in racing:
        assert process.wait(timeout=30) == 0, workers.output()

    final = rows()
    figures = tally([row.message_id for row in final], server.message_ids())
    report(figures)
    assert (figures.tried, figures.lost, figures.doubled) == (30, 0, 0)
    assert {(row.status, row.attempts) for row in final} == {("sent", 1)}


@pytest.mark.parametrize(
    "app_config", [LEASE | {"URGENTACTION_LEASE_SECONDS": 3, "URGENTACTION_SMTP_TIMEOUT": 5}]
)
def test_slow_server_and_two_workers(
    app: Flask, server: FaultyMailbox, workers: Workers, report: Any
) -> None:
    # A message takes a second, so a batch outlives the lease it was claimed with:
    # the rows it has not reached yet pass to the other worker, and are sent once.
    take_actions(app.test_client(), 4)
    server.delay = 1.0
    started = time.monotonic()
    workers.start("worker")
    workers.start("worker")
    wait_for(all_sent, 25, f"every row sent\n{workers.output()}")

    final = rows()
    figures = tally([row.message_id for row in final], server.message_ids())
    report(figures, f" in {time.monotonic() - started:.1f} s")
    assert (figures.tried, figures.lost, figures.doubled) == (8, 0, 0)
    assert {row.status for row in final} == {"sent"}


# The SMTP session on its own.


@dataclass
class Settings:
    """Flask-Mail's settings for the test server."""

    port: int
    server: str = "127.0.0.1"
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    use_ssl: bool = False
    debug: int = 0
    max_emails: int | None = None
    suppress: bool = False


def test_a_send_never_outlives_its_deadline(server: FaultyMailbox) -> None:
    # The deadline is the end of the worker's lease: past it another worker may take
    # the row, so the send gives up first, and says the message may have arrived.
    server.delay = 3.0
    message = b"Message-ID: <1@network.example>\r\nSubject: x\r\n\r\nx\r\n"
    with smtp.Session(Settings(server.port), timeout=30) as session:
        started = time.monotonic()
        with pytest.raises(smtp.SendError) as refused:
            session.send(SENDER, CEO, message, deadline=started + 0.5)
        assert time.monotonic() - started < 1.5
    assert refused.value.maybe_delivered and not refused.value.permanent
    assert "may have been delivered" in str(refused.value)
