# Text in many languages and scripts, on purpose.
# ruff: noqa: RUF001, RUF002, RUF003
"""Country choices with names from Babel's locale data (CLDR), in each language's order.

Names come from Babel. Babel has no collation, so the order comes from the
Unicode Collation Algorithm with its default table (``pyuca``, pure Python),
which is CLDR's root order: right for German, French, Portuguese, English,
Russian, Ukrainian and most others. Languages whose alphabet has letters of its
own (Turkish ç, ğ, ı; Albanian dh, ë, sh; Bosnian č, ć, dž, đ; Spanish ñ) get
the "standard" tailoring rules of their CLDR collation on top. Chinese and
Japanese order Han characters by CLDR's tables (pinyin for zh-Hans, stroke
count for zh-Hant, Japanese kanji order for ja), kept for the characters of
the country names in ``cjk_order``. Without ``pyuca`` installed, an
accent-folding key with the same tailorings is used.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import cache
from typing import Any

from .cjk_order import ORDER as HAN_ORDER
from .i18n import locale_of

# CLDR names some codes that are not ISO 3166-1 countries: the user-assigned
# ranges (QM-QZ, XA-XZ, AA, ZZ) and the exceptionally reserved codes. Kosovo's
# XK stays: it is user-assigned but in general use, and CLDR names it.
_RESERVED = {"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "TA", "UN"}

# The rules of CLDR's standard collation for the languages we ship that need
# one (common/collation/<lang>.xml), written as they are there: "&C<ç<<<Ç"
# puts ç right after c as a letter of its own, "<<" is an accent-level
# difference, "<<<" a case difference; "[before 1]i<ı" puts ı right before i.
TAILORINGS: dict[str, str] = {
    "es": "&N<ñ<<<Ñ",
    "tr": "&C<ç<<<Ç &G<ğ<<<Ğ &[before 1]i<ı<<<I &i<<<İ &O<ö<<<Ö &S<ş<<<Ş &U<ü<<<Ü",
    "az": "&C<ç<<<Ç &G<ğ<<<Ğ &[before 1]i<ı<<<I &i<<<İ &O<ö<<<Ö &S<ş<<<Ş &U<ü<<<Ü",
    "sq": (
        "&C<ç<<<Ç &D<dh<<<Dh<<<DH &E<ë<<<Ë &G<gj<<<Gj<<<GJ &L<ll<<<Ll<<<LL "
        "&N<nj<<<Nj<<<NJ &R<rr<<<Rr<<<RR &S<sh<<<Sh<<<SH &T<th<<<Th<<<TH "
        "&X<xh<<<Xh<<<XH &Z<zh<<<Zh<<<ZH"
    ),
    "bs": (
        "&C<č<<<Č<ć<<<Ć &D<dž<<<Dž<<<DŽ<đ<<<Đ &L<lj<<<Lj<<<LJ &N<nj<<<Nj<<<NJ &S<š<<<Š &Z<ž<<<Ž"
    ),
    "hr": (
        "&C<č<<<Č<ć<<<Ć &D<dž<<<Dž<<<DŽ<đ<<<Đ &L<lj<<<Lj<<<LJ &N<nj<<<Nj<<<NJ &S<š<<<Š &Z<ž<<<Ž"
    ),
    "ar": "&ت<<ة<<<ﺔ<<<ﺓ &ي<<ى<<<ﯨ<<<ﯩ<<<ﻰ<<<ﻯ",
    "pl": "&A<ą<<<Ą &C<ć<<<Ć &E<ę<<<Ę &L<ł<<<Ł &N<ń<<<Ń &O<ó<<<Ó &S<ś<<<Ś &Z<ź<<<Ź<ż<<<Ż",
    "cs": "&C<č<<<Č &H<ch<<<cH<<<Ch<<<CH &R<ř<<<Ř &S<š<<<Š &Z<ž<<<Ž",
    "sk": "&A<ä<<<Ä &C<č<<<Č &H<ch<<<cH<<<Ch<<<CH &O<ô<<<Ô &R<ř<<<Ř &S<š<<<Š &Z<ž<<<Ž",
    # Serbian in Latin letters imports Croatian's rules; they touch no Cyrillic letter.
    "sr": (
        "&C<č<<<Č<ć<<<Ć &D<dž<<<Dž<<<DŽ<đ<<<Đ &L<lj<<<Lj<<<LJ &N<nj<<<Nj<<<NJ &S<š<<<Š &Z<ž<<<Ž"
    ),
    "ro": "&A<ă<<<Ă<â<<<Â &I<î<<<Î &S<ş=ș<<<Ş=Ș &T<ţ=ț<<<Ţ=Ț",
    # Without CLDR's contractions for doubled digraphs ("ccs" = "cs"+"cs").
    "hu": (
        "&C<cs<<<Cs<<<CS &D<dz<<<Dz<<<DZ &DZ<dzs<<<Dzs<<<DZS &G<gy<<<Gy<<<GY "
        "&L<ly<<<Ly<<<LY &N<ny<<<Ny<<<NY &S<sz<<<Sz<<<SZ &T<ty<<<Ty<<<TY "
        "&Z<zs<<<Zs<<<ZS &O<ö<<<Ö<<ő<<<Ő &U<ü<<<Ü<<ű<<<Ű"
    ),
    # The Nordic letters after z: CLDR resets "[before 1]ǀ", right after the
    # last Latin letter, written here as "&Z<" (the same for any name).
    "da": (
        "&D<<đ<<<Đ<<ð<<<Ð &Y<<ü<<<Ü<<ű<<<Ű "
        "&Z<æ<<<Æ<<ä<<<Ä<ø<<<Ø<<ö<<<Ö<<ő<<<Ő<<œ<<<Œ<å<<<Å<<<aa<<<Aa<<<AA"
    ),
    "nb": (
        "&D<<đ<<<Đ<<ð<<<Ð &Y<<ü<<<Ü<<ű<<<Ű &Z<æ<<<Æ<<ä<<<Ä<<ę<<<Ę<ø<<<Ø<<ö<<<Ö<<ő<<<Ő<<œ<<<Œ<å<<<Å"
    ),
    "sv": (
        "&D<<đ<<<Đ<<ð<<<Ð &Y<<ü<<<Ü<<ű<<<Ű "
        "&Z<å<<<Å<ä<<<Ä<<æ<<<Æ<<ę<<<Ę<ö<<<Ö<<ø<<<Ø<<ő<<<Ő<<œ<<<Œ<<ô<<<Ô"
    ),
    "fi": (
        "&D<<ð<<<Ð<<đ<<<Đ &N<<ŋ<<<Ŋ &V<<w<<<W &Y<<ü<<<Ü<<ű<<<Ű "
        "&Z<å<<<Å<ä<<<Ä<<æ<<<Æ<ö<<<Ö<<ø<<<Ø<<ő<<<Ő<<õ<<<Õ<<œ<<<Œ"
    ),
    "fil": "&N<ñ<<<Ñ<ng<<<Ng<<<NG",
    # Without CLDR's secondary order of the five tone marks.
    "vi": "&A<ă<<<Ă<â<<<Â &D<đ<<<Đ &E<ê<<<Ê &O<ô<<<Ô<ơ<<<Ơ &U<ư<<<Ư",
}
TAILORINGS["no"] = TAILORINGS["nn"] = TAILORINGS["nb"]
# Persian: آ before ا (CLDR "&[before 1]ا<آ"; ء is the letter before ا), ء after
# ا, ه after و, and the Arabic forms of kaf and yeh as Persian's own.
TAILORINGS["fa"] = "&ء<آ &ا<ء &ک<<ك &ی<<ي<<ى &و<ه<<ە<<ہ<<ة<<ۃ<<ۀ<<ھ"
# Urdu: retroflex letters and aspirates (bh, th...) after their base letter,
# then و, ہ, ھ, ۃ, ء, ی, ے, as CLDR restates the whole alphabet.
TAILORINGS["ur"] = (
    "&ب<بھ &پ<پھ &ت<تھ<ٹ<ٹھ &ج<جھ &چ<چھ &د<دھ<ڈ<ڈھ &ر<رھ<ڑ &ک<کھ &گ<گھ "
    "&ل<لھ &م<مھ &ن<نھ &و<وھ<ہ<ھ<ۃ<ء &ی<یھ"
)

# A letter of its own after X is rewritten as X plus a private-use character:
# those weigh more than any letter, so "ça" sorts after "cz" and before "d",
# and the n-th new letter after X uses the n-th one. An accent-level
# difference is X plus a combining mark.
_PRIVATE = 0xE000
_ACCENT = "\u0301"

# Han characters (the unified ideographs, their extensions and the compatibility
# ideographs). In zh-Hans, zh-Hant and ja the n-th character of HAN_ORDER[lang]
# is rewritten as the n-th character from U+F0000 (private use): DUCET weighs
# those after every letter, kana and Han character, so names sort after
# Latin and kana ones, as in CLDR, and by CLDR's rank among themselves. A
# character not in the table (a name newer than the table) comes after the
# ranked ones, then in DUCET's order, as CLDR puts the characters it does not list.
HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")
_HAN_PRIVATE = 0xF0000


def _is_country(code: str) -> bool:
    if len(code) != 2 or not code.isalpha() or not code.isupper():
        return False
    if code in _RESERVED or code in {"AA", "ZZ"}:
        return False
    if code[0] == "Q" and code[1] >= "M":
        return False
    return not (code[0] == "X" and code != "XK")


def _rewrites(rules: str) -> dict[str, str]:
    """Read tailoring rules into a table of rewrites (one string for another)."""
    table: dict[str, str] = {}
    for chain in rules.split("&")[1:]:
        chain = chain.strip()
        parts = re.split(r"(<<<|<<|<|=)", chain.removeprefix("[before 1]"))
        anchor = parts[0].lower()
        if chain.startswith("[before 1]"):
            # Right before the anchor is right after the letter before it (Latin only).
            anchor = chr(ord(anchor) - 1)
        # An anchor that is itself a letter of its own ("&DZ<dzs") starts from its rewrite.
        anchor = table.get(anchor, anchor)
        primary = suffix = ""
        steps = 0
        for operator, text in zip(parts[1::2], parts[2::2], strict=True):
            if operator == "<":
                steps += 1
                primary = suffix = chr(_PRIVATE + steps)
            elif operator == "<<":
                suffix = primary + _ACCENT * (suffix.count(_ACCENT) + 1)
            # "<<<" and "=" keep the suffix: a case variant is told apart by the
            # anchor's case, and "=" is the same letter written otherwise.
            head = anchor.upper() if text[:1].isupper() else anchor
            table[text] = head + suffix
    return table | _with_more_marks(table)


def _with_more_marks(table: dict[str, str]) -> dict[str, str]:
    """Rewrites for precomposed letters that carry a tailored letter plus a mark:
    Vietnamese "ộ" is "ô" with a tone mark, so it sorts as "ô" does, then by the mark."""
    singles: dict[str, str] = {}
    for letter, rewrite in table.items():
        decomposed = unicodedata.normalize("NFD", letter)
        if len(letter) == 1 and len(decomposed) == 2:
            singles[decomposed] = rewrite
    more: dict[str, str] = {}
    if not singles:
        return more
    for code in (*range(0xC0, 0x250), *range(0x1E00, 0x1F00)):
        char = chr(code)
        decomposed = unicodedata.normalize("NFD", char)
        base, marks = decomposed[0], decomposed[1:]
        for mark in marks:
            found = singles.get(base + mark)
            if found is not None and char not in table:
                more[char] = found + marks.replace(mark, "", 1)
                break
    return more


def _han_table(lang: str) -> str:
    """The characters CLDR's collation for ``lang`` orders, in that order ("" if none)."""
    locale = locale_of(lang)
    if locale.language == "zh":
        # Babel's "zh" is Simplified Chinese.
        return HAN_ORDER["zh-Hant" if locale.script == "Hant" else "zh-Hans"]
    return HAN_ORDER.get(locale.language, "")


