"""What a request is about: the public campaign it names, and its language."""

from __future__ import annotations

from flask import abort, current_app

from ..campaign_cache import CampaignCache, Current
from ..campaigns import CampaignSnapshot
from ..i18n import match, negotiate, set_language, shipped_languages
from ..storage import get_session


def site_languages() -> list[str]:
    configured = current_app.config["URGENTACTION_LANGUAGES"]
    return list(configured) if configured else shipped_languages()


def current_campaign(slug: str) -> Current | None:
    """A live or closed campaign with its count; None for a draft or no campaign at all."""
    cache: CampaignCache = current_app.extensions["urgentaction"].campaigns
    found = cache.current(get_session(), slug)
    return None if found is None or found.campaign.status == "draft" else found


def public_campaign(slug: str) -> CampaignSnapshot | None:
    """A live or closed campaign; None for a draft or no campaign at all."""
    found = current_campaign(slug)
    return None if found is None else found.campaign


def load_campaign(slug: str) -> CampaignSnapshot:
    """A live or closed campaign, else 404 (drafts are not public)."""
    campaign = public_campaign(slug)
    if campaign is None:
        abort(404)
    return campaign


def choose_language(offered: list[str], fallback: str) -> str:
    lang = negotiate(offered, fallback)
    set_language(lang)
    return lang


def campaign_language(campaign: CampaignSnapshot, wanted: str = "") -> str:
    if wanted:
        chosen = match(wanted, campaign.languages)
        if chosen:
            set_language(chosen)
            return chosen
    return choose_language(campaign.languages, campaign.fallback_lang)
