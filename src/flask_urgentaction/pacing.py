"""Gentle delivery: a campaign's [delivery] rules, and releasing held mail by them.

A campaign with rules queues its target messages as ``held``. Before each claim
the sender calls :func:`release`, which, per target with held mail, lets out
what the rules allow now and keeps the rest held with its reason:

- ``per_target_per_hour``: one message every ``3600 / N`` seconds, so the
  target's server sees an even trickle instead of a burst at the top of the hour;
- ``hours`` in ``timezone`` (the target's own, or the campaign's): only inside
  that window of local time, so a change of daylight-saving time moves it with
  the clock on the target's wall;
- ``cap``: after that many messages to one target, the rest stay held (actions
  still count; raising the cap lets them go);
- ``mode = "digest"``: once an hour, the held messages to a target become one
  message that lists the supporters and the lines each added.

Every worker shares one pace per target: a release is a compare-and-set UPDATE
of the target's ``released`` count (and its ``next_send_at``), so two workers
never both take the same slot, on PostgreSQL or SQLite.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from difflib import get_close_matches
from functools import lru_cache
from typing import Any, cast
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from . import clock
from .models import Campaign, OutboxMessage, OutboxStatus, Target

HOURS_RE = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d-(?:(?:[01]\d|2[0-3]):[0-5]\d|24:00)$")
MODES = ("each", "digest")
KEYS = {"per_target_per_hour", "cap", "hours", "timezone", "mode"}
# A digest goes to each target at most this often.
DIGEST_PERIOD = timedelta(hours=1)
# The most supporters one digest lists; more wait for the next one.
DIGEST_MAX = 500
# The most held messages released to one target at once (no pace, or catching up).
RELEASE_BATCH = 1000


class RulesError(ValueError):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}" if key else problem)
        self.key, self.problem = key, problem


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    return {name.casefold(): name for name in available_timezones()}


@lru_cache(maxsize=512)
def zone_name(name: object) -> str | None:
    """The IANA time zone ``name`` stands for, or None.

    Case is forgiven, and so is a slip with exactly one close match in its area
    ("Europe/Tirana" is the zone the database spells "Europe/Tirane").
    """
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        return None
    zones = _zones()
    key = name.strip().casefold()
    if key in zones:
        return zones[key]
    area = key.partition("/")[0]
    close = get_close_matches(key, [z for z in zones if z.partition("/")[0] == area], 2, 0.85)
    return zones[close[0]] if len(close) == 1 else None


ZONE_PROBLEM = "not a time zone name like Europe/Berlin (see the IANA time zone database)"


def check_rules(data: object) -> dict[str, Any] | None:
    """A [delivery] table checked and normalised (None when it asks for nothing)."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise RulesError("", "must be a table")
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise RulesError(unknown[0], "unknown key")
    clean: dict[str, Any] = {}
    for key, limit in (("per_target_per_hour", 360_000), ("cap", 10**9)):
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
            raise RulesError(key, f"must be a whole number from 1 to {limit}")
        clean[key] = value
    hours = data.get("hours")
    if hours is not None:
        match = HOURS_RE.match(hours) if isinstance(hours, str) else None
        if match is None or hours[:5] == hours[6:]:
            raise RulesError("hours", 'must look like "08:00-18:00" (it may wrap past midnight)')
        clean["hours"] = hours
    if data.get("timezone") is not None:
        zone = zone_name(data["timezone"])
        if zone is None:
            raise RulesError("timezone", ZONE_PROBLEM)
        clean["timezone"] = zone
    mode = data.get("mode", "each")
    if mode not in MODES:
        raise RulesError("mode", 'must be "each" or "digest"')
    if mode != "each":
        clean["mode"] = mode
    return clean or None


