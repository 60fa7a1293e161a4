"""One campaign's overview page, the first of its tabs: its live view (live.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort

from ..campaigns import effective_status, text_in, whole
from ..models import Campaign
from ..storage import get_session
from ..views.rendering import render
from .access import language
from .home import status_name
from .live import overview_context


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/campaigns/<slug>", "campaign", overview)


def campaign_or_404(slug: str) -> Campaign:
    """The campaign the address names, whatever its status (organisers see drafts)."""
    # Fresh from the database: a campaign changed by another request (its count) shows so.
    campaign = get_session().scalar(whole(slug).execution_options(populate_existing=True))
    if campaign is None:
        abort(404)
    return campaign


def page_context(campaign: Campaign, lang: str) -> dict[str, Any]:
    """What every tab of a campaign's pages shows above its own content."""
    return {
        "campaign": campaign,
        "title": text_in(campaign, lang).title if campaign.translations else campaign.slug,
        # Not "status": render() takes that for the HTTP status.
        "campaign_status": effective_status(campaign),
        "status_name": status_name,
    }


def overview(slug: str) -> tuple[str, int]:
    lang = language()
    campaign = campaign_or_404(slug)
    context = page_context(campaign, lang)
    return render("manage/campaign.html", lang, **context, **overview_context(campaign, lang))
