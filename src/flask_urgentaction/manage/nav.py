"""The dashboard's navigation, which each screen's module adds itself to.

``SECTIONS`` are the site-wide entries beside "Campaigns" and "Audit log";
``CAMPAIGN_TABS`` the tabs of one campaign's pages. Labels are callables, so
they are translated when a page is drawn, in the organiser's language.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from babel.dates import format_datetime
from flask import url_for

from ..i18n import gettext, locale_of


@dataclass(frozen=True)
class Entry:
    endpoint: str
    label: Callable[[], str]
    # What a page's ``nav_current`` block names to mark this entry as current.
    name: str


SECTIONS: list[Entry] = []
CAMPAIGN_TABS: list[Entry] = [
    Entry("urgentaction.manage.campaign", lambda: gettext("Overview"), "overview"),
]


def section(endpoint: str, label: Callable[[], str], name: str) -> None:
    SECTIONS.append(Entry(endpoint, label, name))


def campaign_tab(endpoint: str, label: Callable[[], str], name: str) -> None:
    """A tab on every campaign's pages; its endpoint takes the ``slug``."""
    CAMPAIGN_TABS.append(Entry(endpoint, label, name))


def moment_text(moment: datetime, lang: str) -> str:
    """A date and time in the organiser's language, in UTC (said, so never misread)."""
    text = format_datetime(moment.astimezone(UTC), format="medium", tzinfo=UTC,
                           locale=locale_of(lang))  # fmt: skip
    return f"{text} UTC"


def context() -> dict[str, Any]:
    """What every dashboard template may use besides the public pages' helpers."""

    def campaign_url(slug: str, **args: Any) -> str:
        return url_for("urgentaction.manage.campaign", slug=slug, **args)

    return {
        "manage_nav": [(e.endpoint, e.label(), e.name) for e in SECTIONS],
        "campaign_tabs": [(e.endpoint, e.label(), e.name) for e in CAMPAIGN_TABS],
        "moment_text": moment_text,
        "campaign_url": campaign_url,
    }
