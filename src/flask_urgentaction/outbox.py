"""Delivering the outbox: claim due rows, send each one only while it is ours, record the reply.

A worker claims a batch of due rows under one lease: on PostgreSQL with ``FOR
UPDATE SKIP LOCKED``, so workers take different rows instead of queueing behind
each other; on both backends with a compare-and-set UPDATE that only takes rows
still due. It sends the batch over one SMTP connection, one row at a time.

Why no two workers send one row at once: a worker sends a row only while its
lease on it, as committed, still runs for at least the longest a send may take
(``SEND_SHARE`` of the lease; every wait on the server is cut to fit), counted
from a clock reading taken before the lease was written, so the worker never
thinks its lease longer than it is. Before a send that would not fit, it renews
the lease on the whole rest of its batch in one UPDATE that only touches rows
still its own and not yet run out (RETURNING their ids), commits, and leaves the
others alone. Another worker can claim a row only once its lease has run out,
which is after the send has ended.

Each row's outcome is committed, together with the count of the next row's
attempt, before that next row's message goes out, so a row that went out is
never left looking unsent while the worker goes on. The commit runs while the
server answers the next row's MAIL FROM (with PIPELINING, its whole envelope),
which delivers nothing, and the next message is written while the server takes
this one: the database's work and the server's overlap (see :mod:`.smtp`). If
that commit finds the row taken by another worker, the transaction is dropped
unsent. These commits need not wait for the disk (PostgreSQL's
``synchronous_commit`` off, SQLite's WAL in NORMAL mode): a database crash may
forget the last outcomes, and those rows are sent again with the same
Message-ID. Claims and renewals are always durable.

So a receiver sees a message twice only when the line dropped after the message
went out and before the server's reply was heard, or the worker died in the
moment between the reply and the commit of the outcome (only that message: every
other row it sent has its outcome committed), or the database died before the
last outcomes reached its disk: whether it arrived is not known, the row is
retried, and the retry carries the same Message-ID, by which the receiving side
can tell it is one message. A refusal of one recipient fails that recipient's
row only.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, cast

from flask import Flask, current_app
from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Table,
    and_,
    bindparam,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from . import bounces, domain_pace, pacing, smtp, wire
from .models import OutboxMessage, OutboxStatus
from .signals import mail_failed, mail_sent
from .storage import get_session

log = logging.getLogger("flask_urgentaction.outbox")

# Rows claimed at once: at first few, then what one connection sends in about
# BATCH_SECONDS, so that rows wait in one worker's hands only briefly while
# claims stay rare.
CLAIM_BATCH = 5
MAX_CLAIM_BATCH = 200
BATCH_SECONDS = 0.5
# The share of a lease a send may take; the rest is time to record its outcome.
SEND_SHARE = 0.75
# A lease is renewed when less than a send and this (at most) is left of it.
RENEW_MARGIN = 1.0


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    # Claimed, but the lease ran out before their turn came: not sent by this worker.
    skipped: list[int] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed
        self.skipped += other.skipped


def lease_seconds() -> float:
    return float(current_app.config["URGENTACTION_LEASE_SECONDS"])


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(OutboxMessage.status == OutboxStatus.QUEUED, OutboxMessage.next_attempt_at <= now),
        # A worker that died mid-send leaves its claim to run out.
        and_(OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.claimed_until < now),
    )


def claim(
    worker: str, ids: Sequence[int] | None = None, limit: int = CLAIM_BATCH,
    exclude: Sequence[int] = (),
) -> list[OutboxMessage]:  # fmt: skip
    """Claim up to ``limit`` due rows (only ``ids``, if given) for ``worker``."""
    session = get_session()
    for _round in range(3):
        now = datetime.now(UTC)
        query = (
            select(OutboxMessage.id)
            .where(_due(now))
            .order_by(OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite locks the whole file
        )
        if ids is not None:
            query = query.where(OutboxMessage.id.in_(ids))
        if exclude:
            query = query.where(OutboxMessage.id.not_in(exclude))
        _durable(session)
        candidates = list(session.scalars(query))
        if not candidates:
            session.commit()
            return []
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(candidates), _due(now))
            .values(
                status=OutboxStatus.SENDING,
                claimed_by=worker,
                claimed_until=now + timedelta(seconds=lease_seconds()),
            )
            .execution_options(synchronize_session=False)
        )
        session.commit()
        # The session may hold these rows from an earlier attempt: reload them.
        rows = list(
            session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.id.in_(candidates),
                    OutboxMessage.claimed_by == worker,
                    OutboxMessage.status == OutboxStatus.SENDING,
                )
                .order_by(OutboxMessage.id)
                .execution_options(populate_existing=True)
            )
        )
        if rows:
            return rows
        # Another worker claimed the same candidates first (SQLite): look again.
    return []


def _update(row: OutboxMessage, worker: str, *criteria: Any, **values: Any) -> bool:
    """Change ``row`` only if ``worker`` still holds it; commit; say whether it did."""
    session = get_session()
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row.id, OutboxMessage.claimed_by == worker, *criteria)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    done = cast("CursorResult[Any]", result).rowcount == 1
    if done:
        for key, value in values.items():
            set_committed_value(row, key, value)
    return done


def renew(row: OutboxMessage, worker: str) -> bool:
    """Right before a send: extend the lease on ``row`` and count the attempt, if it
    is still ``worker``'s and its lease has not run out. Committed, so any other
    worker sees the row as taken."""
    now = datetime.now(UTC)
    return _update(
        row, worker,
        OutboxMessage.status == OutboxStatus.SENDING,
        OutboxMessage.claimed_until > now,
        claimed_until=now + timedelta(seconds=lease_seconds()),
        attempts=row.attempts + 1,
    )  # fmt: skip


def _release(rows: Sequence[OutboxMessage], worker: str, at: datetime) -> None:
    """Give back claimed rows that were not tried, due again at ``at``."""
    if not rows:
        return
    session = get_session()
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_([row.id for row in rows]),
            OutboxMessage.claimed_by == worker,
            OutboxMessage.status == OutboxStatus.SENDING,
        )
        .values(status=OutboxStatus.QUEUED, claimed_by=None, claimed_until=None,
                next_attempt_at=at)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    session.commit()


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with jitter, so a recovering server is not stampeded."""
    config = current_app.config
    base = float(config["URGENTACTION_RETRY_BASE_SECONDS"])
    cap = float(config["URGENTACTION_RETRY_MAX_SECONDS"])
    delay = min(cap, base * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=delay * random.uniform(0.5, 1.5))


