"""A campaign's live view: its count, charts and latest actions, and ``live.json``.

The figures per day, country, partner tag and origin and the shares are read
from the campaign's stored tallies plus the actions not folded into them yet
(tallies.py); a view first folds those in once ``tallies.THRESHOLD`` of them
wait. The latest actions are read by id. So a view reads about as many rows
whether the campaign has a thousand actions or a million. The overview page
itself is ``campaign.overview``; this module gives it its figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from babel.dates import format_date, format_skeleton
from babel.numbers import format_percent
from flask import Blueprint, abort, jsonify, request, url_for
from markupsafe import Markup, escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from .. import charts, clock, links, reports, tallies
from ..campaigns import text_in
from ..countries import country_name
from ..i18n import gettext, locale_of, ngettext, text_direction, use_language
from ..models import Action, Campaign
from ..storage import get_session, get_storage
from ..views.rendering import number
from .access import language
from .nav import moment_text

# The latest actions listed; the days the per-day chart covers at most; the
# countries charted one by one before "other countries".
LATEST = 20
DAYS = 30
TOP_COUNTRIES = 10


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/campaigns/<slug>/live.json", "live", live_json)


def per_day(session: Session, campaign_id: int, today: date) -> list[tuple[date, int]]:
    """Actions per day (UTC), every day from the first action or the last ``DAYS``
    days, whichever is shorter, to ``today``; days without any count 0."""
    # The first from ix_ua_actions_day: one step down the index, not a count.
    first = session.scalar(
        select(func.min(Action.created_at)).where(Action.campaign_id == campaign_id)
    )
    if first is None:
        return []
    start = min(max(today - timedelta(days=DAYS - 1), first.astimezone(UTC).date()), today)
    rows = tallies.counts(session, campaign_id, "day", since=start.isoformat())
    found = {date.fromisoformat(text): n for text, n in rows}
    every = (start + timedelta(days=i) for i in range((today - start).days + 1))
    return [(d, found.get(d, 0)) for d in every]


@dataclass(frozen=True)
class CountryCount:
    code: str  # "" for actions without a country, "*" for the other countries together
    name: str
    actions: int


def per_country(session: Session, campaign_id: int, lang: str) -> list[CountryCount]:
    """The ``TOP_COUNTRIES`` countries with most actions, most first, then the
    rest together as "other countries"."""
    rows = tallies.counts(session, campaign_id, "country")
    shown = [
        CountryCount(code, country_name(code, lang) if code else gettext("No country given"),
                     int(count))
        for code, count in rows[:TOP_COUNTRIES]
    ]  # fmt: skip
    rest = sum(int(count) for _code, count in rows[TOP_COUNTRIES:])
    if rest:
        shown.append(CountryCount("*", gettext("Other countries"), rest))
    return shown


@dataclass(frozen=True)
class LatestAction:
    created_at: datetime
    name: str
    email: str
    country: str
    partner_tag: str
    origin: str
    personal: bool
    erased: bool


def latest(session: Session, campaign_id: int, limit: int = LATEST) -> list[LatestAction]:
    """The campaign's newest actions, the newest first (ids grow with time)."""
    rows = session.execute(
        select(Action.created_at, Action.name, Action.email, Action.country,
               Action.partner_tag, Action.source_origin, Action.personal != "",
               Action.erased_at.is_not(None))
        .where(Action.campaign_id == campaign_id).order_by(Action.id.desc()).limit(limit)
    )  # fmt: skip
    return [LatestAction(*row) for row in rows]


@dataclass(frozen=True)
class Shares:
    """Of the actions not erased: those with a personal line, with an edited
    message, and with either (what ``report`` calls "in their own words")."""

    personal: int
    edited: int
    either: int
    total: int


def shares(session: Session, campaign_id: int) -> Shares:
    """From the tallies; erased actions left out, as ``similarity.personal_share``
    leaves them out."""
    found = tallies.shares(session, campaign_id)
    return Shares(found["personal"], found["edited"], found["either"], found["kept"])


def last_action_at(session: Session, campaign_id: int) -> datetime | None:
    return session.scalar(
        select(Action.created_at).where(Action.campaign_id == campaign_id)
        .order_by(Action.id.desc()).limit(1)
    )  # fmt: skip


def percent(part: int, whole: int, lang: str) -> str:
    return str(format_percent(part / whole if whole else 0, locale=locale_of(lang)))


# -- the charts --


def day_chart(days: list[tuple[date, int]], lang: str) -> Markup:
    locale = locale_of(lang)
    bars = [
        charts.Bar(str(format_skeleton("MMMd", d, locale=locale)), n, number(n, lang),
                   f"{format_date(d, format='medium', locale=locale)}: {number(n, lang)}")
        for d, n in days
    ]  # fmt: skip
    peak_day, peak = max(days, key=lambda item: (item[1], item[0]))
    total = sum(n for _d, n in days)
    desc = ngettext(
        "%(actions)s action from %(first)s to %(last)s; the most on %(day)s (%(most)s).",
        "%(actions)s actions from %(first)s to %(last)s; the most on %(day)s (%(most)s).",
        total,
        actions=number(total, lang),
        first=format_date(days[0][0], format="medium", locale=locale),
        last=format_date(days[-1][0], format="medium", locale=locale),
        day=format_date(peak_day, format="medium", locale=locale),
        most=number(peak, lang),
    )
    return charts.column_chart(bars, "ua-chart-days", gettext("Actions per day (UTC)"), desc,
                               rtl=text_direction(lang) == "rtl")  # fmt: skip


