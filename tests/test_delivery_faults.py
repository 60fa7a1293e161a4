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
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, syntax
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

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


class FaultyServer(SMTP):
    """aiosmtpd's server, with the DATA command's own faults."""

    event_handler: FaultyMailbox

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        box = self.event_handler
        box.commands.append("DATA")
        if box.data_command_reply is not None:
            await self.push(box.data_command_reply)
            return
        assert self.envelope is not None
        if self.envelope.rcpt_tos or not box.data_without_recipient:
            await super().smtp_DATA(arg)
            return
        # As a server may that checks recipients only once it has the message.
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        lines = []
        while (line := await self._reader.readuntil(b"\r\n")) != b".\r\n":
            lines.append(line)
        box.unaddressed.append(b"".join(lines))
        await self.push("554 5.5.1 Error: no valid recipients")


class FaultyController(Controller):
    def factory(self) -> SMTP:
        return FaultyServer(self.handler, **self.SMTP_kwargs)


class FaultyMailbox(Mailbox):
    """The shared test server, with faults made by its handler.

    ``pipelining``: it offers PIPELINING (RFC 2920), as Postfix does; aiosmtpd reads
    pipelined commands in turn, it just does not offer them by itself.
    """

    def __init__(self, pipelining: bool = False) -> None:
        super().__init__()
        self.pipelining = pipelining
        # Each command as the server took it: EHLO, MAIL, RCPT, DATA, RSET.
        self.commands: list[str] = []
        # How many MAIL FROM came in one write with the RCPT TO and DATA after them.
        self.pipelined = 0
        self.refuse_mail: str | None = None  # reply to every MAIL FROM
        # Take the recipient and DATA after refusing MAIL FROM, as no server should.
        self.keep_refused_sender = False
        self.hang_up_at_rcpt = False  # close the line on RCPT TO, without a reply
        self.refuse: dict[str, str] = {}  # address -> reply to its RCPT TO
        self.data_command_reply: str | None = None  # reply to the DATA command itself
        # Answer DATA with 354 even when no recipient was accepted, and keep what came.
        self.data_without_recipient = False
        self.unaddressed: list[bytes] = []
        # Called as the n-th MAIL FROM is taken, before the server answers: (n, call).
        self.on_mail: tuple[int, Callable[[], None]] | None = None
        self.data_replies: list[str] = []  # replies to the next DATA commands
        self.drop_after_data = 0  # messages to keep, then hang up without a reply
        self.delay = 0.0  # seconds before each reply to DATA
        self.hold_rcpt = 0  # hold the n-th RCPT TO until `released` is set
        self.rcpts = 0
        self.held = threading.Event()
        self.released = threading.Event()
        # Called as the n-th message is taken, before the server says so: (n, call).
        self.on_data: tuple[int, Callable[[], None]] | None = None
        # Called with every message's content as it is taken, before the server says so.
        self.on_each_data: Callable[[bytes], None] | None = None
        self.datas = 0

    def start(self) -> None:
        self.controller = FaultyController(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.commands.append("EHLO")
        session.host_name = hostname
        if self.pipelining:
            return [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.commands.append("MAIL")
        mails = self.commands.count("MAIL")
        # What the client wrote after MAIL FROM, already here before it was answered.
        waiting = bytes(server._reader._buffer)
        if b"RCPT TO:" in waiting and b"DATA\r\n" in waiting:
            self.pipelined += 1
        if self.on_mail is not None and self.on_mail[0] == mails:
            self.on_mail[1]()
        if self.refuse_mail is None or self.keep_refused_sender:
            envelope.mail_from = address
        return self.refuse_mail or "250 OK"

    async def handle_RSET(self, server: Any, session: Any, envelope: Any) -> str:
        self.commands.append("RSET")
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.commands.append("RCPT")
        self.rcpts += 1
        if self.hang_up_at_rcpt:
            server.transport.close()
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
        if self.on_each_data is not None:
            self.on_each_data(envelope.original_content)
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
def pipelining() -> bool:
    """Whether the server offers PIPELINING; parametrize a test to change it."""
    return False


LOCKSTEP_AND_PIPELINED = pytest.mark.parametrize(
    "pipelining", [False, True], ids=["lockstep", "pipelined"]
)


@pytest.fixture
def server(pipelining: bool) -> Iterator[FaultyMailbox]:
    box = FaultyMailbox(pipelining)
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


@LOCKSTEP_AND_PIPELINED
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


@LOCKSTEP_AND_PIPELINED
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


@LOCKSTEP_AND_PIPELINED
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


QUEUED = {"URGENTACTION_DELIVERY": "worker"}  # actions only queue their mail
ENVELOPE = ["MAIL", "RCPT", "DATA"]


@pytest.mark.parametrize("app_config", [QUEUED])
@LOCKSTEP_AND_PIPELINED
def test_each_attempt_is_committed_before_its_message_goes_out(
    app: Flask, server: FaultyMailbox, database_url: str
) -> None:
    # The attempt is committed while the server answers the envelope, which
    # delivers nothing; the message itself only goes out after that commit.
    take_actions(app.test_client(), 3)
    committed: list[tuple[str, int, str]] = []

    def look(content: bytes) -> None:
        (message_id,) = re.findall(rb"^Message-ID: (\S+)\r$", content, re.MULTILINE)
        (row,) = run_sql(
            database_url, "SELECT attempts, status FROM ua_outbox WHERE message_id = ?",
            message_id.decode(),
        )  # fmt: skip
        committed.append((message_id.decode(), *row))

    server.on_each_data = look
    assert len(outbox.drain().sent) == 6
    assert committed == [(row.message_id, 1, "sending") for row in rows()]
    assert {(row.status, row.attempts) for row in rows()} == {("sent", 1)}


@pytest.mark.parametrize("app_config", [QUEUED])
@LOCKSTEP_AND_PIPELINED
def test_a_row_another_worker_took_after_the_claim_is_not_sent(
    app: Flask, server: FaultyMailbox, database_url: str, pipelining: bool
) -> None:
    take_actions(app.test_client(), 2)
    first, taken, *rest = rows()

    def take_over() -> None:
        # As if this worker's lease on it had run out and another had claimed it.
        run_sql(database_url, "UPDATE ua_outbox SET claimed_by = 'worker-b' WHERE id = ?", taken.id)

    # The drain has claimed all four rows; as the first message is taken, the second
    # row passes to another worker, before this one counts its attempt.
    server.on_data = (1, take_over)
    report = outbox.drain()

    assert report.skipped == [taken.id]
    assert report.sent == [first.id, *(row.id for row in rest)]
    assert taken.message_id not in server.message_ids()
    assert len(server.messages) == 3
    (stored,) = [row for row in rows() if row.id == taken.id]
    assert (stored.status, stored.claimed_by, stored.attempts) == ("sending", "worker-b", 0)
    if pipelining:
        # Its envelope had gone out, and DATA was accepted: the line was closed
        # rather than end that DATA, and a new one carried the rest.
        assert server.commands == ["EHLO", *ENVELOPE * 2, "EHLO", *ENVELOPE * 2]
    else:
        # Found taken while the server answered MAIL FROM: reset, same connection.
        assert server.commands == ["EHLO", *ENVELOPE, "MAIL", "RSET", *ENVELOPE * 2]


@pytest.mark.parametrize("app_config", [QUEUED])
@pytest.mark.parametrize("broken", [0, 1], ids=["first", "second"])
@LOCKSTEP_AND_PIPELINED
def test_a_message_that_cannot_be_written_fails_alone(
    app: Flask, server: FaultyMailbox, pipelining: bool, broken: int
) -> None:
    take_actions(app.test_client(), 2)
    row = rows()[broken]
    session = get_session()
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row.id)
        .values(subject="Reinstate them\r\nBcc: boss@mining.example")
    )
    session.commit()

    report = outbox.drain()
    assert report.failed == [row.id] and len(report.sent) == 3
    (stored,) = [r for r in rows() if r.id == row.id]
    assert (stored.status, stored.attempts) == ("failed", 1)
    assert "cannot be written" in stored.last_error and "CR, LF" in stored.last_error
    assert len(server.messages) == 3 and row.message_id not in server.message_ids()
    if broken:
        # Written while the message before it was answered: the server never hears of it.
        assert server.commands == ["EHLO", *ENVELOPE * 3]
    elif pipelining:
        assert server.commands == ["EHLO", *ENVELOPE, "EHLO", *ENVELOPE * 3]
    else:
        # Written while the server answered RCPT TO: reset, same connection.
        assert server.commands == ["EHLO", "MAIL", "RCPT", "RSET", *ENVELOPE * 3]


