"""Our own translation domain and the language a page or mail is in.

The host app may run Flask-Babel with its own locale selector; our pages pick
their language from the campaign instead, so our domain reads the language we
chose (kept on ``g``) rather than Flask-Babel's global locale.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.support import NullTranslations, Translations
from flask import g, has_app_context, request
from flask_babel import Domain

TRANSLATIONS_DIR = os.path.join(os.path.dirname(__file__), "translations")
DOMAIN_NAME = "urgentaction"
FALLBACK = "en"

_catalogs: dict[str, NullTranslations] = {}


def shipped_languages() -> list[str]:
    """Languages with a compiled catalog in the package, plus English (the source)."""
    found = {FALLBACK}
    if os.path.isdir(TRANSLATIONS_DIR):
        for name in os.listdir(TRANSLATIONS_DIR):
            mo = os.path.join(TRANSLATIONS_DIR, name, "LC_MESSAGES", DOMAIN_NAME + ".mo")
            if os.path.exists(mo):
                found.add(name.replace("_", "-"))
    return sorted(found)


def current_language() -> str:
    """The language chosen for this request or mail, else the fallback."""
    if has_app_context():
        return str(g.get("urgentaction_lang", FALLBACK))
    return FALLBACK


@contextmanager
def use_language(lang: str) -> Iterator[None]:
    """Render everything inside in ``lang`` (used for mails outside a request)."""
    previous = g.get("urgentaction_lang")
    g.urgentaction_lang = lang
    try:
        yield
    finally:
        if previous is None:
            g.pop("urgentaction_lang", None)
        else:
            g.urgentaction_lang = previous


def set_language(lang: str) -> None:
    g.urgentaction_lang = lang


def catalog(lang: str) -> NullTranslations:
    """The compiled catalog for ``lang``, cached per process."""
    try:
        return _catalogs[lang]
    except KeyError:
        pass
    try:
        locale = Locale.parse(lang, sep="-")
    except (ValueError, UnknownLocaleError):
        locale = Locale.parse(FALLBACK)
    loaded = Translations.load(TRANSLATIONS_DIR, [locale], DOMAIN_NAME)
    _catalogs[lang] = loaded
    return loaded


class UrgentActionDomain(Domain):  # type: ignore[misc]
    """A Flask-Babel domain that follows :func:`current_language`."""

    def __init__(self) -> None:
        super().__init__(translation_directories=[TRANSLATIONS_DIR], domain=DOMAIN_NAME)

    def get_translations(self) -> NullTranslations:
        return catalog(current_language())


domain = UrgentActionDomain()


def gettext(string: str, **variables: Any) -> str:
    """Translate ``string`` into the current language (Flask-Babel's is untyped)."""
    return str(domain.gettext(string, **variables))


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    """Plural-aware gettext; ``%(num)s`` defaults to ``n`` (pass a formatted one)."""
    text = domain.get_translations().ungettext(singular, plural, n)
    variables.setdefault("num", n)
    return str(text % variables)


lazy_gettext = domain.lazy_gettext
_ = gettext


def locale_of(lang: str) -> Locale:
    try:
        return Locale.parse(lang, sep="-")
    except (ValueError, UnknownLocaleError):
        return Locale.parse(FALLBACK)


def text_direction(lang: str) -> str:
    return "rtl" if locale_of(lang).character_order == "right-to-left" else "ltr"


def written_direction(text: str, lang: str) -> str:
    """The direction ``text`` is written in, decided as HTML's ``dir="auto"`` does it
    (by its first strongly directional letter); ``lang``'s when it has none."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return "rtl"
        if kind == "L":
            return "ltr"
    return text_direction(lang)


def language_name(lang: str) -> str:
    """The language's name in itself ("Deutsch", "Shqip")."""
    name = locale_of(lang).get_display_name(locale_of(lang)) or lang
    return name[:1].upper() + name[1:]


def language_name_in(code: str, lang: str) -> str:
    """The name of language ``code`` in language ``lang`` ("Albanisch" in German)."""
    return str(locale_of(code).get_display_name(locale_of(lang)) or code)


def negotiate(available: Iterable[str], fallback: str) -> str:
    """Pick the page language: ``?lang=`` first, then Accept-Language, then fallback."""
    offered = list(available)
    wanted = request.args.get("lang", "")
    chosen = match(wanted, offered)
    if chosen:
        return chosen
    for value, _quality in request.accept_languages:
        chosen = match(value, offered)
        if chosen:
            return chosen
    return fallback


def match(wanted: str, offered: Iterable[str]) -> str | None:
    """Match a requested tag to an offered one, exactly or by its primary subtag."""
    wanted = wanted.strip().replace("_", "-").lower()
    if not wanted:
        return None
    by_lower = {code.lower(): code for code in offered}
    if wanted in by_lower:
        return by_lower[wanted]
    primary = wanted.split("-")[0]
    if primary in by_lower:
        return by_lower[primary]
    for code_lower, code in by_lower.items():
        if code_lower.split("-")[0] == primary:
            return code
    return None


def template_helpers() -> dict[str, Any]:
    """Names our templates use for translation; passed on every render."""
    return {"_": gettext, "gettext": gettext, "ngettext": ngettext}
