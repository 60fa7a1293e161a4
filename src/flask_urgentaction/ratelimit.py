"""The submission rate limit: limits per client, counted where every worker sees them.

By default the counts live in the extension's own database, so all worker
processes of one machine (and all nodes that share one PostgreSQL database)
count against one limit. ``URGENTACTION_RATE_LIMIT_STORAGE_URI`` may name a
store of the ``limits`` library instead, such as Redis.

Client keys are not stored: the counts are keyed by a keyed hash of the client
key, and forgotten once the window has passed.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from flask import current_app, request
from limits import RateLimitItem, parse_many
from limits.storage import MovingWindowSupport, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from sqlalchemy import Connection, bindparam, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import ReturningInsert

from .models import RateLimitWindow
from .storage import get_storage

KeyFunction = Callable[[], str]
KeyFunctionT = TypeVar("KeyFunctionT", bound=KeyFunction)

# Expired rows deleted at most per sweep, so no submission waits on a big cleanup.
SWEEP_BATCH = 500


def remote_address() -> str:
    """The default client key: the address the request came from."""
    return request.remote_addr or ""


class Counter(Protocol):
    # Whether a count made on a caller's connection is undone by its rollback.
    in_database: bool

    def hit(
        self, items: Sequence[RateLimitItem], key: str, connection: Connection | None = None
    ) -> int | None: ...

    def reset(self) -> None: ...


class RateLimiter:
    """The configured limits (``"10 per minute; 100 per hour"``) and where they count.

    ``storage_uri`` None (or empty) counts in the extension's database; any
    other value is a ``limits`` storage URI (``"redis://host:6379"``).
    """

    def __init__(self, limits: str, storage_uri: str | None = None) -> None:
        self.items: list[RateLimitItem] = parse_many(limits)
        self.counter: Counter = StoreCounter(storage_uri) if storage_uri else DatabaseCounter()

    def client_key(self) -> str:
        """A keyed hash of the current request's client key, never the key itself."""
        state = current_app.extensions["urgentaction"]
        key_function: KeyFunction = state.extension.rate_limit_key_function or remote_address
        secret = str(current_app.config["SECRET_KEY"]).encode()
        digest = hmac.new(secret, str(key_function()).encode(), hashlib.sha256)
        return "ua:" + digest.hexdigest()[:24]

    @property
    def in_database(self) -> bool:
        """Whether the counts live in the extension's database (and so in its transactions)."""
        return self.counter.in_database

    def hit(self, connection: Connection | None = None) -> int | None:
        """Count one submission against every limit.

        Returns None when it may go ahead, else the seconds to wait; a refused
        submission is counted against none of the limits. With ``connection``, a
        transaction of the caller's, a database count is made in it: it stands
        or falls with what the caller stores, and on a refusal the caller rolls
        back. Without, the count is a transaction of its own.
        """
        return self.counter.hit(self.items, self.client_key(), connection)

    def reset(self) -> None:
        """Forget every count."""
        self.counter.reset()


class DatabaseCounter:
    """Counts in the extension's database: one row per client key and limit.

    A window opens at a client's first counted submission and lasts the limit's
    period (a fixed window, as ``limits`` counts them). A submission
    counts against every limit at once, with an atomic upsert per limit, so
    concurrent processes never lose a count: in the transaction that stores the
    action (one commit for both), or, for a submission refused before it is
    stored, in a short transaction of its own.
    """

    in_database = True

    def hit(
        self, items: Sequence[RateLimitItem], key: str, connection: Connection | None = None
    ) -> int | None:
        if connection is not None:
            return _count_all(connection, items, key)
        with get_storage().engine.connect() as own:
            if own.dialect.name == "sqlite":
                # Take the write lock up front; waits up to the busy timeout.
                own.exec_driver_sql("BEGIN IMMEDIATE")
            wait = _count_all(own, items, key)
            if wait is None:
                own.commit()
            else:
                own.rollback()
        return wait

    def reset(self) -> None:
        with get_storage().engine.begin() as connection:
            connection.execute(delete(RateLimitWindow))


