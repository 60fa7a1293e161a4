"""The JSON API for the widget and other clients; no cookies anywhere.

Answers carry CORS headers for allowed origins only. A page on an origin that
is not allowed still gets a readable 403 on GET, so the widget can say why it
cannot work there; on POST it gets a 403 without CORS headers.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, jsonify, request, send_from_directory, url_for
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.wrappers import Response

from .. import bounces, cosigning, declarations, links, solidarity
from ..actions import AlreadyActed, Closed, RateLimited, Taken, opt_in_text
from ..campaign_cache import Current
from ..campaigns import CampaignSnapshot, effective_status, message_text, text_in
from ..challenge import Challenge, issue
from ..countries import country_choices, country_name
from ..declarations import DeclarationSnapshot
from ..forms import ChallengeForm
from ..i18n import gettext, text_direction, written_direction
from ..markdown import render_markdown
from ..openapi import openapi_document
from ..origins import is_allowed, request_origin
from ..storage import get_session
from ..tokens import PREVIEW_MAX_AGE, Purpose, TokenError, verify
from .lookup import (
    campaign_language,
    choose_language,
    country_arg,
    current_campaign,
    current_live_campaigns,
    matched_language,
    previewed_campaign,
    public_campaign,
    site_languages,
)
from .messages import absolute_url, language_label
from .rendering import (
    count_text,
    date_text,
    message_context,
    privacy_url,
    publication_text,
    share_links,
    thanks_text,
    too_large,
)
from .submission import (
    Invalid,
    Malformed,
    json_fields,
    read_body,
    submit,
    submit_signature,
)

api = Blueprint("api", __name__)
# Campaign JSON bodies kept per campaign snapshot: one per language and host.
MAX_KEPT_BODIES = 64
# Seconds a browser or cache may reuse the campaign list: a new campaign shows
# within a minute, and a busy partner page's visitors share one answer.
LIST_MAX_AGE = 60
# The same for a page of published messages: an approved message shows, and a
# rejected or erased one leaves, within a minute.
MESSAGES_MAX_AGE = 60


def _cors(response: Response, campaign: CampaignSnapshot | None) -> Response:
    origin = request_origin()
    if origin and is_allowed(origin, campaign):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Max-Age"] = "600"
    response.vary.add("Origin")
    return response


def _answer(body: dict[str, Any], status: int, campaign: CampaignSnapshot | None = None,
            cors: bool = True) -> Response:  # fmt: skip
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return _cors(response, campaign) if cors else response


@dataclass(frozen=True)
class Kept:
    """The campaign JSON's members that stay with the snapshot, encoded once:
    they are most of its bytes, and encoding them was a fifth of the request."""

    lang: str
    json: str


def _joined(kept: str, body: dict[str, Any]) -> Response:
    """A 200 JSON answer of one object: the members of ``kept`` (an object's JSON
    text) and those of ``body``, which must not repeat its keys."""
    data = kept.rstrip()[:-1] + "," + current_app.json.dumps(body).lstrip()[1:]
    response = current_app.response_class(data + "\n", mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _error(message: str, status: int, campaign: CampaignSnapshot | None = None,
           cors: bool = True) -> Response:  # fmt: skip
    return _answer({"error": message}, status, campaign, cors)


def _refused(message: str) -> Response:
    """A 403 for a page on an origin that is not allowed, readable on purpose: the
    widget shows it instead of failing silently. It carries no campaign data."""
    response = _error(message, 403, cors=False)
    response.headers["Access-Control-Allow-Origin"] = request_origin()
    return response


def _no_campaign() -> Response:
    choose_language(site_languages(), "en")
    return _error(gettext("There is no such campaign, or it is not public yet."), 404)


def _origin_refused() -> str:
    return str(gettext("This campaign cannot be embedded on this website."))


def labels(campaign: CampaignSnapshot) -> dict[str, str]:
    """Every text the widget shows, so the script carries no dictionaries; some
    depend on the campaign (one gathering solidarity messages sends none)."""
    return {
        "name": gettext("Your name"),
        "email": gettext("Your email"),
        "union": gettext("Your union (optional)"),
        "union_help": gettext(
            "Union membership is sensitive personal data. Leave this empty if you prefer."
        ),
        "country": gettext("Your country"),
        "country_choose": gettext("Choose your country"),
        "subject": gettext("Subject"),
        "personal": gettext("A line in your own words (optional)"),
        "personal_help": gettext(
            "It goes first, above the message. Messages in your own words carry more "
            "weight and are less likely to be filtered out as bulk mail."
        ),
        "message": gettext("Your message"),
        "opt_in": opt_in_text(),
        "publish": gettext("Publish my message on the campaign page"),
        "publish_help": gettext(
            "If you tick this, your name, union, country, your own line and your message "
            "are shown on the campaign's public pages once the organisers approve them. "
            "Your email address is never shown."
        ),
        "submit": gettext("Send the message"),
        "sending": gettext("Sending…"),
        "privacy": gettext("Privacy statement"),
        "read_more": gettext("Read more"),
        "thanks_title": gettext("Thank you!"),
        "thanks_text": thanks_text(campaign),
        "opt_in_pending": gettext(
            "Please check your inbox: we sent you a link to confirm the alerts."
        ),
        "share": gettext("Share this action"),
        "error_generic": gettext("Something went wrong. Please try again."),
        "error_offline": gettext(
            "The message could not be sent: you seem to be offline. Please try again."
        ),
        "error_closed": gettext("This campaign is closed. Thank you for your support."),
        "error_rate_limited": gettext(
            "Too many messages from your connection. Please try again in a minute."
        ),
        "error_duplicate": gettext("You have already sent this message. Thank you!"),
        "error_origin": _origin_refused(),
        "required": gettext("This field is required."),
        "honeypot": gettext("Leave this field empty"),
        "message_translation": gettext("Translation for your understanding"),
    }


def _campaign_body(found: CampaignSnapshot, lang: str) -> dict[str, Any]:
    """The campaign JSON without what changes per request (count, challenge)."""
    texts = text_in(found, lang)
    message = message_text(found, lang)
    extra = message_context(found, texts.lang)
    url = url_for("urgentaction.campaign", slug=found.slug, lang=texts.lang, _external=True)
    return {
        "slug": found.slug,
        "lang": texts.lang,
        "dir": text_direction(texts.lang),
        "languages": found.languages,
        "title": texts.title,
        "summary": texts.summary,
        "body_html": str(render_markdown(texts.body)),
        "partner": found.partner,
        "url": url,
        "targets": [{"name": t.name} for t in found.targets],
        # False for a campaign without targets: it only gathers solidarity, and
        # the widget shows its summary and a link instead of a form.
        "form": found.takes_actions,
        "no_form_text": gettext(
            "This campaign sends no message to anyone: it gathers and shows solidarity. "
            "Read what others say, and share this page."
        ),
        "subject": message.subject or message.title,
        "message": message.message,
        "message_lang": message.lang,
        # When the message goes out in another language than the page's.
        "message_note": extra.get("message_note", ""),
        "message_translation": extra.get("message_translation"),
        "goal": found.goal,
        "privacy_url": privacy_url(found),
        "countries": [list(pair) for pair in country_choices(texts.lang)],
        "share": share_links(url, texts.title),
        # False when no confirmation link could be mailed: the widget hides the box.
        "opt_in": links.available(),
        # Whether to offer "publish my message" (labels.publish, labels.publish_help).
        "publish": found.publish_messages,
        # No targets: the form gathers solidarity messages, each published once
        # approved (publication_text says so above the button), mailed to no one.
        "gathers_messages": found.gathers_messages,
        # What to say above the button then (what is published); "" for any other.
        "publication_text": publication_text() if found.gathers_messages else "",
        "labels": labels(found),
    }


def _preview_for(slug: str) -> bool:
    """Whether ``?preview=`` holds a valid token the dashboard issued for ``slug``."""
    token = request.args.get("preview", "")
    if not token:
        return False
    try:
        previewed, _age = verify(Purpose.PREVIEW, token, PREVIEW_MAX_AGE)
    except TokenError:
        return False
    return bool(previewed == slug)


# No automatic OPTIONS on the GET and POST rules: Flask's default answer would
# shadow ``preflight`` and carry no CORS headers.
@api.route("/campaigns/<slug>", methods=["GET"], provide_automatic_options=False)
def campaign(slug: str) -> Response:
    """One campaign for the widget. With a dashboard preview's token (``?preview=``)
    also a draft or scheduled one, marked ``preview``, with no usable challenge: its
    actions stay refused (``take`` looks up public campaigns only)."""
    preview = _preview_for(slug)
    current = previewed_campaign(slug) if preview else current_campaign(slug)
    if current is None:
        return _no_campaign()
    found = current.campaign
    lang = campaign_language(found, request.args.get("lang", ""))
    origin = request_origin()
    if origin and not is_allowed(origin, found):
        return _refused(_origin_refused())
    # All but the count and the challenge stays as long as the campaign's version
    # (the snapshot) does; the host is part of the key, as the links carry it.
    key = ("campaign.json", lang, request.host_url, links.available())
    kept: Kept | None = found.derived.get(key)
    if kept is None:
        if len(found.derived) > MAX_KEPT_BODIES:
            found.derived.clear()
        fields = _campaign_body(found, lang)
        kept = found.derived[key] = Kept(fields["lang"], current_app.json.dumps(fields))
    count = current.count
    body = {
        # Worked out now: a campaign closes at its closes_at with no new version.
        "status": str(effective_status(found)),
        "count": count,
        "count_text": count_text(count, kept.lang, found),
        # A preview issues none: its spam check's line shows a number that sends nothing.
        "challenge": (Challenge("", "1234") if preview else issue(found.id)).as_json(),
    }
    if preview:
        body["preview"] = True
        body["preview_text"] = gettext("Preview: nothing can be sent.")
    return _cors(_joined(kept.json, body), found)


def list_labels() -> dict[str, str]:
    """Every text the list widget shows besides the campaigns' own."""
    return {
        "title": gettext("Urgent actions"),
        "read_more": gettext("Read more and take action"),
        "empty": gettext("There are no urgent actions right now."),
    }