@dataclass(frozen=True)
class Rules:
    per_hour: int | None = None
    cap: int | None = None
    hours: tuple[time, time] | None = None
    zone: str = "UTC"
    digest: bool = False

    @classmethod
    def of(cls, delivery: Mapping[str, Any] | None, target_zone: str | None = None) -> Rules:
        delivery = delivery or {}
        hours = delivery.get("hours")
        window = None
        if hours:
            start, end = hours.split("-")
            window = (_clock_time(start), _clock_time(end))
        return cls(
            per_hour=delivery.get("per_target_per_hour"),
            cap=delivery.get("cap"),
            hours=window,
            zone=target_zone or delivery.get("timezone") or "UTC",
            digest=delivery.get("mode") == "digest",
        )

    @property
    def interval(self) -> timedelta | None:
        """The time between two messages to one target, if paced."""
        if self.digest:
            return DIGEST_PERIOD
        return timedelta(seconds=3600 / self.per_hour) if self.per_hour else None

    def opens(self, now: datetime) -> datetime | None:
        """None when ``now`` is inside the sending hours; else when they next open."""
        if self.hours is None:
            return None
        zone = ZoneInfo(self.zone)
        local = now.astimezone(zone)
        start, end = self.hours
        of_day = local.time().replace(tzinfo=None)
        inside = start <= of_day < end if start < end else of_day >= start or of_day < end
        if inside:
            return None
        day = local.date()
        # Wall-clock times in the zone, so the window follows daylight-saving time.
        opening = datetime.combine(day, start, tzinfo=zone)
        if opening <= now:
            opening = datetime.combine(day + timedelta(days=1), start, tzinfo=zone)
        return opening.astimezone(UTC)


def _clock_time(text: str) -> time:
    hour, minute = int(text[:2]), int(text[3:])
    return time.max if hour == 24 else time(hour, minute)


def governed(delivery: Mapping[str, Any] | None) -> bool:
    """Whether a campaign's target mail waits for :func:`release` (held) at all."""
    return bool(delivery)


@dataclass(frozen=True)
class Waiting:
    """Why a target's held mail waits now: "cap", "hours" or "pacing", and until when."""

    reason: str
    until: datetime | None


def why_held(rules: Rules, released: int, next_send_at: datetime | None, now: datetime) -> Waiting:
    if rules.cap is not None and released >= rules.cap:
        return Waiting("cap", None)
    opens = rules.opens(now)
    if opens is not None:
        return Waiting("hours", max(opens, next_send_at) if next_send_at else opens)
    if next_send_at is not None and next_send_at > now:
        return Waiting("digest" if rules.digest else "pacing", next_send_at)
    return Waiting("due", None)


def release(session: Session, campaign_ids: Iterable[int] | None = None) -> list[int]:
    """Let out what the rules allow now, for every target with held mail (or the
    targets of ``campaign_ids``); the ids of the rows that became due to send."""
    now = clock.now()
    query = (
        select(OutboxMessage.target_id)
        .where(OutboxMessage.status == OutboxStatus.HELD, OutboxMessage.kind == "target")
        .group_by(OutboxMessage.target_id)
    )
    if campaign_ids is not None:
        query = query.join(Target, Target.id == OutboxMessage.target_id).where(
            Target.campaign_id.in_(list(campaign_ids))
        )
    target_ids = list(session.scalars(query))
    session.commit()
    released: list[int] = []
    for target_id in target_ids:
        released += _release_target(session, target_id, now)
    return released


def _release_target(session: Session, target_id: int | None, now: datetime) -> list[int]:
    row = None
    if target_id is not None:
        row = session.execute(
            select(Target.released, Target.next_send_at, Target.timezone, Campaign.delivery)
            .join(Campaign, Campaign.id == Target.campaign_id)
            .where(Target.id == target_id)
        ).first()
    if target_id is None or row is None or not governed(row.delivery):
        # The target was taken off its campaign, or its rules were: nothing
        # governs this mail any more, and it goes as it was written.
        return _let_out(session, target_id, RELEASE_BATCH, now)
    count, next_send_at, zone, delivery = row
    rules = Rules.of(delivery, zone)
    if why_held(rules, count, next_send_at, now).reason != "due":
        session.commit()
        return []
    interval = rules.interval
    allowed = RELEASE_BATCH
    if rules.cap is not None:
        allowed = min(allowed, rules.cap - count)
    if interval is not None:
        if next_send_at is None and rules.digest:
            # The first digest collects for a period before it goes.
            if _take(session, target_id, count, next_send_at, 0, now + interval):
                session.commit()
            return []
        # Slots every interval from the next free one, no earlier than one
        # interval ago: a pause is not made up for with a burst.
        start = max(next_send_at or now, now - interval)
        allowed = min(allowed, int((now - start) / interval) + 1)
    if rules.digest:
        return _digest(session, target_id, count, next_send_at, now, cast(timedelta, interval))
    ids = _held(session, target_id, allowed)
    if not ids:
        session.commit()
        return []
    if interval is not None:
        start = max(next_send_at or now, now - interval)
        following = start + interval * len(ids)
    else:
        following = next_send_at
    if not _take(session, target_id, count, next_send_at, len(ids), following):
        session.rollback()  # another worker released first; its slots stand
        return []
    queue_held(session, ids, now)
    session.commit()
    return ids


