"""The form alone, for a third-party <iframe>; it needs no cookie to work.

Framing is allowed for the campaign's allowed origins only, and the page tells
its parent its height (static/embed.js) so the iframe can fit it. A partner
tag for attribution comes in as ``?partner=`` on the iframe's address.
"""

from __future__ import annotations

from flask import Blueprint, make_response, request
from werkzeug.wrappers import Response

from ..campaigns import count_actions, text_in
from ..forms import LIMITS
from ..models import Campaign
from ..origins import frame_ancestors
from ..storage import get_session
from .common import (
    campaign_language,
    content_policy,
    count_text,
    load_campaign,
    new_form,
    render,
    submit_form,
)

embed = Blueprint("embed", __name__)


def _framable(result: Response | tuple[str, int], campaign: Campaign) -> Response:
    response = make_response(result)
    response.headers["Content-Security-Policy"] = content_policy(frame_ancestors(campaign))
    return response


@embed.route("/<slug>/embed", methods=["GET", "POST"])
def form(slug: str) -> Response:
    campaign = load_campaign(slug)
    lang = campaign_language(campaign, request.form.get("lang", ""))
    if request.method == "POST":
        result = submit_form(campaign, lang, "embed.html", "urgentaction.embed.thanks",
                             count_text=count_text)  # fmt: skip
        return _framable(result, campaign)
    texts = text_in(campaign, lang)
    form = None
    if campaign.status == "live":
        form = new_form(campaign, texts)
        form.partner.data = _partner_tag(request.args.get("partner", ""))
    page = render(
        "embed.html", lang, 200 if campaign.status == "live" else 410,
        campaign=campaign, texts=texts, count_text=count_text, form=form,
        count=count_actions(get_session(), campaign.id),
    )  # fmt: skip
    return _framable(page, campaign)


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
        count=count_actions(get_session(), campaign.id), count_text=count_text,
        opt_in_pending=request.args.get("optin") == "1",
    )  # fmt: skip
    return _framable(page, campaign)
