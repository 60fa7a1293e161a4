"""Campaigns kept between requests in one process, never served stale.

Each request reads one small row of its campaign (id, version, count); the
snapshot built before is reused while the version matches, and rebuilt once
the version moved (every change raises it, whichever process or app made it:
``models.raise_versions``). The count comes from that row, so it is exact.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import Session

from . import clock
from .campaigns import CampaignSnapshot, CampaignStatus, closed_since, effective_status, whole
from .models import Campaign

# Slugs are few; a bound keeps a flood of changing campaigns from growing it.
MAX_CAMPAIGNS = 500


_CURRENT = select(Campaign.id, Campaign.version, Campaign.action_count).where(
    Campaign.slug == bindparam("slug")
)


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
        # A core statement on the session's connection: the ORM's layer would cost
        # more than the query on every request.
        row = session.connection().execute(_CURRENT, {"slug": slug}).first()
        if row is None:
            return None
        campaign_id, version, count = row
        kept = self._snapshot(session, slug, campaign_id, version)
        return None if kept is None else Current(kept, int(count))

    def live(self, session: Session, now: datetime | None = None) -> list[Current]:
        """Every campaign live at ``now`` with its count, the latest changed first, as
        the list page orders them: one query for the rows, and a rebuild only of
        snapshots whose version moved."""
        now = clock.now() if now is None else now
        rows = session.execute(
            select(Campaign.slug, Campaign.id, Campaign.version, Campaign.action_count)
            .where(Campaign.status == "live")
            .order_by(Campaign.updated_at.desc(), Campaign.id.desc())
        ).all()
        found = []
        for slug, campaign_id, version, count in rows:
            kept = self._snapshot(session, slug, campaign_id, version)
            # Changed since the row was read (closed, say): the newer snapshot decides;
            # and one not open yet, or past its closing time, is not live.
            if kept is not None and effective_status(kept, now) is CampaignStatus.LIVE:
                found.append(Current(kept, int(count)))
        return found

    def closed(self, session: Session, now: datetime | None = None) -> list[Current]:
        """Every campaign closed at ``now`` (set closed, or past its closes_at) with
        its final count, the latest closed first, as the archive orders them."""
        now = clock.now() if now is None else now
        rows = session.execute(
            select(Campaign.slug, Campaign.id, Campaign.version, Campaign.action_count).where(
                or_(
                    Campaign.status == "closed",
                    and_(Campaign.status == "live", Campaign.closes_at <= now),
                )
            )
        ).all()
        found: list[tuple[datetime, int, Current]] = []
        for slug, campaign_id, version, count in rows:
            kept = self._snapshot(session, slug, campaign_id, version)
            since = None if kept is None else closed_since(kept, now)
            if kept is not None and since is not None:
                found.append((since, kept.id, Current(kept, int(count))))
        found.sort(key=lambda item: (item[0], item[1]), reverse=True)
        return [current for _since, _id, current in found]

    def _snapshot(
        self, session: Session, slug: str, campaign_id: int, version: int
    ) -> CampaignSnapshot | None:
        kept = self._by_slug.get(slug)
        if kept is None or kept.id != campaign_id or kept.version != version:
            kept = self._load(session, slug)
        return kept

    def _load(self, session: Session, slug: str) -> CampaignSnapshot | None:
        campaign = session.scalar(
            whole(slug)
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