def _listed(current: Current, wanted: str, list_lang: str) -> dict[str, Any]:
    """One campaign of the list: its texts in its language nearest to ``wanted``,
    its count as a sentence in the list's language."""
    found = current.campaign
    texts = text_in(found, matched_language(found, wanted))
    return {
        "slug": found.slug,
        "lang": texts.lang,
        "dir": text_direction(texts.lang),
        "title": texts.title,
        "summary": texts.summary,
        "count": current.count,
        "count_text": count_text(current.count, list_lang, found),
        "goal": found.goal,
        "url": url_for("urgentaction.campaign", slug=found.slug, lang=texts.lang, _external=True),
    }


@api.route("/campaigns", methods=["GET"])
def campaign_list() -> Response:
    """The live campaigns, for partner sites' list widget.

    A page on an origin the global setting refuses gets a readable 403, as for
    one campaign. A campaign that narrows its own allowed origins is left out of
    the list a page on any other origin gets (it could not be embedded there
    either); a request without ``Origin`` (a server, not a browser) gets them all.
    ``?country=AL`` keeps the campaigns about that country (an unknown code is ignored).
    """
    lang = choose_language(site_languages(), "en")
    origin = request_origin()
    if origin and not is_allowed(origin, None):
        return _refused(gettext("The list of urgent actions cannot be shown on this website."))
    wanted = request.args.get("lang", "")
    country = country_arg()
    campaigns = [
        _listed(current, wanted, lang)
        for current in current_live_campaigns()
        if (not origin or is_allowed(origin, current.campaign))
        and (not country or country in current.campaign.countries)
    ]
    body = {
        "lang": lang,
        "dir": text_direction(lang),
        "campaigns": campaigns,
        "labels": list_labels(),
    }
    response = _cors(jsonify(body), None)
    # Stored counts, no personal data: shared caches may keep it briefly, apart
    # per origin (the list differs by origin) and per language asked for.
    response.headers["Cache-Control"] = f"public, max-age={LIST_MAX_AGE}"
    response.vary.add("Accept-Language")
    response.add_etag()
    return response.make_conditional(request)