def deliver(ids: Sequence[int] | None = None, limit: int = 100) -> DeliveryReport:
    """Send what is due (or just ``ids``), up to ``limit`` attempts; record each outcome."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    timeout = float(app.config["URGENTACTION_SMTP_TIMEOUT"])
    with smtp.Session(app.extensions["mail"], timeout) as connection:
        return _deliver(app, connection, ids, limit)


@dataclass
class _BatchSize:
    """How many rows to claim next: a few at first, then what the connection sent in
    about BATCH_SECONDS, within bounds; kept from one ``_deliver`` to the next."""

    rows: int = CLAIM_BATCH

    def adapt(self, sent: int, seconds: float) -> None:
        rate = sent / max(seconds, 1e-3)
        self.rows = max(CLAIM_BATCH, min(MAX_CLAIM_BATCH, int(rate * BATCH_SECONDS)))


def _deliver(
    app: Flask,
    connection: smtp.Session,
    ids: Sequence[int] | None,
    limit: int,
    size: _BatchSize | None = None,
) -> DeliveryReport:
    report = DeliveryReport()
    if size is None:
        size = _BatchSize()
    worker = uuid.uuid4().hex
    lease = lease_seconds()
    send_time = lease * SEND_SHARE
    # Renew this long before a send would no longer fit in the lease.
    margin = min(RENEW_MARGIN, lease * (1 - SEND_SHARE) / 2)
    tried: list[int] = []
    idle = 0  # batches in a row of which nothing could be tried
    with _Recorder(app, worker, report) as recorder:
        while len(tried) < limit and idle < 2:
            recorder.commit()
            if ids is None:
                pacing.release(recorder.session)
                domain_pace.release(recorder.session)
            claimed_at = time.monotonic()
            rows = claim(worker, ids, min(size.rows, limit - len(tried)), exclude=tried)
            if not rows:
                break
            held_until = claimed_at + lease
            idle += 1
            if dead := bounces.refusals(recorder.session, [row.recipient for row in rows]):
                rows, idle = _refuse(recorder, rows, dead), 0
            started, count = time.monotonic(), len(tried)
            index = 0
            ahead: _Turn | None = None
            while index < len(rows):
                if held_until - time.monotonic() < send_time + margin:
                    renewed_at = time.monotonic()
                    owned = recorder.extend([row.id for row in rows[index:]])
                    held_until = renewed_at + lease
                    # Its lease ran out while earlier rows were sent; if no one
                    # else took it, a later claim here will.
                    report.skipped += [row.id for row in rows[index:] if row.id not in owned]
                    rows = rows[:index] + [row for row in rows[index:] if row.id in owned]
                    if index == len(rows):
                        break
                row = rows[index]
                turn = ahead if ahead is not None and ahead.row is row else _Turn(recorder, row)
                ahead = _Turn(recorder, rows[index + 1]) if index + 1 < len(rows) else None
                # Within the lease however long the commit of the attempt takes.
                deadline = min(time.monotonic() + send_time, held_until - margin)
                # The next row's message is written while this one's reply is awaited.
                went = _attempt(connection, turn, deadline, ahead.render if ahead else None)
                index += 1
                if went is _Went.NOT_OURS:
                    report.skipped.append(row.id)
                    continue
                idle = 0
                tried.append(row.id)
                if went is _Went.UNREACHABLE:
                    # The server cannot be reached: the rest of the batch waits too.
                    recorder.release(rows[index:], row.next_attempt_at)
                    return report
            size.adapt(len(tried) - count, time.monotonic() - started)
    return report


class _Recorder:
    """Writes a worker's outcomes with core UPDATEs, one transaction per send: the last
    row's outcome and the count of the next row's attempt, committed before it goes
    out; the signals follow each commit."""

    def __init__(self, app: Flask, worker: str, report: DeliveryReport) -> None:
        self.app = app
        self.worker = worker
        self.report = report
        self.session = get_session()
        self.postgresql = self.session.get_bind().dialect.name == "postgresql"
        self.outcomes: list[tuple[OutboxMessage, dict[str, Any]]] = []
        self.signals: list[tuple[bool, OutboxMessage, dict[str, Any]]] = []
        table = cast("Table", OutboxMessage.__table__)
        ours = and_(table.c.id == bindparam("row_id"), table.c.claimed_by == worker)
        self.started = (
            update(table)
            .where(ours, table.c.status == OutboxStatus.SENDING)
            .values(attempts=bindparam("attempts"))
        )
        self.outcome = update(table).where(ours)

    def __enter__(self) -> _Recorder:
        self.session.commit()
        if self.postgresql:
            # Outcomes need not wait for the disk (see the module's docstring);
            # claims and renewals turn it back on for their own transactions.
            self.session.execute(text("SET synchronous_commit TO off"))
            self.session.commit()
        return self

    def __exit__(self, *_exc: object) -> None:
        try:
            self.commit()
        finally:
            if self.postgresql:
                self.session.rollback()
                self.session.execute(text("RESET synchronous_commit"))
                self.session.commit()

    def start(self, row: OutboxMessage) -> bool:
        """Count an attempt on ``row``, to be written and committed with what is pending;
        False when the row is no longer this worker's."""
        # Core statements on the session's connection: no ORM work per message.
        connection = self.session.connection()
        self._write(connection)
        attempts = row.attempts + 1
        result = connection.execute(self.started, {"row_id": row.id, "attempts": attempts})
        if cast("CursorResult[Any]", result).rowcount != 1:
            return False
        set_committed_value(row, "attempts", attempts)
        return True

    def begin(self, row: OutboxMessage) -> bool:
        """Count an attempt on ``row`` and commit what is pending; False when the row is
        no longer this worker's."""
        ours = self.start(row)
        self.commit()
        return ours

    def record(self, row: OutboxMessage, sent: bool, values: dict[str, Any], **kw: Any) -> None:
        """Keep ``row``'s outcome: written with the next row's attempt, and committed
        with it, or at the end."""
        self.outcomes.append((row, values))
        for key, value in values.items():
            set_committed_value(row, key, value)
        self.signals.append((sent, row, kw))

    def _write(self, connection: Connection) -> None:
        outcomes, self.outcomes = self.outcomes, []
        for row, values in outcomes:
            # The statement stays the same and its SET columns come from the values.
            result = connection.execute(self.outcome, {"row_id": row.id, **values})
            if cast("CursorResult[Any]", result).rowcount != 1:
                log.error(
                    "outbox message %s: its claim passed on before the outcome was kept", row.id
                )

    def commit(self) -> None:
        if self.outcomes:
            self._write(self.session.connection())
        self.session.commit()
        signals, self.signals = self.signals, []
        for sent, row, kw in signals:
            (mail_sent if sent else mail_failed).send(self.app, message=row, **kw)

    def extend(self, ids: Sequence[int]) -> set[int]:
        """Renew the lease on the rows of ``ids`` still this worker's; their ids."""
        self.commit()
        _durable(self.session)
        now = datetime.now(UTC)
        owned = set(
            self.session.scalars(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id.in_(ids),
                    OutboxMessage.claimed_by == self.worker,
                    OutboxMessage.status == OutboxStatus.SENDING,
                    OutboxMessage.claimed_until > now,
                )
                .values(claimed_until=now + timedelta(seconds=lease_seconds()))
                .returning(OutboxMessage.id)
                .execution_options(synchronize_session=False)
            )
        )
        self.session.commit()
        return owned

    def release(self, rows: Sequence[OutboxMessage], at: datetime) -> None:
        self.commit()
        _release(rows, self.worker, at)


