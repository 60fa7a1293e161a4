"""A declaration of solidarity by an organisation, on a page of its own.

In the reader's language (``?lang=``, then Accept-Language) when the declaration
is written in it, else in its first language; a switch offers its languages.
The title and teaser are escaped; the body is Markdown with raw HTML off.
Under it: the approved co-signatures, and while the campaign is live, a form to
co-sign it (cosigning.py), posted to the page itself.
"""

from __future__ import annotations

from flask import Blueprint, abort, request, url_for
from werkzeug.wrappers import Response

from .. import cosigning, declarations
from ..actions import Closed, RateLimited
from ..campaigns import CampaignStatus, effective_status, text_in
from ..countries import country_name
from ..forms import CosignForm
from ..i18n import gettext
from ..origins import form_post_allowed
from ..storage import get_session
from .lookup import choose_language, load_campaign
from .messages import share_meta
from .rendering import date_text, render
from .submission import Invalid, form_fields, submit_signature


def register_declarations(bp: Blueprint) -> None:
    bp.add_url_rule(
        "/<slug>/declarations/<public_id>", "declaration", declaration_page,
        methods=["GET", "POST"],
    )  # fmt: skip


def declaration_page(slug: str, public_id: str) -> Response | tuple[str, int, dict[str, str]]:
    campaign = load_campaign(slug)
    declaration = declarations.find(campaign.declarations, public_id)
    if declaration is None:
        abort(404)
    first = declaration.texts[0].lang
    lang = choose_language(declaration.languages, first)
    live = effective_status(campaign) is CampaignStatus.LIVE
    form: CosignForm | None = CosignForm(campaign_id=campaign.id, formdata=None) if live else None
    notice, status, headers = "", 200, {}
    if request.method == "POST":
        if not form_post_allowed(campaign):
            abort(403)
        fields = form_fields()
        lang = choose_language(declaration.languages, fields.text.get("lang", "") or lang)
        submitted = submit_signature(campaign, declaration, fields, lang)
        outcome = submitted.outcome
        if isinstance(outcome, cosigning.Signed) or (
            isinstance(outcome, cosigning.AlreadySigned) and outcome.repeated
        ):
            # A second click of one submission ends where the first did.
            location = url_for("urgentaction.declaration", slug=slug, public_id=public_id,
                               lang=lang, signed=1, _anchor="ua-cosign")  # fmt: skip
            return Response(status=303, headers={"Location": location})
        form, status = submitted.form, 422
        if isinstance(outcome, Closed):
            form, status = None, 410
        elif isinstance(outcome, cosigning.AlreadySigned):
            notice, status = gettext("You have already signed this declaration. Thank you!"), 409
        elif isinstance(outcome, RateLimited):
            notice = gettext(
                "Too many messages from your connection. Please try again in a minute."
            )
            status, headers = 429, {"Retry-After": str(outcome.wait)}
        elif not isinstance(outcome, Invalid):
            form, status = None, 400
    if form is not None:
        form.lang.data = lang
    text = declaration.text_in(lang)
    texts = text_in(campaign, lang)
    signed = request.args.get("signed") == "1" and status == 200
    byline = gettext("A declaration of solidarity by %(organisation)s",
                     organisation=declaration.organisation)  # fmt: skip
    html, code = render(
        "declaration.html", lang, status, campaign=campaign, texts=texts,
        declaration=declaration, text=text, byline=byline, languages=declaration.languages,
        country_name=country_name, date_text=date_text, cosign_form=form, notice=notice,
        signatures=cosigning.shown(get_session(), declaration), signed=signed,
        share_meta=share_meta(f"{text.title} · {declaration.organisation}",
                              text.teaser or text.body or text.title, lang,
                              "urgentaction.declaration", "article", slug=slug,
                              public_id=public_id),
    )  # fmt: skip
    return html, code, headers