_KANA = re.compile("[\u3041-\u3096\u30a1-\u30fa]")
_VOWELS = dict(zip("AIUEO", "アイウエオ", strict=True))


def _long_vowels(name: str) -> str:
    """CLDR's Japanese order reads the length mark as the vowel it lengthens
    ("スーダン" as "スウダン", after "スウェーデン"); DUCET weighs it before every kana."""
    out: list[str] = []
    for char in name:
        if char == "ー" and out and _KANA.fullmatch(out[-1]):
            vowel = unicodedata.name(out[-1])[-1]  # "KATAKANA LETTER SMALL YU": U
            char = _VOWELS.get(vowel, char)
        out.append(char)
    return "".join(out)


@cache
def _han_rewriter(lang: str) -> Callable[[str], str] | None:
    order = _han_table(lang)
    if not order:
        return None
    ranks = {char: chr(_HAN_PRIVATE + n) for n, char in enumerate(order)}
    unranked = chr(_HAN_PRIVATE + len(order))

    def rewrite(name: str) -> str:
        return HAN.sub(lambda m: ranks.get(m.group(0), unranked + m.group(0)), name)

    if locale_of(lang).language == "ja":
        return lambda name: rewrite(_long_vowels(name))
    return rewrite


@cache
def _rewriter(lang: str) -> Callable[[str], str]:
    han = _han_rewriter(lang)
    if han is not None:
        return han
    rules = TAILORINGS.get(locale_of(lang).language, "")
    table = _rewrites(rules) if rules else {}
    if not table:
        return lambda name: name
    # Longest first, so "dh" wins over "d"; one pass, so rewrites are not rewritten.
    pattern = re.compile("|".join(re.escape(k) for k in sorted(table, key=len, reverse=True)))
    return lambda name: pattern.sub(lambda m: table[m.group(0)], name)


@cache
def _collator() -> Any:
    try:
        import pyuca
    except ImportError:
        return None
    return pyuca.Collator()


def _folded_key(name: str) -> str:
    # Without pyuca, compare base letters first: "Österreich" sorts with "O".
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def sort_key(name: str, lang: str) -> tuple[Any, str]:
    """The key that orders ``name`` among others by ``lang``'s collation rules."""
    rewritten = _rewriter(lang)(unicodedata.normalize("NFC", name))
    collator = _collator()
    key = collator.sort_key(rewritten) if collator is not None else _folded_key(rewritten)
    return key, name


@cache
def country_choices(lang: str) -> tuple[tuple[str, str], ...]:
    """(code, name) pairs in ``lang``, sorted by that language's collation."""
    names = locale_of(lang).territories
    pairs = [(code, str(name)) for code, name in names.items() if _is_country(code)]
    return tuple(sorted(pairs, key=lambda pair: sort_key(pair[1], lang)))


@cache
def country_codes() -> frozenset[str]:
    return frozenset(code for code, _name in country_choices("en"))


def country_name(code: str, lang: str) -> str:
    return str(locale_of(lang).territories.get(code, code))
