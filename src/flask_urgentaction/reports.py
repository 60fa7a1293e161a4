"""What organisers read about delivery: a campaign's report, the outbox listing, retries.

Plain functions that query with GROUP BY (a campaign may have 100,000 actions) and
return dataclasses; cli.py only formats them. docs/operations.md says how to read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, and_, case, func, literal, select, update
from sqlalchemy.orm import Session

from .campaigns import count_actions
from .models import Action, Campaign, OutboxMessage, OutboxStatus

WAITING = (OutboxStatus.QUEUED, OutboxStatus.SENDING)


@dataclass(frozen=True)
class Failure:
    """What the server said (``reply``) and at which step it went wrong (``error``)."""

    outbox_id: int
    reply: str
    error: str


@dataclass(frozen=True)
class TargetDelivery:
    """The messages of one campaign to one target address."""

    name: str
    address: str
    sent: int = 0
    queued_due: int = 0  # queued and due now: the next sender takes them
    queued_waiting: int = 0  # queued, waiting for a later attempt (a retry's backoff)
    next_attempt_at: datetime | None = None  # the earliest of the waiting ones
    sending: int = 0
    failed: int = 0
    last_failure: Failure | None = None  # of the newest failed message
    waiting_because: Failure | None = None  # of the newest waiting message that was tried


@dataclass(frozen=True)
class Tally:
    value: str  # a partner tag or an origin; "" when the action had none
    actions: int


@dataclass(frozen=True)
class CampaignReport:
    slug: str
    status: str
    actions: int  # the campaign's count, erased actions included
    generated_at: datetime
    targets: list[TargetDelivery]
    partners: list[Tally]
    origins: list[Tally]


def _target_rows(campaign_id: int) -> Any:
    """The campaign's mail to its targets. By address, not by target id: reloading a
    campaign replaces its targets, and old rows lose their target id."""
    return (
        select(OutboxMessage)
        .join(Action, Action.id == OutboxMessage.action_id)
        .where(Action.campaign_id == campaign_id, OutboxMessage.kind == "target")
    )


def _newest(session: Session, campaign_id: int, *criteria: Any) -> dict[str, Failure]:
    """Per address, the reply and error of the newest row meeting ``criteria``."""
    newest = (
        _target_rows(campaign_id)
        .where(*criteria)
        .with_only_columns(func.max(OutboxMessage.id))
        .group_by(OutboxMessage.recipient)
    )
    rows = session.execute(
        select(
            OutboxMessage.recipient,
            OutboxMessage.id,
            OutboxMessage.last_reply,
            OutboxMessage.last_error,
        ).where(OutboxMessage.id.in_(newest))
    )
    return {address: Failure(id_, reply, error) for address, id_, reply, error in rows}


def _tally(session: Session, campaign_id: int, column: Any) -> list[Tally]:
    n = func.count().label("n")
    rows = session.execute(
        select(column, n)
        .where(Action.campaign_id == campaign_id)
        .group_by(column)
        .order_by(n.desc(), column)
    )
    return [Tally(value, int(count)) for value, count in rows]


def campaign_report(
    session: Session, campaign: Campaign, now: datetime | None = None
) -> CampaignReport:
    """Delivery per target and actions per partner tag and origin, for ``campaign``."""
    now = now or datetime.now(UTC)
    queued = OutboxMessage.status == OutboxStatus.QUEUED
    rows = (
        _target_rows(campaign.id)
        .with_only_columns(
            OutboxMessage.recipient,
            OutboxMessage.recipient_name,
            OutboxMessage.status,
            OutboxMessage.next_attempt_at,
            case((and_(queued, OutboxMessage.next_attempt_at > now), 1), else_=0).label("waiting"),
        )
        .subquery()
    )
    # Grouped on a subquery's column: PostgreSQL cannot tell that two bound ``now``s
    # in the select list and in GROUP BY are one expression.
    grouped = session.execute(
        select(
            rows.c.recipient,
            rows.c.status,
            rows.c.waiting,
            func.count(),
            func.min(rows.c.next_attempt_at),
            func.max(rows.c.recipient_name),
        ).group_by(rows.c.recipient, rows.c.status, rows.c.waiting)
    )
    figures: dict[str, dict[str, Any]] = {
        target.email: {"name": target.name} for target in campaign.targets
    }
    for address, status, waiting, count, next_at, name in grouped:
        entry = figures.setdefault(address, {"name": name})
        if status == OutboxStatus.QUEUED and waiting:
            entry["queued_waiting"] = count
            entry["next_attempt_at"] = next_at
        elif status == OutboxStatus.QUEUED:
            entry["queued_due"] = count
        else:
            entry[str(status)] = count
    failures = _newest(session, campaign.id, OutboxMessage.status == OutboxStatus.FAILED)
    waits = _newest(
        session, campaign.id, queued, OutboxMessage.next_attempt_at > now,
        OutboxMessage.last_error != "",
    )  # fmt: skip
    targets = [
        TargetDelivery(
            address=address,
            last_failure=failures.get(address),
            waiting_because=waits.get(address),
            **entry,
        )
        for address, entry in figures.items()
    ]
    return CampaignReport(
        slug=campaign.slug,
        status=campaign.status,
        # Read now: the campaign object may have been loaded before the latest actions.
        actions=count_actions(session, campaign.id),
        generated_at=now,
        targets=targets,
        partners=_tally(session, campaign.id, Action.partner_tag),
        origins=_tally(session, campaign.id, Action.source_origin),
    )


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    kind: str
    recipient: str
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    last_reply: str
    last_error: str


@dataclass(frozen=True)
class OutboxListing:
    entries: list[OutboxEntry]  # the oldest first, at most the limit asked for
    total: int  # how many rows matched, listed or not


def outbox_listing(
    session: Session, failed_only: bool = False, limit: int | None = 100
) -> OutboxListing:
    """Messages not sent yet (queued, sending, failed), or only the failed ones."""
    statuses = (OutboxStatus.FAILED,) if failed_only else (*WAITING, OutboxStatus.FAILED)
    matching = OutboxMessage.status.in_(statuses)
    total = session.scalar(select(func.count()).where(matching)) or 0
    # The columns only: bodies stay in the database.
    query = (
        select(
            OutboxMessage.id, OutboxMessage.kind, OutboxMessage.recipient, OutboxMessage.status,
            OutboxMessage.attempts, OutboxMessage.next_attempt_at, OutboxMessage.last_reply,
            OutboxMessage.last_error,
        )
        .where(matching)
        .order_by(OutboxMessage.id)
        .limit(limit)
    )  # fmt: skip
    return OutboxListing([OutboxEntry(*row) for row in session.execute(query)], int(total))


@dataclass(frozen=True)
class WaitGroup:
    """Messages not sent yet that wait for the same reason."""

    reason: str  # "new" (never tried), "sending", "no reply", or an SMTP code like "451"
    count: int
    next_attempt_at: datetime | None  # the earliest of them; None for "sending"


def waiting(session: Session) -> list[WaitGroup]:
    """What the outbox still holds to send, grouped by why it waits; soonest first."""
    reason = case(
        (OutboxMessage.status == OutboxStatus.SENDING, literal("sending")),
        (OutboxMessage.attempts == 0, literal("new")),
        (OutboxMessage.last_reply == "", literal("no reply")),
        else_=func.substr(OutboxMessage.last_reply, 1, 3),
    ).label("reason")
    rows = (
        select(reason, OutboxMessage.next_attempt_at)
        .where(OutboxMessage.status.in_(WAITING))
        .subquery()
    )
    grouped = session.execute(
        select(rows.c.reason, func.count(), func.min(rows.c.next_attempt_at)).group_by(
            rows.c.reason
        )
    )
    groups = [
        WaitGroup(why, int(count), None if why == "sending" else next_at)
        for why, count, next_at in grouped
    ]
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(groups, key=lambda g: (g.next_attempt_at or far, g.reason))


@dataclass(frozen=True)
class RetryOutcome:
    id: int
    requeued: bool
    reason: str  # why it was refused; "" when requeued


def erased(row: OutboxMessage, action: Action | None) -> bool:
    """Whether ``forget`` stripped the row's content (erasure.py): nothing left to send."""
    return row.text_body == "" or (action is not None and action.erased_at is not None)


