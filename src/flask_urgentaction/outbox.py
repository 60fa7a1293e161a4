"""Delivering the outbox: claim due rows, send through Flask-Mail, retry with backoff.

Rows are claimed with a compare-and-set UPDATE, so several workers on several
machines can drain one PostgreSQL database without sending a row twice. A row
keeps its Message-ID across retries: if the SMTP server took a message but the
line dropped before we heard so, the resend is the same message to the receiver.
"""

from __future__ import annotations

import logging
import random
import smtplib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.mime.base import MIMEBase
from email.policy import Compat32
from typing import Any

import flask_mail
from flask import current_app
from sqlalchemy import ColumnElement, and_, or_, select, update

from .models import OutboxMessage
from .signals import mail_failed, mail_sent
from .storage import get_session

log = logging.getLogger("flask_urgentaction.outbox")


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


class TimeoutConnection(flask_mail.Connection):
    """Flask-Mail's connection, with the socket timeout it does not set."""

    def configure_host(self) -> smtplib.SMTP | smtplib.SMTP_SSL:
        state = self.mail
        timeout = float(current_app.config["URGENTACTION_SMTP_TIMEOUT"])
        host: smtplib.SMTP | smtplib.SMTP_SSL
        if state.use_ssl:
            host = smtplib.SMTP_SSL(state.server, state.port, timeout=timeout)
        else:
            host = smtplib.SMTP(state.server, state.port, timeout=timeout)
        host.set_debuglevel(int(state.debug))
        if state.use_tls:
            host.starttls()
        if state.username and state.password:
            host.login(state.username, state.password)
        return host


class Permanent(Exception):
    """The server refused for good (5xx): retrying will not help."""


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(OutboxMessage.status == "queued", OutboxMessage.next_attempt_at <= now),
        # A worker that died mid-send leaves its claim to expire.
        and_(OutboxMessage.status == "sending", OutboxMessage.claimed_until < now),
    )


def claim(ids: Sequence[int] | None = None, limit: int = 100) -> list[OutboxMessage]:
    session = get_session()
    now = datetime.now(UTC)
    query = select(OutboxMessage.id).where(_due(now)).order_by(OutboxMessage.id)
    if ids is not None:
        query = query.where(OutboxMessage.id.in_(ids))
    candidates = list(session.scalars(query.limit(limit)))
    if not candidates:
        return []
    claimant = uuid.uuid4().hex
    lease = float(current_app.config["URGENTACTION_SMTP_TIMEOUT"]) * 4 + 60
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(candidates), _due(now))
        .values(
            status="sending",
            claimed_by=claimant,
            claimed_until=now + timedelta(seconds=lease),
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    # The session may still hold these rows from before the UPDATE (an earlier
    # attempt): reload them, or resetting status and claim would look like no
    # change and never be written.
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.claimed_by == claimant, OutboxMessage.status == "sending")
            .order_by(OutboxMessage.id)
            .execution_options(populate_existing=True)
        )
    )


class OutboxMail(flask_mail.Message):
    """Flask-Mail's message, written out so no display name can become an address.

    Flask-Mail sets ``policy.SMTP``, which refolds any header line over 78
    characters by parsing it again: CPython then decodes the encoded-word display
    name and writes it back unquoted, so ``"Ana <ana@example.org> via Network"``
    turns into a second address. The classic policy folds at whitespace only.
    """

    def _message(self) -> MIMEBase:
        msg = super()._message()
        msg.policy = SMTP_CLASSIC
        if self.subject:
            del msg["Subject"]
            charset = "us-ascii" if self.subject.isascii() else "utf-8"
            # Folded by its own rules, so the first line is used too.
            msg["Subject"] = Header(self.subject, charset, header_name="Subject")  # type: ignore[assignment]
        return msg


class ClassicSMTP(Compat32):
    """The classic policy with CRLF, keeping one-token values (a URL) on their line."""

    linesep = "\r\n"

    def fold(self, name: str, value: Any) -> str:
        if _one_token(name, value):
            return f"{name}: {value}{self.linesep}"
        return str(super().fold(name, value))

    def fold_binary(self, name: str, value: Any) -> bytes:
        if _one_token(name, value):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return bytes(super().fold_binary(name, value))


