"""The Atom feed of live campaigns, for partner sites and feed readers.

``?lang=`` asks for a language: each campaign comes in its translation nearest
to it (``xml:lang`` on each entry says which), as on the list widget;
``?country=`` keeps the campaigns about one country. Links and ids are absolute,
built from a trusted host as mail links are (links.py); without one they come
from the request, and the feed is then not for shared caches to keep.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import request, url_for
from werkzeug.wrappers import Response

from .. import atom, clock, links
from ..campaign_cache import Current
from ..campaigns import text_in
from ..countries import country_name
from ..i18n import gettext
from .lookup import (
    choose_language,
    country_arg,
    current_live_campaigns,
    matched_language,
    site_languages,
)

# Seconds a reader or a cache may keep the feed: a campaign opening or closing
# shows within five minutes.
FEED_MAX_AGE = 300


def _url(endpoint: str, **values: Any) -> str:
    return links.public_url(endpoint, **values) or url_for(endpoint, _external=True, **values)


def _entry(current: Current, wanted: str, lang: str) -> atom.Entry:
    found = current.campaign
    texts = text_in(found, matched_language(found, wanted))
    url = _url("urgentaction.campaign", slug=found.slug, lang=texts.lang)
    # A campaign that opened at its opens_at is news then, though its row did not change.
    opened = found.opens_at
    updated = max(found.updated_at, opened) if opened is not None else found.updated_at
    return atom.Entry(
        id=url,
        title=texts.title,
        link=url,
        updated=updated,
        published=found.opens_at,
        content="",
        summary=texts.summary,
        lang=texts.lang,
        author=found.partner,
        categories=tuple((code, country_name(code, lang)) for code in found.countries),
    )


def site_feed() -> Response:
    lang = choose_language(site_languages(), "en")
    wanted = request.args.get("lang", "")
    country = country_arg()
    entries = [
        _entry(current, wanted, lang)
        for current in current_live_campaigns()
        if not country or country in current.campaign.countries
    ]
    kept: dict[str, Any] = {"country": country} if country else {}
    updated: datetime = max((e.updated for e in entries), default=clock.now())
    page = _url("urgentaction.index", lang=lang, **kept)
    feed = atom.Feed(
        # One feed per language and country: its id says which.
        id=_url("urgentaction.feed", lang=lang, **kept),
        title=gettext("Urgent actions"),
        link=page,
        self_link=_url("urgentaction.feed", lang=lang, **kept),
        updated=updated,
        lang=lang,
        # Atom needs an author: the site, for campaigns without a partner union.
        author=urlsplit(page).netloc,
        entries=entries,
    )
    response = Response(atom.render(feed), mimetype="application/atom+xml")
    response.headers["Cache-Control"] = (
        f"public, max-age={FEED_MAX_AGE}" if links.available() else "private, no-cache"
    )
    response.vary.add("Accept-Language")
    response.add_etag()
    return response.make_conditional(request)
