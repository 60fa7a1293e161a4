"""A campaign's actions counted once, for the dashboard's figures.

The overview shows a campaign's actions per day, country, partner tag and origin,
and how many were written in the supporters' own words. Counted from the actions
on every view, each of these grows with the campaign. ``ua_action_tallies`` keeps
them counted up to the campaign's ``tallied_through`` (an action id), and a figure
is read as those rows plus the same count of the actions after that id, in one
statement: exact whatever runs beside it, and only the newest actions are read.

A fold moves the actions after ``tallied_through`` into the rows once ``THRESHOLD``
are waiting, at most ``CHUNK`` in one short transaction (a view of the overview
folds, for ``BUDGET`` seconds at most):

- On PostgreSQL an action with a lower id may commit after one with a higher id,
  so a fold first takes ``LOCK TABLE ua_actions IN SHARE ROW EXCLUSIVE MODE``: it
  waits for the transactions writing actions to end, holds new ones off for its
  few milliseconds, and keeps two folds apart.
- On SQLite its first statement is a write, so it holds the write lock and reads
  the latest state (a transaction that reads first and writes later may find its
  snapshot stale).

A fold that cannot have its lock soon gives up and is rolled back; the figures
stay exact without it. Erasure keeps an action's day, country, partner tag and
origin, so only the ``share`` rows change: :func:`unfold_erased`, in the erasing
transaction. Migration 0016 counts the actions stored before it.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Insert,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from .models import Action, ActionTally, Campaign

# A fold starts once this many actions wait; it folds at most CHUNK in one
# transaction, and a page view folds for at most BUDGET seconds (the rest is
# counted directly). A fold waits at most LOCK_WAIT_MS for its lock.
THRESHOLD = 1000
CHUNK = 10_000
BUDGET = 5.0
LOCK_WAIT_MS = 500

log = logging.getLogger(__name__)


class utc_day(FunctionElement[str]):
    """``YYYY-MM-DD``: the day in UTC of a stored time, on each backend."""

    type = String()
    name = "utc_day"
    inherit_cache = True


@compiles(utc_day)
def _utc_day_sqlite(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps times as text in UTC, "2026-12-02 10:00:00.000000".
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 10)"


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # Literal, not bound: PostgreSQL groups by it only if both places read the same.
    return f"to_char({compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


# The figures counted per value.
COLUMNS: dict[str, ColumnElement[str] | InstrumentedAttribute[str]] = {
    "day": utc_day(Action.created_at),
    "country": Action.country,
    "partner": Action.partner_tag,
    "origin": Action.source_origin,
}
_PERSONAL = Action.personal != ""
# The ``share`` keys but "kept": of the actions not erased (as similarity.personal_share).
SHARES: dict[str, ColumnElement[bool]] = {
    "personal": _PERSONAL,
    "edited": Action.edited.is_(True),
    "either": or_(_PERSONAL, Action.edited.is_(True)),
}
KEPT = (Action.email_key.is_not(None), Action.erased_at.is_(None))
SHARE_KEYS = (*SHARES, "kept")


_CAMPAIGN = Action.campaign_id == bindparam("campaign_id")
_THROUGH = (
    select(Campaign.tallied_through)
    .where(Campaign.id == bindparam("campaign_id"))
    .scalar_subquery()
)
# The campaign's actions not folded yet, as of the statement this is used in (the
# stored rows and tallied_through are read in it too, so a fold committed meanwhile
# is either wholly seen or not at all). ``hint``, tallied_through read just before,
# only tells the planner how few rows follow it (a fold only ever raises it).
_UNFOLDED = (_CAMPAIGN, Action.id > bindparam("hint"), Action.id > _THROUGH)
# The ids picked from the index on campaign and id: no planner then prefers an index
# covering the whole campaign (SQLite has no statistics to tell it how large it is).
_AFTER = Action.id.in_(select(Action.id).where(*_UNFOLDED))
_HINT = select(Campaign.tallied_through).where(Campaign.id == bindparam("campaign_id"))


def _params(session: Session | Connection, campaign_id: int) -> dict[str, Any]:
    hint = session.execute(_HINT, {"campaign_id": campaign_id}).scalar()
    return {"campaign_id": campaign_id, "hint": hint or 0}


@cache
def _counts_statement(dimension: str, since: bool) -> Select[Any]:
    column = COLUMNS[dimension]
    mine = (ActionTally.campaign_id == bindparam("campaign_id"),
            ActionTally.dimension == dimension)  # fmt: skip
    stored = select(ActionTally.key.label("key"), ActionTally.n.label("n")).where(*mine)
    fresh = select(column.label("key"), func.count().label("n")).where(_AFTER)
    if since:
        stored = stored.where(ActionTally.key >= bindparam("since"))
        fresh = fresh.where(column >= bindparam("since"))
    both = union_all(stored, fresh.group_by(column)).subquery()
    n = func.sum(both.c.n)
    # Ordered by the database, as a GROUP BY over the actions was (its collation).
    return select(both.c.key, n).group_by(both.c.key).order_by(n.desc(), both.c.key)


def counts(
    session: Session, campaign_id: int, dimension: str, since: str | None = None
) -> list[tuple[str, int]]:
    """The campaign's actions per value of ``dimension`` (``day``, ``country``,
    ``partner``, ``origin``), most first, then by value; with ``since``, only the
    values from it on (days: ``YYYY-MM-DD``)."""
    params = _params(session, campaign_id) | {"since": since}
    rows = session.execute(_counts_statement(dimension, since is not None), params)
    return [(str(key), int(count)) for key, count in rows if count]


@cache
def _shares_statement() -> Select[Any]:
    def stored(key: str) -> Any:
        found = select(ActionTally.n).where(
            ActionTally.campaign_id == bindparam("campaign_id"),
            ActionTally.dimension == "share",
            ActionTally.key == key,
        )
        return func.coalesce(found.scalar_subquery(), 0)

    counted = [
        stored(key) + func.coalesce(func.sum(case((condition, 1), else_=0)), 0)
        for key, condition in SHARES.items()
    ]
    return select(*counted, stored("kept") + func.count()).where(_AFTER, *KEPT)


def shares(session: Session, campaign_id: int) -> dict[str, int]:
    """Of the campaign's actions not erased: those with a personal line
    (``personal``), an edited message (``edited``), either, and all (``kept``)."""
    row = session.execute(_shares_statement(), _params(session, campaign_id)).one()
    return dict(zip(SHARE_KEYS, (int(value) for value in row), strict=True))


# -- folding --


_WAITING = (
    select(Action.id).where(*_UNFOLDED).order_by(Action.id).offset(bindparam("skip")).limit(1)
)


def waiting(connection: Connection | Session, campaign_id: int, at_least: int) -> bool:
    """Whether at least ``at_least`` of the campaign's actions are not folded yet
    (a range of the index on campaign and id, never more than ``at_least`` long)."""
    params = _params(connection, campaign_id) | {"skip": at_least - 1}
    return connection.execute(_WAITING, params).first() is not None


def fold(engine: Engine, campaign_id: int, budget: float = BUDGET) -> int:
    """Fold the campaign's waiting actions if ``THRESHOLD`` or more wait, a chunk
    per transaction, for about ``budget`` seconds at most; how many were folded.
    Never raises for a lock it could not have: the figures are exact without it."""
    upsert = _upsert(engine.dialect.name)
    if upsert is None:
        return 0
    folded = 0
    began = time.monotonic()
    with engine.connect() as connection:
        more = waiting(connection, campaign_id, THRESHOLD)
        connection.rollback()
        if not more:
            return 0
        sqlite_wait = _short_busy_timeout(connection)
        try:
            while more and (folded == 0 or time.monotonic() - began < budget):
                try:
                    done = fold_chunk(connection, campaign_id, upsert)
                    connection.commit()
                except DBAPIError as exc:
                    connection.rollback()
                    log.warning("campaign %s: tallies not folded now: %s", campaign_id, exc.orig)
                    break
                folded += done
                more = done > 0 and waiting(connection, campaign_id, THRESHOLD)
                connection.rollback()
        finally:
            if sqlite_wait is not None:
                connection.exec_driver_sql(f"PRAGMA busy_timeout={sqlite_wait}")
                connection.rollback()
    return folded


def fold_chunk(connection: Connection, campaign_id: int, upsert: Insert) -> int:
    """Fold up to ``CHUNK`` of the campaign's waiting actions in the transaction
    ``connection`` is in (the caller commits); how many were folded."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_WAIT_MS}ms'")
        connection.exec_driver_sql("LOCK TABLE ua_actions IN SHARE ROW EXCLUSIVE MODE")
    else:
        # A write first: SQLite's write lock, and the latest state to read.
        connection.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(tallied_through=Campaign.tallied_through)
        )
    through = connection.scalar(select(Campaign.tallied_through).where(Campaign.id == campaign_id))
    if through is None:
        return 0
    after = (Action.campaign_id == campaign_id, Action.id > through)
    upper = connection.scalar(
        select(Action.id).where(*after).order_by(Action.id).offset(CHUNK - 1).limit(1)
    ) or connection.scalar(select(func.max(Action.id)).where(*after))
    if upper is None:
        return 0
    # One pass over the chunk's rows, found through the index on campaign and id
    # (a GROUP BY of one figure would rather read an index covering the whole
    # campaign), grouped by every figure at once: fewer groups than rows.
    values = [*COLUMNS.values(), *SHARES.values(), and_(*KEPT)]
    counted: Counter[tuple[str, str]] = Counter()
    for day, country, partner, origin, *shares, n in connection.execute(
        select(*values, func.count()).where(*after, Action.id <= upper).group_by(*values)
    ):
        for dimension, key in (("day", day), ("country", country), ("partner", partner),
                               ("origin", origin)):  # fmt: skip
            counted[dimension, str(key)] += n
        if shares[-1]:
            for key, yes in zip(SHARE_KEYS, shares, strict=True):
                counted["share", key] += n if yes else 0
    rows = [{"campaign_id": campaign_id, "dimension": dimension, "key": key, "n": n}
            for (dimension, key), n in sorted(counted.items()) if n]  # fmt: skip
    if rows:
        connection.execute(upsert, rows)
    connection.execute(
        update(Campaign).where(Campaign.id == campaign_id).values(tallied_through=upper)
    )
    return sum(n for (dimension, _key), n in counted.items() if dimension == "day")


