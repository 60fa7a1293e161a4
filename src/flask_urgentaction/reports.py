"""What organisers read about delivery: a campaign's report, the outbox listing, retries.

Plain functions that query with GROUP BY (a campaign may have 100,000 actions) and
return dataclasses; cli.py only formats them. docs/operations.md says how to read them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, case, func, literal, or_, select, update
from sqlalchemy.orm import Session

from . import domain_pace, pacing, similarity, tallies
from .campaigns import count_actions
from .exports import ActionFilter
from .models import Action, Campaign, OutboxMessage, OutboxStatus, Target

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
    bounced: int = 0  # accepted, then reported undelivered by a DSN (bounces.py)
    last_bounce: Failure | None = None  # of the newest bounced message: why, in its error
    waiting_because: Failure | None = None  # of the newest waiting message that was tried
    # Held by the campaign's [delivery] rules, and why: "pacing", "hours", "cap",
    # "digest", or "due" (let out on the next run); until when, if it will end.
    held: int = 0
    held_reason: str = ""
    held_until: datetime | None = None
    # Supporters' messages carried by digests (mode "digest"); the digests
    # themselves count as messages under sent, queued, failed.
    digested: int = 0


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
    # Actions with a personal line or an edited message, of all (erased left out).
    personal: int = 0
    counted: int = 0
    # Supporter-written texts that are near copies of each other (similarity.py).
    near_duplicates: list[similarity.Group] = field(default_factory=list)
    # With a filter (``report --partner/--origin``) the action figures above,
    # partners and origins included, are those of the filtered actions only, out
    # of ``campaign_actions``; delivery and near copies stay the whole campaign's.
    only: ActionFilter | None = None
    campaign_actions: int = 0


def _target_rows(campaign_id: int) -> Any:
    """The campaign's mail to its targets, digests included. By address, not by
    target id: a target taken off the campaign leaves its rows without one."""
    targets = select(Target.id).where(Target.campaign_id == campaign_id)
    return (
        select(OutboxMessage)
        .outerjoin(Action, Action.id == OutboxMessage.action_id)
        .where(
            or_(
                and_(Action.campaign_id == campaign_id, OutboxMessage.kind == "target"),
                and_(OutboxMessage.kind == "digest", OutboxMessage.target_id.in_(targets)),
            )
        )
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


def _tally(session: Session, campaign_id: int, dimension: str, *criteria: Any) -> list[Tally]:
    """The campaign's actions per value of a ``tallies.COLUMNS`` dimension."""
    if not criteria:
        # The whole campaign: from its stored tallies (tallies.py).
        return [Tally(value, n) for value, n in tallies.counts(session, campaign_id, dimension)]
    column = tallies.COLUMNS[dimension]
    n = func.count().label("n")
    rows = session.execute(
        select(column, n)
        .where(Action.campaign_id == campaign_id, *criteria)
        .group_by(column)
        .order_by(n.desc(), column)
    )
    return [Tally(value, int(count)) for value, count in rows]


def _personal_only(session: Session, campaign_id: int, criteria: list[Any]) -> tuple[int, int]:
    """similarity.personal_share, of the filtered actions only."""
    own = case((tallies.SHARES["either"], 1), else_=0)
    kept = (Action.campaign_id == campaign_id, *tallies.KEPT)
    query = select(func.coalesce(func.sum(own), 0), func.count()).where(*kept, *criteria)
    personal, total = session.execute(query).one()
    return int(personal), int(total)


def campaign_report(
    session: Session,
    campaign: Campaign,
    now: datetime | None = None,
    only: ActionFilter | None = None,
) -> CampaignReport:
    """Delivery per target and actions per partner tag and origin, for ``campaign``;
    with ``only``, the action figures of those actions alone."""
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
    bounces = _newest(session, campaign.id, OutboxMessage.status == OutboxStatus.BOUNCED)
    addresses = {target.id: target.email for target in campaign.targets}
    for target_id, held in pacing.held(session, list(addresses)).items():
        entry = figures[addresses[target_id]] if target_id is not None else {}
        entry["held_reason"] = held.waiting.reason
        entry["held_until"] = held.waiting.until
    targets = [
        TargetDelivery(
            address=address,
            last_failure=failures.get(address),
            last_bounce=bounces.get(address),
            waiting_because=waits.get(address),
            **entry,
        )
        for address, entry in figures.items()
    ]
    # Read now: the campaign object may have been loaded before the latest actions.
    total = count_actions(session, campaign.id)
    actions = total
    chosen = only.criteria() if only else []
    if chosen:
        personal, counted = _personal_only(session, campaign.id, chosen)
        # Counted like the tallies: every stored action, erased ones too.
        where = (Action.campaign_id == campaign.id, *chosen)
        actions = int(session.scalar(select(func.count()).where(*where)) or 0)
    else:
        personal, counted = similarity.personal_share(session, campaign.id)
    partners, origins = action_tallies(session, campaign.id, only)
    return CampaignReport(
        slug=campaign.slug,
        status=campaign.status,
        actions=actions,
        generated_at=now,
        targets=targets,
        partners=partners,
        origins=origins,
        personal=personal,
        counted=counted,
        near_duplicates=similarity.near_duplicate_groups(session, campaign.id),
        only=only if chosen else None,
        campaign_actions=total,
    )