def message_labels() -> dict[str, str]:
    """Every text the messages widget shows besides the messages and the heading."""
    return {
        "read_more": gettext("Read more"),
        "all": gettext("All solidarity messages"),
        "empty": gettext("No messages have been published yet."),
    }


def _published(message: solidarity.Published, slug: str, lang: str) -> dict[str, Any]:
    """One published message as its list page shows it, in the reader's ``lang``:
    what the supporter asked to show, never their address or the action's id."""
    teaser = message.teaser
    return {
        "public_id": message.public_id,
        "name": message.name,
        "union": message.union,
        "country": message.country,
        "country_name": country_name(message.country, lang) if message.country else "",
        "lang": message.lang,
        "language_name": language_label(message.lang, lang),
        # As dir="auto" would: Arabic typed on an English page reads right to left.
        "dir": written_direction(teaser, message.lang),
        "teaser": teaser,
        "date": message.created_at.date().isoformat(),
        "date_text": date_text(message.created_at, lang),
        "url": absolute_url(
            "urgentaction.message", slug=slug, public_id=message.public_id, lang=lang
        ),
    }


def _declared(declaration: DeclarationSnapshot, slug: str, lang: str) -> dict[str, Any]:
    """One declaration as the campaign page lists it, in its language nearest to ``lang``."""
    text = declaration.text_in(lang)
    return {
        "public_id": declaration.public_id,
        "organisation": declaration.organisation,
        "country": declaration.country,
        "country_name": country_name(declaration.country, lang) if declaration.country else "",
        "lang": text.lang,
        "dir": text_direction(text.lang),
        "title": text.title,
        "teaser": text.teaser,
        "url": absolute_url(
            "urgentaction.declaration", slug=slug, public_id=declaration.public_id, lang=lang
        ),
    }


