"""The form alone, for a third-party <iframe>; it needs no cookie to work.

Framing is allowed for the campaign's allowed origins only, and the page tells
its parent its height (static/embed.js) so the iframe can fit it. For
attribution, a partner tag comes in as ``?partner=`` on the iframe's address,
and the framing page's origin (from the Referer of the iframe's request) rides
along in a hidden field; on POST it counts only if it is an allowed origin.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, make_response, request
from werkzeug.wrappers import Response

from ..campaigns import CampaignSnapshot, CampaignStatus, count_actions, effective_status, text_in
from ..forms import LIMITS
from ..origins import form_post_allowed, frame_ancestors, is_allowed, normalize
from ..storage import get_session
from .lookup import campaign_language, load_campaign
from .rendering import content_policy, form_answer, new_form, render
from .submission import form_fields, submit

embed = Blueprint("embed", __name__)


def _framable(result: Response | tuple[Any, ...], campaign: CampaignSnapshot) -> Response:
    response = make_response(result)
    response.headers["Content-Security-Policy"] = content_policy(frame_ancestors(campaign))
    return response


@embed.route("/<slug>/embed", methods=["GET", "POST"])
def form(slug: str) -> Response:
    campaign = load_campaign(slug)
    if request.method == "POST":
        if not campaign.takes_actions:
            abort(404)
        if not form_post_allowed(campaign):
            abort(403)
        fields = form_fields()
        lang = campaign_language(campaign, fields.text.get("lang", ""))
        framing = _framing_origin(fields.text.get("embed_origin", ""), campaign)
        submitted = submit(campaign, fields, lang, framing)
        result = form_answer(submitted, campaign, lang, "embed.html",
                             "urgentaction.embed.thanks", embed_origin=framing)  # fmt: skip
        return _framable(result, campaign)
    lang = campaign_language(campaign)
    texts = text_in(campaign, lang)
    form = None
    live = effective_status(campaign) is CampaignStatus.LIVE
    if live and campaign.takes_actions:
        form = new_form(campaign, texts)
        form.partner.data = _partner_tag(request.args.get("partner", ""))
    page = render(
        "embed.html", lang, 200 if live else 410,
        campaign=campaign, texts=texts, form=form,
        count=count_actions(get_session(), campaign.id),
        embed_origin=_framing_origin(request.referrer or "", campaign),
    )  # fmt: skip
    return _framable(page, campaign)


def _framing_origin(value: str, campaign: CampaignSnapshot) -> str:
    """The page framing us, if it is one allowed to; "" when unknown."""
    origin = normalize(value)
    return origin if origin and is_allowed(origin, campaign) else ""


def _partner_tag(value: str) -> str:
    """The iframe's ``?partner=`` tag, carried in a hidden field; junk is dropped.

    The form validates it again on POST; dropping here keeps a bad link from
    showing the supporter an error about a field they cannot see.
    """
    value = value.strip()
    return value if value.isprintable() and len(value) <= LIMITS["partner"] else ""


@embed.route("/<slug>/embed/thanks")
def thanks(slug: str) -> Response:
    campaign = load_campaign(slug)
    lang = campaign_language(campaign)
    page = render(
        "embed_thanks.html", lang, campaign=campaign, texts=text_in(campaign, lang),
        count=count_actions(get_session(), campaign.id),
        opt_in_pending=request.args.get("optin") == "1",
    )  # fmt: skip
    return _framable(page, campaign)
