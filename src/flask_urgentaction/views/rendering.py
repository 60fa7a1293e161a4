"""Turning things into HTML: our templates, numbers and counts, field attributes,
and what a form submission became, for the campaign page and the iframe embed."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from babel import Locale
from babel.core import get_global
from babel.dates import format_date
from babel.lists import format_list
from babel.numbers import format_decimal
from flask import current_app, render_template, url_for
from werkzeug.wrappers import Response

from .. import links
from ..actions import AlreadyActed, Closed, RateLimited, Taken, opt_in_text
from ..campaigns import CampaignSnapshot, Text, count_actions, message_text, text_in
from ..countries import country_name, sort_key
from ..forms import ActionForm
from ..i18n import (
    gettext,
    language_name,
    language_name_in,
    locale_of,
    ngettext,
    template_helpers,
    text_direction,
)
from ..markdown import render_markdown
from ..storage import get_session
from .submission import Invalid, Submitted


def number(value: int, lang: str) -> str:
    """A number written the way ``lang`` writes it (5,000 or 5.000)."""
    return str(format_decimal(value, locale=lang.replace("-", "_")))


def date_text(moment: datetime, lang: str) -> str:
    """A day written the way ``lang`` writes it (31 January 2027, 31. Januar 2027)."""
    return str(format_date(moment.astimezone(UTC).date(), format="long", locale=locale_of(lang)))


def countries_text(codes: Iterable[str], lang: str) -> str:
    """Country names as ``lang`` lists them ("Albania and Kosovo")."""
    names = [country_name(code, lang) for code in codes]
    return str(format_list(names, locale=locale_of(lang))) if names else ""


def language_choices(codes: Iterable[str]) -> list[tuple[str, str]]:
    """(code, name in itself) for the language picker's list, ordered by those
    names in CLDR's root collation (English has no tailoring of its own), so the
    order is the same whatever language the page is in."""
    named = [(code, language_name(code)) for code in codes]
    return sorted(named, key=lambda pair: sort_key(pair[1], "en"))


# Characters of a page's description in a link preview (longer ones are cut there).
DESCRIPTION_CHARS = 200


def shorten(text: str, limit: int = DESCRIPTION_CHARS) -> str:
    """``text`` on one line, cut at a space before ``limit`` characters with "…"."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + "…"


def og_locale(lang: str) -> str:
    """``lang`` as Open Graph writes a locale: language and territory ("de_DE")."""
    locale = locale_of(lang)
    territory = locale.territory
    if not territory:
        likely = get_global("likely_subtags").get(locale.language)
        territory = Locale.parse(likely).territory if likely else None
    return f"{locale.language}_{territory}" if territory else locale.language


def campaign_share_meta(campaign: CampaignSnapshot, texts: Text) -> dict[str, Any]:
    """The link preview of a campaign (templates/urgentaction/_share_meta.html): its
    title and summary in the page's language, its picture, its page's address."""
    return {
        "title": texts.title,
        "description": shorten(texts.summary or texts.title),
        "type": "website",
        # Absolute, from a trusted host only: a preview is kept by the sites it is shared on.
        "url": links.public_url("urgentaction.campaign", slug=campaign.slug, lang=texts.lang),
        "locale": og_locale(texts.lang),
        "locale_alternates": [og_locale(code) for code in campaign.languages if code != texts.lang],
        "image": campaign.image,
        "image_alt": texts.image_alt if campaign.image else "",
    }


def count_text(count: int, lang: str, campaign: CampaignSnapshot | None = None) -> str:
    """The count as a sentence; a campaign gathering solidarity messages sends none."""
    num = number(count, lang)
    if campaign is not None and campaign.gathers_messages:
        return ngettext(
            "%(num)s message of solidarity", "%(num)s messages of solidarity", count, num=num
        )
    return ngettext("%(num)s message sent", "%(num)s messages sent", count, num=num)


def thanks_text(campaign: CampaignSnapshot) -> str:
    """What became of the supporter's message, said on every thank-you."""
    if campaign.gathers_messages:
        return gettext(
            "Your message is published on the campaign page once the organisers approve it."
        )
    return gettext("Your message is on its way to the targets.")


def publication_text() -> str:
    """Said above the button where submitting is the request to publish
    (a campaign gathering solidarity messages): exactly what becomes public."""
    return gettext(
        "Your message will be published on the campaign page with your name, union and "
        "country once the organisers approve it. Your email address is never shown."
    )


def privacy_url(campaign: CampaignSnapshot) -> str:
    """The campaign's privacy statement, else the site's (``URGENTACTION_PRIVACY_URL``)."""
    return campaign.privacy_url or current_app.config["URGENTACTION_PRIVACY_URL"] or ""


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
        language_choices=language_choices,
        aria=aria,
        number=number,
        count_text=count_text,
        thanks_text=thanks_text,
        publication_text=publication_text,
        render_markdown=render_markdown,
        privacy_url=privacy_url,
        opt_in_text=opt_in_text(),
        # No opt-in box when its confirmation link could not be mailed.
        opt_in_offered=links.available(),
        **context,
    )
    return html, status


def new_form(campaign: CampaignSnapshot, texts: Text) -> ActionForm:
    form = ActionForm(campaign_id=campaign.id, formdata=None)
    # With a fixed message_lang the message is in that language, whatever the page's.
    message = message_text(campaign, texts.lang)
    form.subject.data = message.subject or message.title
    form.message.data = message.message
    form.lang.data = texts.lang
    return form


def message_context(campaign: CampaignSnapshot, lang: str) -> dict[str, Any]:
    """When the message is sent in another language than the page's: say so, and
    give the campaign's translation of it in the page's language, if it has one."""
    sent = message_text(campaign, lang)
    page_lang = text_in(campaign, lang).lang
    # A solidarity message is published as written, and sent in no language.
    if sent.lang == page_lang or campaign.gathers_messages:
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


def form_answer(
    submitted: Submitted,
    campaign: CampaignSnapshot,
    lang: str,
    template: str,
    thanks_endpoint: str,
    **context: Any,
) -> Response | tuple[str, int, dict[str, str]]:
    """A form submission's outcome as a page: the thanks page, or the form again."""
    outcome = submitted.outcome
    # A second click of one submission ends where the first did.
    if isinstance(outcome, Taken) or (isinstance(outcome, AlreadyActed) and outcome.repeated):
        location = url_for(
            thanks_endpoint, slug=campaign.slug, lang=lang, optin=int(outcome.opt_in_pending)
        )
        return Response(status=303, headers={"Location": location})
    notice, status, headers = "", 422, {}
    if isinstance(outcome, Closed):
        status = 410
    elif isinstance(outcome, AlreadyActed):
        notice, status = gettext("You have already sent this message. Thank you!"), 409
    elif isinstance(outcome, RateLimited):
        notice = gettext("Too many messages from your connection. Please try again in a minute.")
        status, headers = 429, {"Retry-After": str(outcome.wait)}
    elif not isinstance(outcome, Invalid):
        raise AssertionError(f"unexpected outcome {outcome!r}")
    html, code = render(
        template, lang, status, campaign=campaign, texts=text_in(campaign, lang),
        form=submitted.form, notice=notice, count=count_actions(get_session(), campaign.id),
        **context,
    )  # fmt: skip
    return html, code, headers


def too_large() -> str:
    """Why a body over the size cap was refused (413), for pages and the API alike."""
    return gettext("What you sent is too large. Please shorten it and try again.")


def content_policy(frame_ancestors: str) -> str:
    return (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; "
        f"base-uri 'none'; form-action 'self'; frame-ancestors {frame_ancestors}"
    )
