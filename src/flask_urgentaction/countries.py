"""Country choices with names from Babel's locale data (CLDR)."""

from __future__ import annotations

import unicodedata
from functools import cache

from .i18n import locale_of

# CLDR names some codes that are not ISO 3166-1 countries: the user-assigned
# ranges (QM-QZ, XA-XZ, AA, ZZ) and the exceptionally reserved codes. Kosovo's
# XK stays: it is user-assigned but in general use, and CLDR names it.
_RESERVED = {"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "TA", "UN"}


def _is_country(code: str) -> bool:
    if len(code) != 2 or not code.isalpha() or not code.isupper():
        return False
    if code in _RESERVED or code in {"AA", "ZZ"}:
        return False
    if code[0] == "Q" and code[1] >= "M":
        return False
    return not (code[0] == "X" and code != "XK")


def _sort_key(name: str) -> str:
    # Without ICU, compare base letters first: "Österreich" sorts with "O".
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)) + "\0" + name


@cache
def country_choices(lang: str) -> tuple[tuple[str, str], ...]:
    """(code, name) pairs in ``lang``, sorted by name."""
    names = locale_of(lang).territories
    pairs = [(code, name) for code, name in names.items() if _is_country(code)]
    return tuple(sorted(pairs, key=lambda pair: _sort_key(pair[1])))


@cache
def country_codes() -> frozenset[str]:
    return frozenset(code for code, _name in country_choices("en"))


def country_name(code: str, lang: str) -> str:
    return str(locale_of(lang).territories.get(code, code))
