"""What the page, embed and API views share: loading, language, rendering, posting."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from babel.numbers import format_decimal
from flask import Blueprint, abort, current_app, render_template, url_for
from werkzeug.wrappers import Response

from .. import outbox
from ..actions import AlreadyActed, ChallengeReused, Taken, opt_in_text, take_action
from ..campaigns import Text, count_actions, find, message_text, text_in
from ..forms import ActionForm
from ..i18n import (
    gettext,
    language_name,
    language_name_in,
    match,
    negotiate,
    ngettext,
    set_language,
    shipped_languages,
    template_helpers,
    text_direction,
)
from ..markdown import render_markdown
from ..models import Campaign
from ..origins import form_post_allowed, request_origin
from ..storage import get_session

blueprint = Blueprint(
    "urgentaction",
    __name__.rpartition(".views")[0],
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


def site_languages() -> list[str]:
    configured = current_app.config["URGENTACTION_LANGUAGES"]
    return list(configured) if configured else shipped_languages()


def load_campaign(slug: str) -> Campaign:
    """A live or closed campaign, else 404 (drafts are not public)."""
    campaign = find(get_session(), slug)
    if campaign is None or campaign.status == "draft":
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


def number(value: int, lang: str) -> str:
    """A number written the way ``lang`` writes it (5,000 or 5.000)."""
    return str(format_decimal(value, locale=lang.replace("-", "_")))


def count_text(count: int, lang: str) -> str:
    return ngettext("%(num)s message sent", "%(num)s messages sent", count, num=number(count, lang))


def share_links(url: str, title: str) -> list[dict[str, str]]:
    text = quote(f"{title} {url}")
    return [
        {
            "name": gettext("Email"),
            "url": f"mailto:?subject={quote(title)}&body={quote(url)}",
        },
        {"name": "WhatsApp", "url": f"https://wa.me/?text={text}"},
        {
            "name": "Telegram",
            "url": f"https://t.me/share/url?url={quote(url)}&text={quote(title)}",
        },
        {
            "name": "Facebook",
            "url": f"https://www.facebook.com/sharer/sharer.php?u={quote(url)}",
        },
        {"name": "X", "url": f"https://x.com/intent/post?text={text}"},
    ]


def aria(
    field: Any, help: str = "", errors: list[str] | None = None, **attrs: Any
) -> dict[str, Any]:
    """A field's HTML attributes, with its help and errors tied to it for screen readers."""
    errors = field.errors if errors is None else errors
    described = [f"{field.id}-help"] if help else []
    if errors:
        described.append(f"{field.id}-error")
        attrs["aria-invalid"] = "true"
    if described:
        attrs["aria-describedby"] = " ".join(described)
    # Empty attributes are left out, but an explicit value="" must stay: it is
    # how the spam-check answer is cleared when a new question is shown.
    return {key: value for key, value in attrs.items() if value or key == "value"}


def render(template: str, lang: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """Render one of our templates with the translation helpers and page language."""
    context |= template_helpers()
    if context.get("form") is not None and context.get("campaign") is not None:
        context |= message_context(context["campaign"], lang)
    html = render_template(
        f"urgentaction/{template}",
        lang=lang,
        dir=text_direction(lang),
        language_name=language_name,
        aria=aria,
        number=number,
        count_text=count_text,
        render_markdown=render_markdown,
        opt_in_text=opt_in_text(),
        **context,
    )
    return html, status


def new_form(campaign: Campaign, texts: Text) -> ActionForm:
    form = ActionForm(campaign_id=campaign.id, formdata=None)
    # With a fixed message_lang the message is in that language, whatever the page's.
    message = message_text(campaign, texts.lang)
    form.subject.data = message.subject or message.title
    form.message.data = message.message
    form.lang.data = texts.lang
    return form


def message_context(campaign: Campaign, lang: str) -> dict[str, Any]:
    """When the message is sent in another language than the page's: say so, and
    give the campaign's translation of it in the page's language, if it has one."""
    sent = message_text(campaign, lang)
    page_lang = text_in(campaign, lang).lang
    if sent.lang == page_lang:
        return {}
    note = gettext(
        "The message is sent in %(language)s.", language=language_name_in(sent.lang, page_lang)
    )
    context: dict[str, Any] = {"message_note": note, "message_lang": sent.lang}
    by_lang = {t.lang: t for t in campaign.translations}
    # The page language's own message, else the fallback's (never an empty box).
    for source in (page_lang, campaign.fallback_lang):
        row = by_lang.get(source)
        if row is not None and row.message:
            if source != sent.lang:
                context["message_translation"] = {
                    "lang": source, "dir": text_direction(source), "message": row.message,
                }  # fmt: skip
            break
    return context


def submit_form(
    campaign: Campaign,
    lang: str,
    template: str,
    thanks_endpoint: str,
    source_origin: str | None = None,
    **context: Any,
) -> Response | tuple[str, int]:
    """Handle a form POST from the page or the embed: store, send, redirect."""
    texts = text_in(campaign, lang)
    if not form_post_allowed(campaign):
        abort(403)
    if campaign.status == "closed":
        return render(template, lang, 410, campaign=campaign, texts=texts, form=None,
                      count=count_actions(get_session(), campaign.id), **context)  # fmt: skip
    form = ActionForm(campaign_id=campaign.id)
    notice = ""
    status = 422
    wait = current_app.extensions["urgentaction"].limiter.hit()
    if wait is not None:
        notice = gettext("Too many messages from your connection. Please try again in a minute.")
        status = 429
    elif form.validate():
        try:
            source = request_origin() if source_origin is None else source_origin
            taken = take_action(campaign, form, lang, source)
        except AlreadyActed:
            notice = gettext("You have already sent this message. Thank you!")
            status = 409
        except ChallengeReused:
            form.challenge_token.errors = [gettext("This spam check was already used.")]
        else:
            deliver_inline(taken)
            return Response(
                status=303,
                headers={"Location": url_for(
                    thanks_endpoint, slug=campaign.slug, lang=lang,
                    optin=int(taken.opt_in_pending),
                )},
            )  # fmt: skip
    html, code = render(
        template, lang, status, campaign=campaign, texts=texts, form=form,
        notice=notice, count=count_actions(get_session(), campaign.id), **context,
    )  # fmt: skip
    if status == 429:
        return Response(html, status=code, headers={"Retry-After": str(wait)})
    return html, code


def deliver_inline(taken: Taken) -> None:
    """With inline delivery, send the action's mail now; failures stay queued."""
    if current_app.config["URGENTACTION_DELIVERY"] == "inline":
        outbox.deliver(taken.outbox_ids)


def content_policy(frame_ancestors: str) -> str:
    return (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; "
        f"base-uri 'none'; form-action 'self'; frame-ancestors {frame_ancestors}"
    )
