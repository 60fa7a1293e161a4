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
from functools import cache, lru_cache
from typing import Any, NamedTuple

from babel import Locale, UnknownLocaleError
from babel.core import get_global
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
    # A campaign in "pt-BR" or "zh-TW" gets the interface of our "pt" or "zh-Hant".
    shipped = match(lang, shipped_languages()) or FALLBACK
    loaded = Translations.load(TRANSLATIONS_DIR, [locale_of(shipped)], DOMAIN_NAME)
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


# Kept: parsing is most of the cost of a count or a country name, and the same few
# tags come back on every request. Bounded, as a tag may come from a request.
@lru_cache(maxsize=256)
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
    first_word = name.split(" ")[0]
    if any(char.isupper() for char in first_word[1:]):
        return name  # Cased inside already: "isiZulu" stays as it is.
    # Title case, not upper case: Georgian has no capitals at the start of a word.
    return name[:1].title() + name[1:]


def language_name_in(code: str, lang: str) -> str:
    """The name of language ``code`` in language ``lang`` ("Albanisch" in German)."""
    return str(locale_of(code).get_display_name(locale_of(lang)) or code)


def negotiate(available: Iterable[str], fallback: str) -> str:
    """Pick the page language: ``?lang=`` first, then Accept-Language, then fallback.

    Accept-Language entries are tried from the highest quality down (an entry
    with q=0 is refused, never chosen): the best entry that matches anything
    wins, so a German reader's "de-AT;q=0.9" beats an exact "en;q=0.5".
    """
    offered = list(available)
    chosen = match(request.args.get("lang", ""), offered)
    if chosen:
        return chosen
    for value, quality in request.accept_languages:
        chosen = match(value, offered) if quality > 0 else None
        if chosen:
            return chosen
    return fallback


class _Tag(NamedTuple):
    """A language tag read for matching: CLDR's language, script and region."""

    language: str
    script: str
    region: str
    given: str  # The tag as written, in canonical case ("zh-Hant"), aliases applied.
    bare: bool  # Only a language was given ("zh", "sr"): its script is a guess.


def _split(tag: str) -> tuple[str, str, str] | None:
    """(language, script, region) of a BCP 47 tag; variants and extensions dropped."""
    parts = tag.strip().replace("_", "-").split("-")
    language = parts[0].lower()
    if not (language.isascii() and language.isalpha() and 2 <= len(language) <= 8):
        return None
    script = region = ""
    for part in parts[1:]:
        if len(part) == 1:
            break  # An extension ("-u-...") or a private use part ("-x-...").
        if len(part) == 4 and part.isalpha() and not script and not region:
            script = part.title()
        elif (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            region = region or part.upper()
    return language, script, region


def _babel_id(language: str, script: str = "", region: str = "") -> str:
    return "_".join(part for part in (language, script, region) if part)


@cache
def _tag(tag: str) -> _Tag | None:
    """Read ``tag`` with CLDR's aliases (iw → he, in → id, tl → fil, sh → sr-Latn)
    and likely subtags (zh-TW is written in Hant, sr in Cyrl, sr-ME in Latn)."""
    split = _split(tag)
    if split is None:
        return None
    language, script, region = split
    bare = not script and not region
    alias = get_global("language_aliases").get(language)
    if isinstance(alias, str) and _split(alias) is not None:
        language, alias_script, alias_region = _split(alias)  # type: ignore[misc]
        script, region = script or alias_script, region or alias_region
    given = "-".join(part for part in (language, script, region) if part)
    likely = get_global("likely_subtags")
    for key in (_babel_id(language, script, region) if script and region else "",
                _babel_id(language, "", region) if region else "",
                _babel_id(language, script) if script else "",
                language):  # fmt: skip
        found = likely.get(key) if key else None
        if found:
            _language, likely_script, likely_region = _split(found) or ("", "", "")
            script, region = script or likely_script, region or likely_region
            break
    # CLDR makes Norwegian Bokmål and Nynorsk children of Norwegian ("no").
    parent = get_global("parent_exceptions").get(language, "")
    if parent.isalpha():
        language = parent
    return _Tag(language, script, region, given, bare)


def match(wanted: str, offered: Iterable[str]) -> str | None:
    """The offered language tag that best serves a reader asking for ``wanted``.

    Tags are compared as CLDR reads them, with aliases and likely subtags, so
    zh-TW, zh-HK and zh-Hant-HK find "zh-Hant"; zh, zh-CN and zh-SG find
    "zh-Hans"; sr and sr-RS find "sr" (Cyrillic) and sr-Latn-RS "sr-Latn";
    pt-PT and pt-BR find "pt"; iw finds "he", tl "fil", no "nb". Best first:
    the same tag, then the same language, script and region, then the same
    language and script in another region. A different script is no match
    (a reader of Traditional Chinese is not served Simplified), unless only a
    bare language was asked for ("zh", "sr") and nothing else fits.
    """
    asked = _tag(wanted)
    if asked is None:
        return None
    # The region's parent in CLDR, where it has one: pt-MZ is read as pt-PT.
    parents = get_global("parent_exceptions")
    parent = parents.get(asked.given.replace("-", "_")) or parents.get(_babel_id(*asked[:3]), "")
    best: tuple[int, int, int, int] | None = None
    chosen = None
    for position, code in enumerate(offered):
        candidate = _tag(code)
        if candidate is None or candidate.language != asked.language:
            continue
        if candidate.given.lower() == asked.given.lower():
            rank = 0
        elif candidate.script == asked.script and candidate.region == asked.region:
            rank = 1
        elif candidate.script == asked.script:
            rank = 2
        elif asked.bare:
            rank = 3
        else:
            continue
        # Among equals: the region's CLDR parent, then a tag without a region, then
        # the first offered.
        written = candidate.given.replace("-", "_")
        near = parent in (written, _babel_id(*candidate[:3]))
        score = (rank, 0 if near else 1, 1 if "_" in written else 0, position)
        if best is None or score < best:
            best, chosen = score, code
    return chosen


def template_helpers() -> dict[str, Any]:
    """Names our templates use for translation; passed on every render."""
    return {"_": gettext, "gettext": gettext, "ngettext": ngettext}
