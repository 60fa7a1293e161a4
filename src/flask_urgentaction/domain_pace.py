"""The pace of alerts per recipient domain, so that big providers see a trickle.

An alert goes to many subscribers, most of them at a few big providers, which
defer or file as spam a sender that arrives in a burst. With
``URGENTACTION_ALERT_PER_DOMAIN_PER_HOUR`` set, alerts are queued ``held``
with their recipient's domain (``pace_domain``), and before each claim the
sender calls :func:`release`, which lets out per domain what the pace allows
now: one alert every ``3600 / N`` seconds, and after a pause at most a
minute's worth at once (``BURST``), so a domain with a few subscribers has
theirs at once and a big one an even stream.

As with a target's pace (pacing.py), every worker shares one pace per domain:
a release is a compare-and-set UPDATE of the domain's row in ``ua_domain_pace``
(its ``released`` count and ``next_send_at``), so two workers never take the
same slot. A held alert whose subscriber is no longer confirmed (they
unsubscribed while it waited) is deleted instead of sent. Rows of domains
whose pace has long run out are deleted too: they hold nothing a release needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import ColumnElement, CursorResult, Table, delete, func, or_, select, update
from sqlalchemy.orm import Session

from . import clock, pacing
from .models import DomainPace, OutboxMessage, OutboxStatus, Subscriber
from .storage import insert_new

# After a pause, a domain may take this much of its pace at once.
BURST = timedelta(minutes=1)
# The most alerts let out to one domain at once (no pace, or catching up).
RELEASE_BATCH = 1000
# The most domains one release looks at; the others wait for the next.
DOMAINS_PER_RELEASE = 500
# A domain's row is deleted once its next slot is this far in the past.
FORGET_AFTER = timedelta(days=1)


def per_hour() -> int | None:
    """The configured pace: alerts an hour to one domain, or None (no pace)."""
    value = current_app.config["URGENTACTION_ALERT_PER_DOMAIN_PER_HOUR"]
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RuntimeError(
            "URGENTACTION_ALERT_PER_DOMAIN_PER_HOUR must be a whole number of alerts "
            "an hour, or None for no pace."
        )
    return value


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().casefold()


def interval(rate: int) -> timedelta:
    """The time between two alerts to one domain."""
    return timedelta(seconds=3600 / rate)


def _window(rate: int) -> timedelta:
    return max(interval(rate), BURST)


def spread(count: int, rate: int) -> timedelta:
    """About how long ``count`` alerts to one domain take at ``rate`` an hour."""
    at_once = int(_window(rate) / interval(rate)) + 1
    return interval(rate) * max(count - at_once, 0)


def _held(domain: str | None = None) -> list[ColumnElement[bool]]:
    """Held alerts (to ``domain``, or to any)."""
    criteria = [OutboxMessage.status == OutboxStatus.HELD, OutboxMessage.pace_domain.is_not(None)]
    return criteria if domain is None else [*criteria, OutboxMessage.pace_domain == domain]


def _held_domains() -> Any:
    return select(OutboxMessage.pace_domain.label("domain")).where(*_held()).distinct().subquery()


def release(session: Session) -> list[int]:
    """Let out the held alerts each domain's pace allows now; the ids let out."""
    rate = per_hour()
    now = clock.now()
    if rate is None:
        # No pace (any more): what waits goes, a batch at a time.
        ids = _confirmed(session, None, RELEASE_BATCH)
        if ids:
            pacing.queue_held(session, ids, now)
        session.commit()
        return ids
    domains = _held_domains()
    due = session.execute(
        select(domains.c.domain, DomainPace.released, DomainPace.next_send_at)
        .outerjoin(DomainPace, DomainPace.domain == domains.c.domain)
        .where(or_(DomainPace.next_send_at.is_(None), DomainPace.next_send_at <= now))
        .order_by(domains.c.domain)
        .limit(DOMAINS_PER_RELEASE)
    ).all()
    session.commit()
    released: list[int] = []
    for domain, count, next_send_at in due:
        released += _release_domain(session, domain, count, next_send_at, now, rate)
    if due:
        _forget_old(session, now)
    return released


def _release_domain(
    session: Session, domain: str, count: int | None, next_send_at: datetime | None,
    now: datetime, rate: int,
) -> list[int]:  # fmt: skip
    step, window = interval(rate), _window(rate)
    # Slots every interval from the next free one, none earlier than a window ago:
    # after a pause, at most a minute's worth goes at once.
    start = max(next_send_at or now - window, now - window)
    allowed = min(RELEASE_BATCH, int((now - start) / step) + 1)
    ids = _confirmed(session, domain, allowed)
    if not ids:
        session.commit()
        return []
    if not _take(session, domain, count, len(ids), start + step * len(ids)):
        session.rollback()  # another worker released first; its slots stand
        return []
    pacing.queue_held(session, ids, now)
    session.commit()
    return ids


def _confirmed(session: Session, domain: str | None, limit: int) -> list[int]:
    """Up to ``limit`` held alerts (to ``domain``) whose subscriber is still confirmed;
    those found on the way whose subscriber is not are deleted."""
    rows = session.execute(
        select(OutboxMessage.id, Subscriber.status)
        .outerjoin(Subscriber, Subscriber.id == OutboxMessage.subscriber_id)
        .where(*_held(domain))
        .order_by(OutboxMessage.id)
        .limit(limit)
    ).all()
    gone = [id_ for id_, status in rows if status != "confirmed"]
    if gone:
        session.execute(
            delete(OutboxMessage)
            .where(OutboxMessage.id.in_(gone), OutboxMessage.status == OutboxStatus.HELD)
            .execution_options(synchronize_session=False)
        )
    return [id_ for id_, status in rows if status == "confirmed"]


def _take(
    session: Session, domain: str, count: int | None, taken: int, following: datetime
) -> bool:
    """Compare-and-set: count ``taken`` more alerts released to ``domain``, if no other
    worker released any since ``count`` was read (None: the domain had no row)."""
    if count is None:
        row = {"domain": domain, "released": taken, "next_send_at": following}
        return bool(insert_new(session, cast("Table", DomainPace.__table__), "domain", [row]))
    result = session.execute(
        update(DomainPace)
        .where(DomainPace.domain == domain, DomainPace.released == count)
        .values(released=count + taken, next_send_at=following)
        .execution_options(synchronize_session=False)
    )
    return cast("CursorResult[Any]", result).rowcount == 1


def _forget_old(session: Session, now: datetime) -> None:
    # A row whose next slot is long past paces nothing a missing row would not.
    old = DomainPace.next_send_at < now - FORGET_AFTER
    if session.scalar(select(func.count()).select_from(DomainPace).where(old)):
        session.execute(delete(DomainPace).where(old).execution_options(synchronize_session=False))
    session.commit()


@dataclass(frozen=True)
class Held:
    """Alerts held for their domains' pace: how many, and the soonest a domain's
    next one goes (None: one is due now)."""

    count: int
    until: datetime | None


def held(session: Session) -> Held:
    count = int(session.scalar(select(func.count()).where(*_held())) or 0)
    if not count:
        return Held(0, None)
    now = clock.now()
    domains = _held_domains()
    due = session.scalar(
        select(func.count())
        .select_from(domains)
        .outerjoin(DomainPace, DomainPace.domain == domains.c.domain)
        .where(or_(DomainPace.next_send_at.is_(None), DomainPace.next_send_at <= now))
    )
    if due:
        return Held(count, None)
    soonest = session.scalar(
        select(func.min(DomainPace.next_send_at)).where(
            DomainPace.domain.in_(select(domains.c.domain))
        )
    )
    return Held(count, soonest)
