"""Campaigns kept between requests in one process, never served stale.

Each request reads one small row of its campaign (id, version, count); the
snapshot built before is reused while the version matches, and rebuilt once
the version moved (every change raises it, whichever process or app made it:
``models.raise_versions``). The count comes from that row, so it is exact.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .campaigns import CampaignSnapshot
from .models import Campaign

# Slugs are few; a bound keeps a flood of changing campaigns from growing it.
MAX_CAMPAIGNS = 500


@dataclass(frozen=True)
class Current:
    """A campaign as it is now, and its count as of the same moment."""

    campaign: CampaignSnapshot
    count: int


class CampaignCache:
    """Snapshots of one app's campaigns by slug."""

    def __init__(self) -> None:
        self._by_slug: dict[str, CampaignSnapshot] = {}
        self._lock = threading.Lock()

    def current(self, session: Session, slug: str) -> Current | None:
        row = session.execute(
            select(Campaign.id, Campaign.version, Campaign.action_count).where(
                Campaign.slug == slug
            )
        ).first()
        if row is None:
            return None
        campaign_id, version, count = row
        kept = self._by_slug.get(slug)
        if kept is None or kept.id != campaign_id or kept.version != version:
            kept = self._load(session, slug)
            if kept is None:
                return None
        return Current(kept, int(count))

    def _load(self, session: Session, slug: str) -> CampaignSnapshot | None:
        campaign = session.scalar(
            select(Campaign)
            .where(Campaign.slug == slug)
            .options(selectinload(Campaign.translations), selectinload(Campaign.targets))
            # The session may hold this campaign from before its last change.
            .execution_options(populate_existing=True)
        )
        if campaign is None:
            return None
        snapshot = CampaignSnapshot.of(campaign)
        with self._lock:
            if len(self._by_slug) >= MAX_CAMPAIGNS:
                self._by_slug.clear()
            kept = self._by_slug.get(slug)
            # Two requests may rebuild at once; the newer version stays.
            if kept is None or kept.id != snapshot.id or kept.version <= snapshot.version:
                self._by_slug[slug] = snapshot
        return snapshot