def _count_all(connection: Connection, items: Sequence[RateLimitItem], key: str) -> int | None:
    """Count ``key`` against every limit on ``connection``: the seconds to wait when
    one refuses (the caller rolls back then), else None (the caller commits)."""
    # Read as the transaction's first write begins, so windows open in about the
    # order they count.
    now = datetime.now(UTC)
    ends: list[datetime] = []
    opened = False
    for item in items:
        hits, expires_at = count(connection, item, key, now)
        opened = opened or hits == 1
        if hits > item.amount:
            ends.append(expires_at)
    if ends:
        # The clock again: on PostgreSQL the upsert may have waited for a row
        # whose window another request opened after ``now``.
        wait = (max(ends) - datetime.now(UTC)).total_seconds()
        return max(1, math.ceil(wait))
    if opened:
        # A new window per client per period: often enough to keep the table small.
        sweep(connection, now)
    return None


@functools.cache
def _upsert(dialect: str) -> ReturningInsert[int, datetime]:
    """The counting statement, built once per dialect (its parameters: key, now, expires_at)."""
    if dialect == "postgresql":
        insert = postgresql.insert
    elif dialect == "sqlite":
        insert = sqlite.insert  # type: ignore[assignment]
    else:
        raise RuntimeError(
            f"The rate limit cannot count in a {dialect} database: set "
            "URGENTACTION_RATE_LIMIT_STORAGE_URI (e.g. redis://...)."
        )
    row = insert(RateLimitWindow).values(
        key=bindparam("key"), hits=1, expires_at=bindparam("expires_at")
    )
    ended = RateLimitWindow.expires_at <= bindparam("now")
    return row.on_conflict_do_update(
        index_elements=[RateLimitWindow.key],
        set_={
            "hits": case((ended, 1), else_=RateLimitWindow.hits + 1),
            "expires_at": case((ended, row.excluded.expires_at), else_=RateLimitWindow.expires_at),
        },
    ).returning(RateLimitWindow.hits, RateLimitWindow.expires_at)


def count(
    connection: Connection, item: RateLimitItem, key: str, now: datetime
) -> tuple[int, datetime]:
    """Add one to ``key``'s count under ``item``; returns the count and its window's end.

    One statement: ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` (SQLite
    3.35 or later, PostgreSQL), which starts a new window if the old one has ended.
    """
    statement = _upsert(connection.dialect.name)
    period = item.get_expiry()
    values = {"key": f"{key}:{item.amount}/{period}", "now": now,
              "expires_at": now + timedelta(seconds=period)}  # fmt: skip
    hits, expires_at = connection.execute(statement, values).one()
    return int(hits), expires_at


def sweep(connection: Connection, now: datetime) -> None:
    """Delete rows whose window has ended.

    On PostgreSQL, rows another transaction holds are skipped rather than
    waited for, so two sweeps never deadlock with each other or a count.
    """
    ended = (
        select(RateLimitWindow.key)
        .where(RateLimitWindow.expires_at <= now)
        .limit(SWEEP_BATCH)
        .with_for_update(skip_locked=True)
    )
    connection.execute(delete(RateLimitWindow).where(RateLimitWindow.key.in_(ended)))


class StoreCounter:
    """Counts in a store of the ``limits`` library (Redis, Memcached, memory)."""

    def __init__(self, uri: str) -> None:
        storage = storage_from_string(uri)
        # An "async+..." URI gives an asyncio store that these sync views cannot use.
        if not isinstance(storage, Storage):
            raise ValueError(f"{uri!r}: the rate limit needs a synchronous store")
        self.storage: Storage = storage
        self.limiter: MovingWindowRateLimiter | FixedWindowRateLimiter = (
            MovingWindowRateLimiter(storage)
            if isinstance(storage, MovingWindowSupport)
            else FixedWindowRateLimiter(storage)
        )

    # Counts here stay whatever the caller's transaction does.
    in_database = False

    def hit(
        self, items: Sequence[RateLimitItem], key: str, connection: Connection | None = None
    ) -> int | None:
        # Test every limit first, so that a refused submission counts against
        # none; each hit is still atomic, should another process come between.
        refused = [item for item in items if not self.limiter.test(item, key)]
        if not refused:
            refused = [item for item in items if not self.limiter.hit(item, key)]
            if not refused:
                return None
        return max(self.wait(item, key) for item in refused)

    def wait(self, item: RateLimitItem, key: str) -> int:
        stats = self.limiter.get_window_stats(item, key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    def reset(self) -> None:
        self.storage.reset()
