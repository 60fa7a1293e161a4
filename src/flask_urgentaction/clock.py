"""The time as the delivery rules see it; tests of hours and time zones replace ``now``."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
