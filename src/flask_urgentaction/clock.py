"""The time as the delivery rules and campaigns' opening and closing see it; tests of
hours, time zones and campaign life replace ``now``."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