def _held(session: Session, target_id: int | None, limit: int) -> list[int]:
    return list(
        session.scalars(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.target_id == target_id
                if target_id is not None
                else OutboxMessage.target_id.is_(None),
                OutboxMessage.status == OutboxStatus.HELD,
                OutboxMessage.kind == "target",
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
    )


def _take(
    session: Session, target_id: int, count: int, next_send_at: datetime | None,
    taken: int, following: datetime | None,
) -> bool:  # fmt: skip
    """Compare-and-set: count ``taken`` more messages released to the target, if no
    other worker released any since ``count`` was read."""
    result = session.execute(
        update(Target)
        .where(Target.id == target_id, Target.released == count)
        .values(released=count + taken, next_send_at=following)
        .execution_options(synchronize_session=False)
    )
    return cast("CursorResult[Any]", result).rowcount == 1


def queue_held(session: Session, ids: list[int], now: datetime) -> None:
    """Make the held rows of ``ids`` due to send at ``now``."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.HELD)
        .values(status=OutboxStatus.QUEUED, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )


def _let_out(session: Session, target_id: int | None, limit: int, now: datetime) -> list[int]:
    ids = _held(session, target_id, limit)
    if ids:
        queue_held(session, ids, now)
    session.commit()
    return ids


def _digest(
    session: Session, target_id: int, count: int, next_send_at: datetime | None,
    now: datetime, interval: timedelta,
) -> list[int]:  # fmt: skip
    from .digest import digest_message  # digest.py renders mail, which needs this module

    ids = _held(session, target_id, DIGEST_MAX)
    following = max(next_send_at or now, now - interval) + interval
    if not ids:
        session.commit()
        return []
    if not _take(session, target_id, count, next_send_at, 1, following):
        session.rollback()
        return []
    digest = digest_message(session, target_id, ids)
    digest.next_attempt_at = now
    session.add(digest)
    session.flush()
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.HELD)
        .values(status=OutboxStatus.DIGESTED, digest_id=digest.id)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return [digest.id]


@dataclass(frozen=True)
class Held:
    """A target's held mail: how many, and why it waits now."""

    count: int
    waiting: Waiting


def held(session: Session, target_ids: Iterable[int] | None = None) -> dict[int | None, Held]:
    """Held target messages per target (of ``target_ids``, or every target), with why."""
    counted = select(OutboxMessage.target_id, func.count().label("n")).where(
        OutboxMessage.status == OutboxStatus.HELD, OutboxMessage.kind == "target"
    )
    if target_ids is not None:
        counted = counted.where(OutboxMessage.target_id.in_(list(target_ids)))
    counts = counted.group_by(OutboxMessage.target_id).subquery()
    # Counted first, then joined: PostgreSQL cannot group by a JSON column.
    query = (
        select(
            counts.c.target_id, counts.c.n, Target.released, Target.next_send_at,
            Target.timezone, Campaign.delivery,
        )
        .outerjoin(Target, Target.id == counts.c.target_id)
        .outerjoin(Campaign, Campaign.id == Target.campaign_id)
    )  # fmt: skip
    now = clock.now()
    found: dict[int | None, Held] = {}
    for target_id, count, released, next_send_at, zone, delivery in session.execute(query):
        rules = Rules.of(delivery, zone)
        if target_id is None or not governed(delivery):
            waiting = Waiting("due", None)
        else:
            waiting = why_held(rules, released, next_send_at, now)
        found[target_id] = Held(int(count), waiting)
    return found