def retry(session: Session, ids: Sequence[int], now: datetime | None = None) -> list[RetryOutcome]:
    """Put failed rows back to queued, due now, with their attempts reset to 0 (so a
    row that ran out of attempts gets the whole backoff again). Refuses rows that are
    missing, not failed, or whose content was erased."""
    now = now or datetime.now(UTC)
    found = {
        row.id: (row, action)
        for row, action in session.execute(
            select(OutboxMessage, Action)
            .outerjoin(Action, Action.id == OutboxMessage.action_id)
            .where(OutboxMessage.id.in_(ids))
        )
    }
    outcomes: list[RetryOutcome] = []
    for id_ in dict.fromkeys(ids):
        if id_ not in found:
            why = "no such message (a forgotten person's unsent mail is deleted)"
            outcomes.append(RetryOutcome(id_, False, why))
            continue
        row, action = found[id_]
        if erased(row, action):
            why = "its content was erased by forget; there is nothing left to send"
            outcomes.append(RetryOutcome(id_, False, why))
            continue
        if row.status != OutboxStatus.FAILED:
            outcomes.append(RetryOutcome(id_, False, f"it is {row.status}, not failed"))
            continue
        # Only if still failed and not stripped: a worker or a forget may act meanwhile.
        result = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == id_,
                OutboxMessage.status == OutboxStatus.FAILED,
                OutboxMessage.text_body != "",
            )
            .values(status=OutboxStatus.QUEUED, attempts=0, next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
        done = cast("CursorResult[Any]", result).rowcount == 1
        outcomes.append(RetryOutcome(id_, done, "" if done else "it changed meanwhile"))
    session.commit()
    return outcomes