@api.route("/campaigns/<slug>/messages", methods=["GET"])
def campaign_messages(slug: str) -> Response:
    """A page of the campaign's published solidarity messages, for partner sites'
    messages widget: what its messages page shows (views/messages.py), newest first.

    Its declarations come first (title, organisation, teaser, link), on every page.
    404 unless the campaign publishes messages or has declarations (then its
    ``messages`` are empty and ``publish`` false); origins as for the campaign JSON.
    """
    current = current_campaign(slug)
    if current is None:
        return _no_campaign()
    found = current.campaign
    lang = campaign_language(found, request.args.get("lang", ""))
    if not found.publish_messages and not found.declarations:
        return _error(gettext("This campaign does not publish solidarity messages."), 404, found)
    origin = request_origin()
    if origin and not is_allowed(origin, found):
        return _refused(_origin_refused())
    session = get_session()
    # As on the messages page: a language no published message is in filters nothing.
    written_in = request.args.get("written_in", "").strip()
    if written_in and written_in not in solidarity.languages(session, found.id):
        written_in = ""
    number = request.args.get("page", "1")
    page = solidarity.page(
        session, found.id, int(number) if number.isdigit() else 0, written_in or None
    )
    if page is not None and not found.publish_messages:
        page = solidarity.Page([], 1, 1, 0)
    if page is None:
        return _error(gettext("There is no such page."), 404, found)
    texts = text_in(found, lang)
    body = {
        "slug": found.slug,
        "lang": lang,
        "dir": text_direction(lang),
        "title": texts.title,
        "heading": gettext("Solidarity messages: %(title)s", title=texts.title),
        "url": absolute_url("urgentaction.messages", slug=found.slug, lang=lang)
        if found.publish_messages
        else "",
        "publish": found.publish_messages,
        "declarations_heading": gettext("Declarations of solidarity"),
        "declarations": [_declared(d, found.slug, lang) for d in found.declarations],
        "written_in": written_in,
        "page": page.number,
        "pages": page.pages,
        "total": page.total,
        "messages": [_published(message, found.slug, lang) for message in page.messages],
        "labels": message_labels(),
    }
    response = _cors(jsonify(body), found)
    # Only what supporters asked to publish: shared caches may keep it briefly,
    # apart per origin and language.
    response.headers["Cache-Control"] = f"public, max-age={MESSAGES_MAX_AGE}"
    response.vary.add("Accept-Language")
    response.add_etag()
    return response.make_conditional(request)


@api.route("/campaigns/<slug>", methods=["OPTIONS"])
@api.route("/campaigns/<slug>/actions", methods=["OPTIONS"])
@api.route("/campaigns/<slug>/declarations/<public_id>/signatures", methods=["OPTIONS"])
def preflight(slug: str, public_id: str = "") -> Response:
    found = public_campaign(slug)
    origin = request_origin()
    if not origin or not is_allowed(origin, found):
        return Response(status=403)
    response = Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = "GET, POST"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    return _cors(response, found)


@api.route("/campaigns/<slug>/actions", methods=["POST"], provide_automatic_options=False)
def take(slug: str) -> Response:
    found = public_campaign(slug)
    if found is None:
        return _no_campaign()
    if not found.takes_actions:
        message = gettext("This campaign takes no actions: it has no one to send a message to.")
        return _error(message, 404, found)
    fields = json_fields()
    lang = campaign_language(found, fields.text.get("lang", "") if fields else "")
    origin = request_origin()
    if origin and not is_allowed(origin, found):
        return _error(_origin_refused(), 403, cors=False)
    submitted = submit(found, fields, lang, origin)
    outcome = submitted.outcome
    if isinstance(outcome, Taken):
        body = {
            "status": "ok",
            "count": outcome.count,
            "count_text": count_text(outcome.count, lang, found),
            "opt_in_pending": outcome.opt_in_pending,
        }
        return _answer(body, 201, found)
    if isinstance(outcome, AlreadyActed):
        message = gettext("You have already sent this message. Thank you!")
        return _answer({"error": message, "count": outcome.count}, 409, found)
    return _not_stored(outcome, submitted.form, found)