def _durable(session: Session) -> None:
    """Make this transaction's commit wait for the disk (PostgreSQL; SQLite's WAL keeps
    a commit across a crash of the process, which is the only one a lease outlives)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO on"))


class _Went(Enum):
    """How a row's turn at the server went."""

    TRIED = "tried"  # sent, or its failure recorded
    NOT_OURS = "not ours"  # another worker holds it now: untouched
    UNREACHABLE = "unreachable"  # no session could be opened


class _Turn:
    """A row's attempt and message, made while the server answers."""

    def __init__(self, recorder: _Recorder, row: OutboxMessage) -> None:
        self.recorder = recorder
        self.row = row
        self.ours: bool | None = None  # None: the session never came to ask
        self.message: bytes | None = None
        self.unwritable: Exception | None = None

    def render(self) -> None:
        """Write the message, once; an error is kept, to fail the row when tried."""
        if self.message is None and self.unwritable is None:
            try:
                self.message = wire.render(self.row)
            except Exception as exc:
                self.unwritable = exc

    def prepare(self) -> smtp.Preparation:
        """While the server answers MAIL FROM, count the attempt and commit it with the
        last row's outcome; while it answers RCPT TO, write the message if it is not
        written yet. Both before the message goes out."""
        self.ours = self.recorder.begin(self.row)
        if not self.ours:
            return None
        yield
        self.render()
        return self.message


