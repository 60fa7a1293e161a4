"""What a request is about: the public campaign it names, and its language."""

from __future__ import annotations

from flask import abort, current_app

from ..campaigns import find
from ..i18n import match, negotiate, set_language, shipped_languages
from ..models import Campaign
from ..storage import get_session


def site_languages() -> list[str]:
    configured = current_app.config["URGENTACTION_LANGUAGES"]
    return list(configured) if configured else shipped_languages()


def public_campaign(slug: str) -> Campaign | None:
    """A live or closed campaign; None for a draft or no campaign at all."""
    campaign = find(get_session(), slug)
    return None if campaign is None or campaign.status == "draft" else campaign


def load_campaign(slug: str) -> Campaign:
    """A live or closed campaign, else 404 (drafts are not public)."""
    campaign = public_campaign(slug)
    if campaign is None:
        abort(404)
    return campaign


def choose_language(offered: list[str], fallback: str) -> str:
    lang = negotiate(offered, fallback)
    set_language(lang)
    return lang


def campaign_language(campaign: Campaign, wanted: str = "") -> str:
    if wanted:
        chosen = match(wanted, campaign.languages)
        if chosen:
            set_language(chosen)
            return chosen
    return choose_language(campaign.languages, campaign.fallback_lang)
