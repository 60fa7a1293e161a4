"""Pages for supporters: the list, a campaign and its form, thanks, the archive of
closed campaigns, confirm, unsubscribe."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from ..campaigns import (
    CampaignSnapshot,
    CampaignStatus,
    closed_since,
    count_actions,
    effective_status,
    text_in,
)
from ..countries import country_name, sort_key
from ..i18n import gettext
from ..origins import form_post_allowed, other_site_origin
from ..storage import get_session
from ..subscriptions import Outcome, confirm, subscriber_for, unsubscribe, would_change
from ..tokens import Purpose, TokenError
from .lookup import (
    campaign_language,
    choose_language,
    country_arg,
    current_closed_campaigns,
    current_live_campaigns,
    load_campaign,
    site_languages,
)
from .rendering import (
    campaign_share_meta,
    content_policy,
    countries_text,
    date_text,
    form_answer,
    new_form,
    render,
    share_links,
    too_large,
)
from .submission import form_fields, submit


def register_pages(bp: Blueprint) -> None:
    bp.add_url_rule("/", "index", index)
    # Before /<slug> in meaning too: campaigns.validate keeps "archive" from being a slug.
    bp.add_url_rule("/archive", "archive", archive)
    bp.add_url_rule("/<slug>", "campaign", campaign_page, methods=["GET", "POST"])
    bp.add_url_rule("/<slug>/thanks", "thanks", thanks)
    # Both POSTs are exempt from a host's CSRFProtect (csrf.py): the signed token
    # in the URL is the proof, and only the mail's recipient has it.
    bp.add_url_rule("/confirm/<token>", "confirm", confirm_page, methods=["GET", "POST"])
    bp.add_url_rule(
        "/unsubscribe/<token>", "unsubscribe", unsubscribe_page, methods=["GET", "POST"]
    )
    bp.after_request(security_headers)
    bp.register_error_handler(404, not_found)
    bp.register_error_handler(403, forbidden)
    # Anything else (400, 405, 500...): our own page, in the page's language.
    bp.register_error_handler(HTTPException, http_error)


# Closed campaigns on one page of the archive.
ARCHIVE_PER_PAGE = 20


def index() -> tuple[str, int]:
    lang = choose_language(site_languages(), "en")
    live = current_live_campaigns()
    country = country_arg()
    # Only the countries of campaigns on the list are offered.
    present = sorted({code for c in live for code in c.campaign.countries},
                     key=lambda code: sort_key(country_name(code, lang), lang))  # fmt: skip
    items = [
        {"campaign": c.campaign, "texts": text_in(c.campaign, lang), "count": c.count,
         "countries": countries_text(c.campaign.countries, lang)}
        for c in live
        if not country or country in c.campaign.countries
    ]  # fmt: skip
    kept: dict[str, Any] = {"country": country} if country else {}
    return render(
        "index.html", lang, items=items, languages=site_languages(), language_args=kept,
        countries=[(code, country_name(code, lang)) for code in present], country=country,
        feed_url=url_for("urgentaction.feed", lang=lang, **kept),
    )  # fmt: skip


def archive() -> tuple[str, int]:
    """Closed campaigns, the latest closed first, with their final counts."""
    lang = choose_language(site_languages(), "en")
    closed = current_closed_campaigns()
    pages = max(1, -(-len(closed) // ARCHIVE_PER_PAGE))
    asked = request.args.get("page", "1")
    page = int(asked) if asked.isdigit() else 0
    if not 1 <= page <= pages:
        abort(404)
    start = (page - 1) * ARCHIVE_PER_PAGE
    items = [
        {"campaign": c.campaign, "texts": text_in(c.campaign, lang), "count": c.count,
         "closed_on": closed_on(c.campaign, lang),
         "countries": countries_text(c.campaign.countries, lang)}
        for c in closed[start : start + ARCHIVE_PER_PAGE]
    ]  # fmt: skip

    def page_url(number: int) -> str:
        extra: dict[str, Any] = {"page": number} if number > 1 else {}
        return url_for("urgentaction.archive", lang=lang, **extra)

    return render("archive.html", lang, items=items, languages=site_languages(),
                  page=page, pages=pages, page_url=page_url)  # fmt: skip


def closed_on(campaign: CampaignSnapshot, lang: str) -> str:
    """The day the campaign closed, in ``lang``; "" while it is open."""
    since = closed_since(campaign)
    return date_text(since, lang) if since is not None else ""


def campaign_page(slug: str) -> Response | tuple[str, int] | tuple[str, int, dict[str, str]]:
    campaign = load_campaign(slug)
    if request.method == "POST":
        # A campaign without targets has no form: nothing to send (docs/solidarity.md).
        if not campaign.takes_actions:
            abort(404)
        if not form_post_allowed(campaign):
            abort(403)
        fields = form_fields()
        lang = campaign_language(campaign, fields.text.get("lang", ""))
        submitted = submit(campaign, fields, lang, other_site_origin())
        return form_answer(submitted, campaign, lang, "campaign.html", "urgentaction.thanks",
                           closed_on=closed_on(campaign, lang))  # fmt: skip
    lang = campaign_language(campaign)
    texts = text_in(campaign, lang)
    live = effective_status(campaign) is CampaignStatus.LIVE
    form = new_form(campaign, texts) if live and campaign.takes_actions else None
    count = count_actions(get_session(), campaign.id)
    url = url_for("urgentaction.campaign", slug=slug, _external=True)
    return render("campaign.html", lang, 200 if live else 410, campaign=campaign, texts=texts,
                  form=form, count=count, closed_on=closed_on(campaign, lang),
                  share_meta=campaign_share_meta(campaign, texts),
                  declarations=[(d, d.text_in(lang)) for d in campaign.declarations],
                  share=share_links(url, texts.title), country_name=country_name)  # fmt: skip


def thanks(slug: str) -> tuple[str, int]:
    campaign = load_campaign(slug)
    lang = campaign_language(campaign)
    texts = text_in(campaign, lang)
    url = url_for("urgentaction.campaign", slug=slug, _external=True)
    return render(
        "thanks.html", lang, campaign=campaign, texts=texts,
        count=count_actions(get_session(), campaign.id),
        opt_in_pending=request.args.get("optin") == "1",
        share=share_links(url, texts.title),
        # Shared from here, the link previews the campaign itself.
        share_meta=campaign_share_meta(campaign, texts),
    )  # fmt: skip


def _link_page(purpose: Purpose, token: str, template: str) -> tuple[str, int]:
    """GET shows a button (scanners prefetch links); POST does the change."""
    lang = choose_language(site_languages(), "en")
    try:
        subscriber, _consent = subscriber_for(purpose, token)
        lang = choose_language([subscriber.lang, *site_languages()], subscriber.lang)
        if request.method == "GET":
            pending = would_change(purpose, token)
            return render(template, lang, state="ask" if pending else "already")
    except TokenError as exc:
        return render(template, lang, 400 if not exc.expired else 410,
                      state="expired" if exc.expired else "invalid")  # fmt: skip
    change = confirm if purpose is Purpose.CONFIRM else unsubscribe
    try:
        outcome = change(token)
    except TokenError as exc:
        return render(template, lang, 410 if exc.expired else 400,
                      state="expired" if exc.expired else "invalid")  # fmt: skip
    return render(template, lang, state="done" if outcome is Outcome.DONE else "already")


def confirm_page(token: str) -> tuple[str, int]:
    return _link_page(Purpose.CONFIRM, token, "confirm.html")


def unsubscribe_page(token: str) -> tuple[str, int]:
    return _link_page(Purpose.UNSUBSCRIBE, token, "unsubscribe.html")


def security_headers(response: Response) -> Response:
    """No outside assets, no inline script; tokens in URLs go nowhere else."""
    if response.mimetype != "text/html":
        return response
    # The embed sets its own policy, with the campaign's frame-ancestors.
    response.headers.setdefault("Content-Security-Policy", content_policy("'self'"))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def not_found(_error: Exception) -> tuple[str, int]:
    lang = choose_language(site_languages(), "en")
    return render("message.html", lang, 404, title=gettext("Not found"),
                  text=gettext("There is no such campaign, or it is not public yet."))  # fmt: skip


def http_error(error: HTTPException) -> tuple[str, int]:
    lang = choose_language(site_languages(), "en")
    text = too_large() if error.code == 413 else gettext("Something went wrong. Please try again.")
    return render("message.html", lang, error.code or 500,
                  title=gettext("Something went wrong"), text=text)  # fmt: skip


def forbidden(_error: Exception) -> tuple[str, int]:
    lang = choose_language(site_languages(), "en")
    return render("message.html", lang, 403, title=gettext("Not allowed"),
                  text=gettext("This form cannot be sent from that website."))  # fmt: skip