def _attempt(
    connection: smtp.Session, turn: _Turn, deadline: float, meanwhile: Callable[[], None] | None
) -> _Went:
    """Send one row, its attempt committed before it goes out, and record what happened;
    ``meanwhile`` runs while the server's reply to the message is awaited."""
    row, recorder = turn.row, turn.recorder
    try:
        sender, recipient = wire.envelope(row, bounces.return_path(row.id, recorder.app.config))
    except Exception as exc:
        turn.unwritable = exc
    if turn.unwritable is not None:  # known before the server is asked
        if not recorder.begin(row):
            return _Went.NOT_OURS
        return _unwritable(recorder, row, turn.unwritable)
    try:
        reply = connection.send(sender, recipient, turn.prepare(), deadline, meanwhile)
    except smtp.SendError as exc:
        if turn.ours is None:  # the session failed before it asked for the message
            turn.ours = recorder.begin(row)
        if not turn.ours:
            return _Went.NOT_OURS
        return _failed(recorder, row, exc)
    if reply is None:
        if not turn.ours:
            return _Went.NOT_OURS
        assert turn.unwritable is not None
        return _unwritable(recorder, row, turn.unwritable)
    values = {
        "status": OutboxStatus.SENT, "sent_at": datetime.now(UTC), "claimed_by": None,
        "claimed_until": None, "last_error": "", "last_reply": str(reply)[:2000],
    }  # fmt: skip
    recorder.record(row, True, values)
    recorder.report.sent.append(row.id)
    return _Went.TRIED