@api.route(
    "/campaigns/<slug>/declarations/<public_id>/signatures", methods=["POST"],
    provide_automatic_options=False,
)  # fmt: skip
def cosign(slug: str, public_id: str) -> Response:
    """Co-sign a declaration (cosigning.py): stored pending an organiser's approval."""
    found = public_campaign(slug)
    if found is None:
        return _no_campaign()
    declaration = declarations.find(found.declarations, public_id)
    if declaration is None:
        choose_language(site_languages(), "en")
        return _error(gettext("There is no such declaration."), 404, found)
    fields = json_fields()
    lang = choose_language(declaration.languages, fields.text.get("lang", "") if fields else "")
    origin = request_origin()
    if origin and not is_allowed(origin, found):
        return _error(_origin_refused(), 403, cors=False)
    submitted = submit_signature(found, declaration, fields, lang)
    outcome = submitted.outcome
    if isinstance(outcome, cosigning.Signed):
        return _answer({"status": "pending"}, 201, found)
    if isinstance(outcome, cosigning.AlreadySigned):
        message = gettext("You have already signed this declaration. Thank you!")
        return _error(message, 409, found)
    return _not_stored(outcome, submitted.form, found)


def _not_stored(
    outcome: object, form: ChallengeForm | None, campaign: CampaignSnapshot
) -> Response:
    """The answers an action and a co-signature share when nothing was stored: the
    campaign closed, too many from one connection, a body not read, or invalid."""
    if isinstance(outcome, Closed):
        message = gettext("This campaign is closed. Thank you for your support.")
        return _error(message, 410, campaign)
    if isinstance(outcome, RateLimited):
        message = gettext("Too many messages from your connection. Please try again in a minute.")
        response = _error(message, 429, campaign)
        response.headers["Retry-After"] = str(outcome.wait)
        return response
    if isinstance(outcome, Malformed) or form is None:
        return _error(gettext("The request body must be a JSON object."), 400, campaign)
    assert isinstance(outcome, Invalid), outcome
    return _invalid(form, campaign)


def _invalid(form: ChallengeForm, campaign: CampaignSnapshot) -> Response:
    errors = form.error_map()
    body: dict[str, Any] = {"errors": errors}
    if "challenge" in errors:
        # A fresh challenge to retry with, so the widget need not reload.
        body["challenge"] = form.challenge.as_json()
    return _answer(body, 422, campaign)


@api.route("/bounces", methods=["POST"])
def bounce_webhook() -> Response:
    """Bounces a mail provider reports: a raw DSN or JSON events, signed with
    ``URGENTACTION_BOUNCE_WEBHOOK_SECRET`` (docs/deliverability.md). Not for browsers:
    no CORS, and off (404) until the secret is set."""
    secret = current_app.config.get("URGENTACTION_BOUNCE_WEBHOOK_SECRET")
    if not secret:
        return _error("Not found.", 404, cors=False)
    body = read_body()
    signature = request.headers.get("X-UrgentAction-Signature")
    if not bounces.signature_ok(signature, body, str(secret), time.time()):
        response = _error("Missing, wrong or stale X-UrgentAction-Signature.", 401, cors=False)
        response.headers["WWW-Authenticate"] = 'X-UrgentAction-Signature realm="bounces"'
        return response
    reports = bounces.posted(request.content_type or "", body)
    if reports is None:
        message = 'The body is neither a delivery-status notification nor {"events": [...]}.'
        return _error(message, 400, cors=False)
    summary = bounces.apply(get_session(), reports, "webhook")
    return _answer({"recorded": summary.recorded, "ignored": summary.ignored}, 200, cors=False)


@api.errorhandler(HTTPException)
def api_error(error: HTTPException) -> Response:
    """Errors of the API are JSON too, in the request's language."""
    choose_language(site_languages(), "en")
    if error.code == 404:
        return _no_campaign()
    if error.code == 413:
        return _error(too_large(), 413)
    return _error(gettext("Something went wrong. Please try again."), error.code or 500)


@api.route("/openapi.json")
def openapi() -> Response:
    base = url_for("urgentaction.api.openapi", _external=True).rsplit("/", 1)[0]
    response = jsonify(openapi_document(base))
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def widget() -> Response:
    """The embed script, cacheable; webmasters link it from any site."""
    static = os.path.join(os.path.dirname(os.path.dirname(__file__)), "static")
    if not os.path.exists(os.path.join(static, "widget.js")):
        raise NotFound()
    response = send_from_directory(static, "widget.js", max_age=3600)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
