"""Published solidarity messages: their pages and their Atom feed.

Only for a campaign with ``[messages] publish = true`` (404 otherwise), and only
approved messages of supporters not erased (solidarity.py decides). The feed
also carries the campaign's declarations, so it is there for a campaign with
declarations too. The text is
shown as typed: escaped by the templates and the feed writer, links left as
plain text. ``?lang=`` is the page's language, as on every page;
``?written_in=`` keeps the messages written in one language.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, request, url_for
from werkzeug.wrappers import Response

from .. import atom, links, solidarity
from ..campaigns import CampaignSnapshot, text_in
from ..countries import country_name, sort_key
from ..declarations import DeclarationSnapshot
from ..i18n import gettext, language_name_in
from ..storage import get_session
from .lookup import campaign_language, load_campaign
from .rendering import date_text, og_locale, render, shorten


def register_messages(bp: Blueprint) -> None:
    bp.add_url_rule("/<slug>/messages", "messages", messages_page)
    bp.add_url_rule("/<slug>/messages.atom", "messages_feed", messages_feed)
    bp.add_url_rule("/<slug>/messages/<public_id>", "message", message_page)


def _publishing(slug: str) -> CampaignSnapshot:
    campaign = load_campaign(slug)
    if not campaign.publish_messages:
        abort(404)
    return campaign


def language_label(code: str, lang: str) -> str:
    """The name of language ``code`` in ``lang``, as a label ("Arabisch", "Árabe")."""
    name = language_name_in(code, lang)
    return name[:1].upper() + name[1:]


def absolute_url(endpoint: str, **values: Any) -> str:
    """For feed readers and link previews, which keep it: from a trusted host when
    there is one (links.py), else from the request."""
    return links.public_url(endpoint, **values) or url_for(endpoint, _external=True, **values)


def share_meta(title: str, text: str, lang: str, endpoint: str, kind: str = "website",
               **values: Any) -> dict[str, Any]:  # fmt: skip
    """The link preview (templates/urgentaction/_share_meta.html) of a page of ours;
    its og:url from a trusted host only, as the campaign page's."""
    return {
        "title": title,
        "description": shorten(text),
        "type": kind,
        "url": links.public_url(endpoint, lang=lang, **values),
        "locale": og_locale(lang),
    }


def _helpers() -> dict[str, Any]:
    return {"country_name": country_name, "language_label": language_label, "date_text": date_text}


def messages_page(slug: str) -> tuple[str, int]:
    campaign = _publishing(slug)
    lang = campaign_language(campaign)
    texts = text_in(campaign, lang)
    session = get_session()
    present = solidarity.languages(session, campaign.id)
    written_in = request.args.get("written_in", "")
    if written_in and written_in not in present:
        written_in = ""
    number = request.args.get("page", "1")
    found = solidarity.page(
        session, campaign.id, int(number) if number.isdigit() else 0, written_in or None
    )
    if found is None:
        abort(404)

    def page_url(page: int, language: str = written_in) -> str:
        return url_for("urgentaction.messages", slug=slug, lang=lang, **_page_args(page, language))

    title = gettext("Solidarity messages: %(title)s", title=texts.title)
    return render(
        "solidarity_messages.html", lang, campaign=campaign, texts=texts, page=found,
        written_in=written_in, page_url=page_url,
        # Not "languages": that is the language picker's (_languages.html).
        message_languages=sorted(((code, language_label(code, lang)) for code in present),
                                 key=lambda pair: sort_key(pair[1], lang)),
        feed_url=url_for("urgentaction.messages_feed", slug=slug, lang=lang),
        share_meta=share_meta(title, texts.summary or texts.title, lang, "urgentaction.messages",
                              slug=slug, **_page_args(found.number, written_in)),
        **_helpers(),
    )  # fmt: skip


def _page_args(page: int, language: str) -> dict[str, Any]:
    found: dict[str, Any] = {"page": page} if page > 1 else {}
    if language:
        found["written_in"] = language
    return found


def message_page(slug: str, public_id: str) -> tuple[str, int]:
    campaign = _publishing(slug)
    lang = campaign_language(campaign)
    texts = text_in(campaign, lang)
    message = solidarity.find(get_session(), campaign.id, public_id)
    if message is None:
        abort(404)
    heading = gettext("A message from %(name)s", name=message.name)
    return render(
        "solidarity_message.html", lang, campaign=campaign, texts=texts, message=message,
        heading=heading,
        share_meta=share_meta(f"{heading} · {texts.title}", message.text, lang,
                              "urgentaction.message", "article", slug=slug, public_id=public_id),
        **_helpers(),
    )  # fmt: skip


def _declaration_entry(declaration: DeclarationSnapshot, campaign: CampaignSnapshot,
                       lang: str) -> atom.Entry:  # fmt: skip
    """A declaration in the feed: in the feed's language when it is written in it."""
    text = declaration.text_in(lang)
    address = {"slug": campaign.slug, "public_id": declaration.public_id}
    return atom.Entry(
        id=absolute_url("urgentaction.declaration", **address),
        title=text.title,
        link=absolute_url("urgentaction.declaration", lang=text.lang, **address),
        # Made before it was written into the file, or when the file was loaded.
        updated=declaration.published or campaign.updated_at,
        published=declaration.published,
        summary=text.teaser,
        content=text.body,
        lang=text.lang,
        author=declaration.organisation,
    )


def messages_feed(slug: str) -> Response:
    campaign = load_campaign(slug)
    if not campaign.publish_messages and not campaign.declarations:
        abort(404)
    lang = campaign_language(campaign)
    texts = text_in(campaign, lang)
    messages = solidarity.newest(get_session(), campaign.id) if campaign.publish_messages else []
    # A declaration written in the asked-for language comes in it, though the campaign is not.
    wanted = request.args.get("lang", "") or lang
    entries = [_declaration_entry(d, campaign, wanted) for d in campaign.declarations]
    for message in messages:
        # The id is the message's address without a language: the same in every feed.
        address = {"slug": slug, "public_id": message.public_id}
        parts = [message.name, message.union, country_name(message.country, lang)]
        entries.append(
            atom.Entry(
                id=absolute_url("urgentaction.message", **address),
                title=" · ".join(part for part in parts if part),
                title_lang=lang,
                link=absolute_url("urgentaction.message", lang=lang, **address),
                updated=message.approved_at,
                published=message.created_at,
                content=message.text,
                lang=message.lang,
                author=message.name,
            )
        )
    entries.sort(key=lambda entry: entry.updated, reverse=True)
    updated = max((e.updated for e in entries), default=datetime.now(UTC))
    page = "urgentaction.messages" if campaign.publish_messages else "urgentaction.campaign"
    feed = atom.Feed(
        id=absolute_url("urgentaction.messages", slug=slug),
        title=gettext("Solidarity messages: %(title)s", title=texts.title),
        subtitle=texts.summary,
        link=absolute_url(page, slug=slug, lang=lang),
        self_link=absolute_url("urgentaction.messages_feed", slug=slug, lang=lang),
        updated=updated,
        lang=lang,
        author=campaign.partner or texts.title,
        entries=entries,
    )
    response = Response(atom.render(feed), mimetype="application/atom+xml")
    # Readers may keep it, but ask each time: a rejected or erased message must
    # leave the feed at once.
    response.headers["Cache-Control"] = "no-cache"
    response.vary.add("Accept-Language")
    response.add_etag()
    return response.make_conditional(request)