def _unwritable(recorder: _Recorder, row: OutboxMessage, error: Exception) -> _Went:
    if not isinstance(error, wire.Unwritable):
        log.error("outbox message %s cannot be written", row.id, exc_info=error)
    return _failed(recorder, row, error)


def _refuse(
    recorder: _Recorder, rows: list[OutboxMessage], dead: dict[str, str]
) -> list[OutboxMessage]:
    """Fail, unsent, the claimed rows to addresses on the bounce list; the others."""
    kept = []
    for row in rows:
        why = dead.get(bounces.address_key(row.recipient))
        if why is None:
            kept.append(row)
            continue
        values = {"status": OutboxStatus.FAILED, "claimed_by": None, "claimed_until": None,
                  "last_error": why}  # fmt: skip
        recorder.record(row, False, values, error=bounces.DeadAddress(why), final=True)
        recorder.report.failed.append(row.id)
    return kept


def _failed(recorder: _Recorder, row: OutboxMessage, error: Exception) -> _Went:
    if isinstance(error, smtp.SendError):
        permanent, reply, description = error.permanent, error.reply, str(error)
    else:  # the message cannot be put on the wire: no retry changes that
        permanent, reply, description = True, None, f"cannot be written: {error}"
    final = permanent or row.attempts >= int(recorder.app.config["URGENTACTION_MAX_ATTEMPTS"])
    values: dict[str, Any] = {
        "claimed_by": None, "claimed_until": None,
        "last_error": description[:2000], "last_reply": str(reply or "")[:2000],
    }  # fmt: skip
    if final:
        values["status"] = OutboxStatus.FAILED
        recorder.report.failed.append(row.id)
    else:
        values["status"] = OutboxStatus.QUEUED
        values["next_attempt_at"] = datetime.now(UTC) + backoff(row.attempts)
        recorder.report.retrying.append(row.id)
    log.warning("outbox message %s not sent: %s", row.id, description)
    recorder.record(row, False, values, error=error, final=final)
    if isinstance(error, smtp.SendError) and error.unreachable:
        return _Went.UNREACHABLE
    return _Went.TRIED


def drain(limit: int = 100) -> DeliveryReport:
    """Deliver batches of ``limit`` over one connection until nothing is due."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    timeout = float(app.config["URGENTACTION_SMTP_TIMEOUT"])
    total = DeliveryReport()
    size = _BatchSize()
    with smtp.Session(app.extensions["mail"], timeout) as connection:
        while True:
            report = _deliver(app, connection, None, limit, size)
            total.add(report)
            # Stop on a short batch, or when the server is in trouble: retries wait.
            if report.retrying or len(report.sent) + len(report.failed) < limit:
                return total
