"""Progress of a long ``send-mail`` or ``alert`` on a terminal; silent otherwise.

The bar moves on the outbox's own ``mail_sent`` and ``mail_failed`` signals, one
per attempt, so the sender needs no knowledge of it. When stderr is not a
terminal (cron, a log file, a pipe) nothing is drawn at all.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from . import pacing
from .models import OutboxMessage, OutboxStatus
from .signals import mail_failed, mail_sent

T = TypeVar("T")


def on_terminal() -> bool:
    return sys.stderr.isatty()


def due_now(session: Session) -> int:
    """About what a drain will try now: due rows, and held ones the rules let out."""
    now = datetime.now(UTC)
    due = session.scalar(
        select(func.count()).where(
            or_(
                (OutboxMessage.status == OutboxStatus.QUEUED)
                & (OutboxMessage.next_attempt_at <= now),
                (OutboxMessage.status == OutboxStatus.SENDING)
                & (OutboxMessage.claimed_until < now),
            )
        )
    )
    released = sum(h.count for h in pacing.held(session).values() if h.waiting.reason == "due")
    return int(due or 0) + released


@contextmanager
def sending(label: str, total: int) -> Iterator[None]:
    """A bar of ``total`` attempts while the body drains the outbox."""
    if total <= 0 or not on_terminal():
        yield
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True) as bar:

        def step(_sender: Any, **_kwargs: Any) -> None:
            bar.update(1)

        with ExitStack() as stack:
            stack.enter_context(mail_sent.connected_to(step, sender=app))
            stack.enter_context(mail_failed.connected_to(step, sender=app))
            yield


@contextmanager
def counting(items: Iterable[T], label: str, total: int) -> Iterator[Iterable[T]]:
    """``items`` as they are gone through, with a bar on a terminal."""
    if total <= 0 or not on_terminal():
        yield items
        return
    with click.progressbar(items, length=total, label=label, file=sys.stderr) as bar:
        yield bar