def country_chart(countries: list[CountryCount], lang: str) -> Markup:
    bars = [charts.Bar(c.name, c.actions, number(c.actions, lang)) for c in countries]
    desc = ngettext(
        "%(num)s country or group with actions; the most from %(name)s (%(most)s).",
        "%(num)s countries or groups with actions; the most from %(name)s (%(most)s).",
        len(countries),
        name=countries[0].name,
        most=number(countries[0].actions, lang),
    )
    return charts.bar_chart(bars, "ua-chart-countries", gettext("Actions per country"), desc,
                            rtl=text_direction(lang) == "rtl")  # fmt: skip


# -- the embed snippets --


@dataclass(frozen=True)
class Snippet:
    id: str
    label: str
    text: str


def absolute(endpoint: str, **values: Any) -> str:
    """For others to keep: from the trusted host when there is one, else this request's."""
    return links.public_url(endpoint, **values) or url_for(endpoint, _external=True, **values)


def snippets(campaign: Campaign, lang: str) -> list[Snippet]:
    """The HTML a partner site pastes, in the campaign's language ``lang``, exactly
    as docs/embedding.md shows it."""
    widget = absolute("urgentaction.widget")
    script = f'<script src="{escape(widget)}" async></script>'
    parts = urlsplit(widget)
    origin = f"{parts.scheme}://{parts.netloc}"
    slug = escape(campaign.slug)
    with use_language(lang):
        title = text_in(campaign, lang).title
        framed = gettext("Urgent action: %(title)s", title=title)
        list_text, messages_text = gettext("Urgent actions"), gettext("Solidarity messages")
    page = absolute("urgentaction.campaign", slug=campaign.slug)
    embed = absolute("urgentaction.embed.form", slug=campaign.slug, lang=lang)
    index = absolute("urgentaction.index")
    messages = absolute("urgentaction.messages", slug=campaign.slug)
    listener = (
        '<script>addEventListener("message", e => { if (e.origin === "' + str(escape(origin))
        + '" && e.data && e.data.urgentaction === "resize") for (const f of '
        'document.querySelectorAll("iframe")) if (f.contentWindow === e.source) '
        'f.style.height = e.data.height + "px"; });</script>'
    )  # fmt: skip
    return [
        Snippet("snippet-widget", gettext("The form, drawn by the script (two lines)"),
                script_placeholder(f'data-urgentaction="{slug}"', lang, page, title, script)),
        Snippet("snippet-iframe", gettext("The form in an iframe, for sites without scripts"),
                f'<iframe src="{escape(embed)}" title="{escape(framed)}" style="display:block;'
                f'width:100%;height:1700px;border:0"></iframe>\n{listener}'),
        Snippet("snippet-list", gettext("The list of live campaigns"),
                script_placeholder("data-urgentaction-list", lang, index, list_text, script)),
        Snippet("snippet-messages", gettext("This campaign's solidarity messages"),
                script_placeholder(f'data-urgentaction-messages="{slug}"', lang, messages,
                                   messages_text, script)),
    ]  # fmt: skip


def script_placeholder(attribute: str, lang: str, url: str, text: str, script: str) -> str:
    """A placeholder the script draws into, then the script: where the script does not
    run, the placeholder's link leads to the same on our site."""
    return (
        f'<div {attribute} data-lang="{escape(lang)}"><a href="{escape(url)}">{escape(text)}'
        f"</a></div>\n{script}"
    )


def overview_context(campaign: Campaign, lang: str) -> dict[str, Any]:
    """Everything the overview shows below the campaign's header."""
    session = get_session()
    # Its own short transactions on a connection of its own; the reads below see them.
    tallies.fold(get_storage().engine, campaign.id)
    days = per_day(session, campaign.id, clock.now().date())
    countries = per_country(session, campaign.id, lang)
    partners, origins = reports.action_tallies(session, campaign.id)
    languages = [t.lang for t in campaign.translations]
    wanted = request.args.get("snippet_lang", "")
    snippet_lang = wanted if wanted in languages else campaign.fallback_lang
    if snippet_lang not in languages and languages:
        snippet_lang = languages[0]
    return {
        "days": days,
        "day_chart": day_chart(days, lang) if days else None,
        "countries": countries,
        "country_chart": country_chart(countries, lang) if countries else None,
        "latest": latest(session, campaign.id),
        "shares": shares(session, campaign.id),
        "partners": partners,
        "origins": origins,
        "last_action_at": last_action_at(session, campaign.id),
        "snippets": snippets(campaign, snippet_lang) if languages else [],
        "snippet_lang": snippet_lang,
        "snippet_languages": languages,
        "percent": percent,
        "country_name": country_name,
        "format_date": lambda d: format_date(d, format="medium", locale=locale_of(lang)),
    }


def live_json(slug: str) -> Response:
    """The count and the time of the last action, for the overview's live count."""
    lang = language()
    session = get_session()
    found = session.execute(
        select(Campaign.id, Campaign.action_count, Campaign.goal).where(Campaign.slug == slug)
    ).one_or_none()
    if found is None:
        abort(404)
    campaign_id, count, goal = found
    last = last_action_at(session, campaign_id)
    return jsonify(
        count=count,
        count_text=number(count, lang),
        last_action_at=last.astimezone(UTC).isoformat() if last else None,
        last_action_text=moment_text(last, lang) if last else None,
        percent_text=percent(count, goal, lang) if goal else None,
    )