def action_tallies(
    session: Session, campaign_id: int, only: ActionFilter | None = None
) -> tuple[list[Tally], list[Tally]]:
    """The campaign's actions per partner tag and per origin, as ``campaign_report``
    counts them, without its delivery figures and near copies (for pages that
    show them often)."""
    chosen = only.criteria() if only else []
    return (
        _tally(session, campaign_id, "partner", *chosen),
        _tally(session, campaign_id, "origin", *chosen),
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def report_json(report: CampaignReport) -> dict[str, Any]:
    """The stable shape of ``report --json`` (docs/operations.md lists the keys)."""
    return {
        "campaign": report.slug,
        "status": report.status,
        "actions": report.actions,
        "generated_at": _iso(report.generated_at),
        "targets": [
            {
                "name": t.name,
                "address": t.address,
                "sent": t.sent,
                "queued_due": t.queued_due,
                "queued_waiting": t.queued_waiting,
                "next_attempt_at": _iso(t.next_attempt_at),
                "sending": t.sending,
                "failed": t.failed,
                "last_failure": t.last_failure and asdict(t.last_failure),
                "bounced": t.bounced,
                "last_bounce": t.last_bounce and asdict(t.last_bounce),
                "waiting_because": t.waiting_because and asdict(t.waiting_because),
                "held": t.held,
                "held_reason": t.held_reason or None,
                "held_until": _iso(t.held_until),
                "digested": t.digested,
            }
            for t in report.targets
        ],
        "personal": {"actions": report.personal, "of": report.counted},
        "near_duplicates": [
            {"size": g.size, "sample": g.sample, "action_ids": list(g.action_ids)}
            for g in report.near_duplicates
        ],
        "partners": [{"tag": p.value, "actions": p.actions} for p in report.partners],
        "origins": [{"origin": o.value, "actions": o.actions} for o in report.origins],
        "filter": report.only and {"partner_tag": report.only.partner_tag,
                                   "origin": report.only.origin},
        "campaign_actions": report.campaign_actions,
    }  # fmt: skip


def report_json_text(report: CampaignReport) -> str:
    """``report --json``'s output (without the final newline), as the dashboard's
    download has it too."""
    return json.dumps(report_json(report), indent=2, ensure_ascii=False)


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
    recipient_name: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True)
class OutboxListing:
    entries: list[OutboxEntry]  # the oldest first, at most the limit asked for
    total: int  # how many rows matched, listed or not


def outbox_listing(
    session: Session, failed_only: bool = False, limit: int | None = 100,
    campaign_id: int | None = None,
) -> OutboxListing:  # fmt: skip
    """Messages not sent yet (queued, sending, failed) and bounced ones, or only the
    failed and bounced ones; of every kind, or only one campaign's mail to its targets."""
    undelivered = (OutboxStatus.FAILED, OutboxStatus.BOUNCED)
    statuses = undelivered if failed_only else (*WAITING, *undelivered)
    matching: ColumnElement[bool] = OutboxMessage.status.in_(statuses)
    if campaign_id is not None:
        matching = and_(matching, OutboxMessage.id.in_(_ids(_target_rows(campaign_id))))
    total = session.scalar(select(func.count()).where(matching)) or 0
    # The columns only: bodies stay in the database.
    query = (
        select(
            OutboxMessage.id, OutboxMessage.kind, OutboxMessage.recipient, OutboxMessage.status,
            OutboxMessage.attempts, OutboxMessage.next_attempt_at, OutboxMessage.last_reply,
            OutboxMessage.last_error, OutboxMessage.recipient_name, OutboxMessage.created_at,
        )
        .where(matching)
        .order_by(OutboxMessage.id)
        .limit(limit)
    )  # fmt: skip
    # The columns are named as the fields.
    entries = [OutboxEntry(**row._asdict()) for row in session.execute(query)]
    return OutboxListing(entries, int(total))


