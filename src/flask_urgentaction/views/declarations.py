"""A declaration of solidarity by an organisation, on a page of its own.

In the reader's language (``?lang=``, then Accept-Language) when the declaration
is written in it, else in its first language; a switch offers its languages.
The title and teaser are escaped; the body is Markdown with raw HTML off.
"""

from __future__ import annotations

from flask import Blueprint, abort

from .. import declarations
from ..campaigns import text_in
from ..countries import country_name
from ..i18n import gettext
from .lookup import choose_language, load_campaign
from .messages import share_meta
from .rendering import date_text, render


def register_declarations(bp: Blueprint) -> None:
    bp.add_url_rule("/<slug>/declarations/<public_id>", "declaration", declaration_page)


def declaration_page(slug: str, public_id: str) -> tuple[str, int]:
    campaign = load_campaign(slug)
    declaration = declarations.find(campaign.declarations, public_id)
    if declaration is None:
        abort(404)
    first = declaration.texts[0].lang
    lang = choose_language(declaration.languages, first)
    text = declaration.text_in(lang)
    texts = text_in(campaign, lang)
    byline = gettext("A declaration of solidarity by %(organisation)s",
                     organisation=declaration.organisation)  # fmt: skip
    return render(
        "declaration.html", lang, campaign=campaign, texts=texts, declaration=declaration,
        text=text, byline=byline, languages=declaration.languages,
        country_name=country_name, date_text=date_text,
        share_meta=share_meta(f"{text.title} · {declaration.organisation}",
                              text.teaser or text.body or text.title, lang,
                              "urgentaction.declaration", "article", slug=slug,
                              public_id=public_id),
    )  # fmt: skip
