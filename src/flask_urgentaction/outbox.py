"""Delivering the outbox: claim due rows, send each one only while it is ours, record the reply.

A worker claims a few due rows at a time: on PostgreSQL with ``FOR UPDATE SKIP
LOCKED``, so workers take different rows instead of queueing behind each other;
on both backends with a compare-and-set UPDATE that only takes rows still due.
Right before sending a row, the worker renews its lease on that one row with a
conditional UPDATE (still claimed by this worker, lease not run out) and commits;
if that changes nothing, another worker may own the row by now, and it is
skipped. A send must end within its lease (every wait on the server is cut to
fit), so no second worker can claim a row while the first is still sending it.

So a receiver sees a message twice only when the line dropped after the message
went out and before the server's reply was heard (or the worker died in that
moment): whether it arrived cannot be known, the row is retried, and the retry
carries the same Message-ID, by which the receiving side can tell it is one
message. A refusal of one recipient fails that recipient's row only.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from flask import Flask, current_app
from sqlalchemy import ColumnElement, CursorResult, and_, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from . import smtp, wire
from .models import OutboxMessage, OutboxStatus
from .signals import mail_failed, mail_sent
from .storage import get_session

log = logging.getLogger("flask_urgentaction.outbox")

# Rows claimed at once: few, so that rows wait in one worker's hands only briefly.
CLAIM_BATCH = 5
# The share of a lease a send may take; the rest is time to record its outcome.
SEND_SHARE = 0.75


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
    report = DeliveryReport()
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    worker = uuid.uuid4().hex
    tried: list[int] = []
    idle = 0  # batches in a row of which nothing could be tried
    timeout = float(app.config["URGENTACTION_SMTP_TIMEOUT"])
    with smtp.Session(app.extensions["mail"], timeout) as connection:
        while len(tried) < limit and idle < 2:
            rows = claim(worker, ids, min(CLAIM_BATCH, limit - len(tried)), exclude=tried)
            if not rows:
                break
            idle += 1
            for index, row in enumerate(rows):
                if not renew(row, worker):
                    # Its lease ran out while earlier rows were sent; if no one
                    # else took it, a later claim here will.
                    report.skipped.append(row.id)
                    continue
                idle = 0
                tried.append(row.id)
                if not _attempt(app, connection, row, worker, report):
                    # The server cannot be reached: the rest of the batch waits too.
                    _release(rows[index + 1 :], worker, row.next_attempt_at)
                    return report
    return report


def _attempt(
    app: Flask, connection: smtp.Session, row: OutboxMessage, worker: str, report: DeliveryReport
) -> bool:
    """Send one renewed row and record what happened; False when the server cannot be
    reached at all."""
    deadline = time.monotonic() + lease_seconds() * SEND_SHARE
    try:
        message = wire.as_bytes(wire.compose(row))
        sender, recipient = wire.envelope(row)
    except Exception as exc:
        if not isinstance(exc, wire.Unwritable):
            log.exception("outbox message %s cannot be written", row.id)
        return _failed(app, row, worker, exc, report)
    try:
        reply = connection.send(sender, recipient, message, deadline)
    except smtp.SendError as exc:
        return _failed(app, row, worker, exc, report)
    recorded = _update(
        row, worker, status=OutboxStatus.SENT, sent_at=datetime.now(UTC), claimed_by=None,
        claimed_until=None, last_error="", last_reply=str(reply)[:2000],
    )  # fmt: skip
    if not recorded:
        log.error("outbox message %s was sent after its claim passed on", row.id)
    report.sent.append(row.id)
    mail_sent.send(app, message=row)
    return True


def _failed(
    app: Flask, row: OutboxMessage, worker: str, error: Exception, report: DeliveryReport
) -> bool:
    if isinstance(error, smtp.SendError):
        permanent, reply, description = error.permanent, error.reply, str(error)
    else:  # the message cannot be put on the wire: no retry changes that
        permanent, reply, description = True, None, f"cannot be written: {error}"
    final = permanent or row.attempts >= int(app.config["URGENTACTION_MAX_ATTEMPTS"])
    values: dict[str, Any] = {
        "claimed_by": None, "claimed_until": None,
        "last_error": description[:2000], "last_reply": str(reply or "")[:2000],
    }  # fmt: skip
    if final:
        values["status"] = OutboxStatus.FAILED
        report.failed.append(row.id)
    else:
        values["status"] = OutboxStatus.QUEUED
        values["next_attempt_at"] = datetime.now(UTC) + backoff(row.attempts)
        report.retrying.append(row.id)
    if not _update(row, worker, **values):
        log.error("outbox message %s: its claim passed on before the outcome was kept", row.id)
    log.warning("outbox message %s not sent: %s", row.id, description)
    mail_failed.send(app, message=row, error=error, final=final)
    return not (isinstance(error, smtp.SendError) and error.unreachable)


def drain(limit: int = 100) -> DeliveryReport:
    """Deliver batches until nothing is due."""
    total = DeliveryReport()
    while True:
        report = deliver(limit=limit)
        total.add(report)
        # Stop on a short batch, or when the server is in trouble: retries wait.
        if report.retrying or len(report.sent) + len(report.failed) < limit:
            return total
