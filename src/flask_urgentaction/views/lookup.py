"""What a request is about: the public campaign it names, and its language."""

from __future__ import annotations

from flask import abort, current_app, request

from ..campaign_cache import CampaignCache, Current
from ..campaigns import CampaignSnapshot, effective_status, is_public
from ..countries import country_codes
from ..i18n import match, negotiate, set_language, shipped_languages
from ..storage import get_session


def site_languages() -> list[str]:
    configured = current_app.config["URGENTACTION_LANGUAGES"]
    return list(configured) if configured else shipped_languages()


def current_campaign(slug: str) -> Current | None:
    """A live or closed campaign with its count; None for a draft, a campaign not
    open yet (before its opens_at), or no campaign at all."""
    cache: CampaignCache = current_app.extensions["urgentaction"].campaigns
    found = cache.current(get_session(), slug)
    return None if found is None or not is_public(effective_status(found.campaign)) else found


def previewed_campaign(slug: str) -> Current | None:
    """Any campaign with its count, drafts too: only for an organiser's preview."""
    cache: CampaignCache = current_app.extensions["urgentaction"].campaigns
    return cache.current(get_session(), slug)


def current_live_campaigns() -> list[Current]:
    """Every live campaign with its count, from the same cache as ``current_campaign``."""
    cache: CampaignCache = current_app.extensions["urgentaction"].campaigns
    return cache.live(get_session())


def current_closed_campaigns() -> list[Current]:
    """Every closed campaign with its final count, the latest closed first."""
    cache: CampaignCache = current_app.extensions["urgentaction"].campaigns
    return cache.closed(get_session())


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


def matched_language(campaign: CampaignSnapshot, wanted: str = "") -> str:
    """The campaign's language for ``wanted``, else by ``?lang=`` and Accept-Language,
    else its fallback; unlike ``campaign_language`` it leaves the request's language."""
    if wanted:
        chosen = match(wanted, campaign.languages)
        if chosen:
            return chosen
    return negotiate(campaign.languages, campaign.fallback_lang)


def campaign_language(campaign: CampaignSnapshot, wanted: str = "") -> str:
    lang = matched_language(campaign, wanted)
    set_language(lang)
    return lang


def country_arg() -> str:
    """The country a list or feed asks for with ``?country=`` ("" for all, or not a country)."""
    code = request.args.get("country", "").strip().upper()
    return code if code in country_codes() else ""
