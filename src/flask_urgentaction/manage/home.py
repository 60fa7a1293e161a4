"""The dashboard's first page: every campaign with its status, count and last action."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..campaigns import CampaignStatus, effective_status, text_in
from ..i18n import gettext
from ..models import Action, Campaign
from ..storage import get_session
from ..views.rendering import render
from .access import language


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/", "home", home)


@dataclass(frozen=True)
class Row:
    slug: str
    title: str
    status: CampaignStatus
    count: int
    goal: int | None
    last_action: datetime | None


def status_name(status: CampaignStatus) -> str:
    """A campaign status in the organiser's language."""
    return {
        CampaignStatus.DRAFT: gettext("draft"),
        CampaignStatus.SCHEDULED: gettext("scheduled"),
        CampaignStatus.LIVE: gettext("live"),
        CampaignStatus.CLOSED: gettext("closed"),
    }.get(status, str(status))


def rows(lang: str) -> list[Row]:
    session = get_session()
    # Ids grow with time: the newest id per campaign is read from its index alone.
    newest = select(func.max(Action.id)).group_by(Action.campaign_id).scalar_subquery()
    found = session.execute(
        select(Action.campaign_id, Action.created_at).where(Action.id.in_(newest))
    )
    last: dict[int, datetime] = {campaign_id: at for campaign_id, at in found}  # fmt: skip
    campaigns = session.scalars(
        select(Campaign).options(selectinload(Campaign.translations)).order_by(
            Campaign.updated_at.desc()).execution_options(populate_existing=True)
    )  # fmt: skip
    return [
        Row(c.slug, text_in(c, lang).title if c.translations else c.slug,
            effective_status(c), c.action_count, c.goal, last.get(c.id))
        for c in campaigns
    ]  # fmt: skip


def home() -> tuple[str, int]:
    lang = language()
    return render("manage/home.html", lang, campaigns=rows(lang), status_name=status_name)