# Worker processes sharing the database.


@pytest.fixture
def workers(app: Flask, tmp_path: Path) -> Iterator[Workers]:
    running = Workers(app, tmp_path)
    yield running
    running.stop()


LEASE = {"URGENTACTION_DELIVERY": "worker", "URGENTACTION_LEASE_SECONDS": 2}


@pytest.mark.parametrize("app_config", [LEASE])
@LOCKSTEP_AND_PIPELINED
def test_worker_killed_mid_batch_and_restarted(
    app: Flask, server: FaultyMailbox, workers: Workers, report: Any
) -> None:
    take_actions(app.test_client(), 5)
    server.hold_rcpt = 3  # the worker is mid-conversation about its third message
    first = workers.start("worker")
    assert server.held.wait(20), workers.output()
    # It committed the second message's outcome with the third's attempt while the
    # server answered MAIL FROM: before RCPT TO went out, or, pipelined, with it.
    wait_for(lambda: rows()[2].attempts == 1, 5, "the third attempt committed")
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


def run_sql(database_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """``sql`` (``?`` for parameters) on a connection of its own, committed at once, as
    another program would run it: what it reads is what is committed."""
    if database_url.startswith("sqlite"):
        import sqlite3

        path = database_url.removeprefix("sqlite:///")
        connection: Any = sqlite3.connect(path, isolation_level=None)
    else:
        import psycopg

        connection = psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True)
        sql = sql.replace("?", "%s")
    try:
        cursor = connection.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description else []
    finally:
        connection.close()


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
@LOCKSTEP_AND_PIPELINED
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


@LOCKSTEP_AND_PIPELINED
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