def _upsert(dialect: str) -> Insert | None:
    """Add to a tally row, or insert it (None where there is no upsert: no folding)."""
    if dialect not in ("postgresql", "sqlite"):
        return None
    table = cast(Table, ActionTally.__table__)
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return insert.on_conflict_do_update(
        index_elements=[table.c.campaign_id, table.c.dimension, table.c.key],
        set_={"n": table.c.n + insert.excluded.n},
    )


def _short_busy_timeout(connection: Connection) -> int | None:
    """On SQLite, wait ``LOCK_WAIT_MS`` for the write lock rather than the usual long
    wait; the wait it had, to be set back."""
    if connection.dialect.name != "sqlite":
        return None
    usual = int(connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one())
    connection.exec_driver_sql(f"PRAGMA busy_timeout={LOCK_WAIT_MS}")
    connection.rollback()
    return usual


# -- erasure --


def unfold_erased(session: Session, action_ids: list[int]) -> None:
    """Take actions about to be erased out of the ``share`` rows they were folded
    into: in the erasing transaction, before they are stripped, after its first
    write (on SQLite that write holds the lock, so no fold runs in between)."""
    if session.get_bind().dialect.name == "postgresql":
        # Waits for a fold running now, and keeps the next one out until the commit.
        session.execute(text("LOCK TABLE ua_actions IN ROW EXCLUSIVE MODE"))
    rows = session.execute(
        select(Action.campaign_id, _PERSONAL, Action.edited)
        .join(Campaign, Campaign.id == Action.campaign_id)
        .where(Action.id.in_(action_ids), Action.id <= Campaign.tallied_through, *KEPT)
        # An action erased by two at once is taken out by the first only.
        .with_for_update(of=Action)
    )
    taken: Counter[tuple[int, str]] = Counter()
    for campaign_id, personal, edited in rows:
        found = {"personal": bool(personal), "edited": bool(edited),
                 "either": bool(personal or edited), "kept": True}  # fmt: skip
        for key, counted in found.items():
            if counted:
                taken[campaign_id, key] += 1
    for (campaign_id, key), n in sorted(taken.items()):
        session.execute(
            update(ActionTally)
            .where(ActionTally.campaign_id == campaign_id, ActionTally.dimension == "share",
                   ActionTally.key == key)
            .values(n=ActionTally.n - n)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