def _one_token(name: str, value: Any) -> bool:
    # Nothing to fold at, so folding would only push it to a line of its own.
    return (
        isinstance(value, str)
        and value.isascii()
        and not any(char.isspace() for char in value)
        and len(name) + len(value) + 2 <= 998
    )


SMTP_CLASSIC = ClassicSMTP()


def as_flask_mail(row: OutboxMessage) -> flask_mail.Message:
    message = OutboxMail(
        subject=row.subject,
        recipients=[(name, address) for name, address in row.recipients],
        body=row.text_body,
        html=row.html_body,
        sender=(row.sender[0], row.sender[1]),
        reply_to=(row.reply_to[0], row.reply_to[1]) if row.reply_to else None,
        extra_headers=dict(row.headers or {}),
    )
    # Flask-Mail's constructor joins a (name, address) sender into one string
    # that is parsed again later: a display name like "Ana <ana@example.org>"
    # or "Kovač, Ana" would then become the From and envelope address. Kept as
    # a pair, the name is encoded as a display name only.
    message.sender = (row.sender[0], row.sender[1])
    message.msgId = row.message_id
    return message


def _classify(exc: Exception) -> Exception:
    """Turn an SMTP error into Permanent (5xx) or leave it as retryable."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _text in exc.recipients.values()]
        if codes and all(code >= 500 for code in codes):
            return Permanent(f"recipients refused: {exc.recipients}")
        return exc
    if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500:
        return Permanent(f"{exc.smtp_code} {exc.smtp_error!r}")
    return exc


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with jitter, so a recovering server is not stampeded."""
    config = current_app.config
    base = float(config["URGENTACTION_RETRY_BASE_SECONDS"])
    cap = float(config["URGENTACTION_RETRY_MAX_SECONDS"])
    delay = min(cap, base * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=delay * random.uniform(0.5, 1.5))


def deliver(ids: Sequence[int] | None = None, limit: int = 100) -> DeliveryReport:
    """Send what is due (or just ``ids``) over one connection; record each outcome."""
    report = DeliveryReport()
    rows = claim(ids, limit)
    if not rows:
        return report
    session = get_session()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    mail_state = app.extensions["mail"]
    max_attempts = int(app.config["URGENTACTION_MAX_ATTEMPTS"])
    connection: TimeoutConnection | None = None
    try:
        for row in rows:
            row.attempts += 1
            try:
                if connection is None:
                    connection = TimeoutConnection(mail_state).__enter__()
                connection.send(as_flask_mail(row), envelope_from=row.sender[1])
            except Exception as raw:
                error = _classify(raw)
                final = isinstance(error, Permanent) or row.attempts >= max_attempts
                row.last_error = f"{type(raw).__name__}: {raw}"[:2000]
                row.claimed_by = row.claimed_until = None
                if final:
                    row.status = "failed"
                    report.failed.append(row.id)
                else:
                    row.status = "queued"
                    row.next_attempt_at = datetime.now(UTC) + backoff(row.attempts)
                    report.retrying.append(row.id)
                session.commit()
                log.warning("outbox message %s not sent: %s", row.id, row.last_error)
                mail_failed.send(app, message=row, error=raw, final=final)
                if not isinstance(error, Permanent):
                    # The connection may be broken: open a new one for the next row.
                    _close(connection)
                    connection = None
                continue
            row.status = "sent"
            row.sent_at = datetime.now(UTC)
            row.claimed_by = row.claimed_until = None
            row.last_error = ""
            session.commit()
            report.sent.append(row.id)
            mail_sent.send(app, message=row)
    finally:
        _close(connection)
    return report


def _close(connection: TimeoutConnection | None) -> None:
    if connection is None or connection.host is None:
        return
    try:
        connection.host.quit()
    except (smtplib.SMTPException, OSError):
        connection.host.close()


def drain(limit: int = 100) -> DeliveryReport:
    """Deliver batches until nothing is due."""
    total = DeliveryReport()
    while True:
        report = deliver(limit=limit)
        total.sent += report.sent
        total.retrying += report.retrying
        total.failed += report.failed
        # Stop on a short batch, or when the server is in trouble: retries wait.
        if report.retrying or len(report.sent) + len(report.failed) < limit:
            return total