def _ids(rows: Any) -> Any:
    return rows.with_only_columns(OutboxMessage.id)


def campaign_messages(session: Session, campaign_id: int, ids: Sequence[int]) -> set[int]:
    """Those of ``ids`` that are the campaign's mail to its targets."""
    query = _ids(_target_rows(campaign_id)).where(OutboxMessage.id.in_(ids))
    return set(session.scalars(query))


def failed_ids(session: Session, campaign_id: int, address: str | None = None) -> list[int]:
    """The campaign's failed mail to its targets (to ``address`` alone, if given)."""
    query = _ids(_target_rows(campaign_id)).where(OutboxMessage.status == OutboxStatus.FAILED)
    if address is not None:
        query = query.where(OutboxMessage.recipient == address)
    return list(session.scalars(query.order_by(OutboxMessage.id)))


def status_totals(session: Session) -> dict[OutboxStatus, int]:
    """The whole outbox's messages by status, every kind and campaign."""
    rows = session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    )
    return {OutboxStatus(status): int(count) for status, count in rows}


def oldest_due(session: Session, now: datetime | None = None) -> datetime | None:
    """Since when the message due the longest has been due; None when none is."""
    now = now or datetime.now(UTC)
    return session.scalar(
        select(func.min(OutboxMessage.next_attempt_at)).where(
            OutboxMessage.status == OutboxStatus.QUEUED, OutboxMessage.next_attempt_at <= now
        )
    )


@dataclass(frozen=True)
class WaitGroup:
    """Messages not sent yet that wait for the same reason."""

    # "new" (never tried), "sending", "no reply", an SMTP code like "451", or for
    # held mail the delivery rule it waits for: "pacing", "hours", "cap", "digest",
    # or for alerts "domains" (the pace per recipient domain).
    reason: str
    count: int
    next_attempt_at: datetime | None  # the earliest of them; None for "sending" and "cap"


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
    rules: dict[str, WaitGroup] = {}
    for held in pacing.held(session).values():
        why, until = held.waiting.reason, held.waiting.until
        kept = rules.get(why)
        if kept is not None:
            soonest = min((t for t in (kept.next_attempt_at, until) if t), default=None)
            until, held_count = soonest, kept.count + held.count
        else:
            held_count = held.count
        rules[why] = WaitGroup(why, held_count, until)
    groups += rules.values()
    alerts = domain_pace.held(session)
    if alerts.count:
        groups.append(WaitGroup("domains", alerts.count, alerts.until))
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(groups, key=lambda g: (g.next_attempt_at or far, g.reason))


@dataclass(frozen=True)
class RetryOutcome:
    id: int
    requeued: bool
    reason: str  # why it was refused; "" when requeued
    # The same as a word: "missing", "erased", "status" (then ``status`` says
    # which), "changed"; "" when requeued.
    refusal: str = ""
    status: str = ""


def erased(row: OutboxMessage, action: Action | None) -> bool:
    """Whether ``forget`` stripped the row's content (erasure.py): nothing left to send."""
    return row.text_body == "" or (action is not None and action.erased_at is not None)


def retry(
    session: Session, ids: Sequence[int], now: datetime | None = None, commit: bool = True
) -> list[RetryOutcome]:
    """Put failed rows back to queued, due now, with their attempts reset to 0 (so a
    row that ran out of attempts gets the whole backoff again). Refuses rows that are
    missing, not failed, or whose content was erased. With ``commit`` false the
    caller commits (with its own record of the retry)."""
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
            outcomes.append(RetryOutcome(id_, False, why, "missing"))
            continue
        row, action = found[id_]
        if erased(row, action):
            why = "its content was erased by forget; there is nothing left to send"
            outcomes.append(RetryOutcome(id_, False, why, "erased"))
            continue
        if row.status != OutboxStatus.FAILED:
            why = f"it is {row.status}, not failed"
            outcomes.append(RetryOutcome(id_, False, why, "status", str(row.status)))
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
        outcomes.append(
            RetryOutcome(id_, done, "" if done else "it changed meanwhile",
                         "" if done else "changed")
        )  # fmt: skip
    if commit:
        session.commit()
    return outcomes
