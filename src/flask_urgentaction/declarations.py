"""Declarations of solidarity by organisations, published on a campaign.

An organiser writes them in the campaign's file, one ``[[declarations]]`` entry
each, with its texts by language under ``[declarations.translations.<lang>]``
(docs/solidarity.md). They are checked with the rest of the file, stored by
the ``id`` the file gives them (loading the file again updates them, never
adds them twice) and shown on the campaign's pages as written: escaped, the
body as Markdown with raw HTML off.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .countries import country_codes
from .i18n import locale_of, match
from .models import Declaration

KEYS = {"id", "organisation", "country", "published", "translations"}
TEXT_FIELDS = ("title", "teaser", "body")
KEY_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")
LANG_RE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
LIMITS = {"title": 300, "teaser": 1_000, "body": 100_000}

# fail(key, problem) -> the campaign's error, naming its file.
Fail = Callable[[str, str], Exception]
# moment(table, key, fail) -> a datetime with its offset, or None.
Moment = Callable[[dict[str, Any], str, Any], datetime | None]


@dataclass(frozen=True)
class DeclarationText:
    """A declaration's texts in one language, each falling back to its first language's."""

    lang: str
    title: str
    teaser: str
    body: str


@dataclass(frozen=True)
class DeclarationSnapshot:
    """A declaration as plain values, kept with its campaign's snapshot."""

    key: str
    public_id: str
    organisation: str
    country: str
    published: datetime | None
    # (lang, title, teaser, body), the fallback language first.
    texts: tuple[DeclarationText, ...]

    @property
    def languages(self) -> list[str]:
        return [t.lang for t in self.texts]

    @classmethod
    def of(cls, row: Declaration) -> DeclarationSnapshot:
        return cls(
            key=row.key,
            public_id=row.public_id,
            organisation=row.organisation,
            country=row.country or "",
            published=row.published,
            texts=tuple(
                DeclarationText(lang, *(texts.get(f, "") for f in TEXT_FIELDS))
                for lang, texts in row.texts.items()
            ),
        )

    def text_in(self, lang: str) -> DeclarationText:
        """The texts in ``lang`` (or the nearest language it has); an empty field
        comes from its first language."""
        by_lang = {t.lang: t for t in self.texts}
        fallback = self.texts[0]
        chosen = by_lang.get(match(lang, by_lang) or "") or fallback
        return DeclarationText(
            chosen.lang,
            *(getattr(chosen, f) or getattr(fallback, f) for f in TEXT_FIELDS),
        )


def check(entries: Any, fail: Fail, moment: Moment) -> list[dict[str, Any]]:
    """The ``[[declarations]]`` entries checked and normalised (their texts with
    the fallback language first: English when there is one, else the first)."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise fail("declarations", "must be [[declarations]] entries")
    clean: list[dict[str, Any]] = []
    for index, entry in enumerate(entries):
        where = f"declarations[{index}]"
        if not isinstance(entry, dict):
            raise fail(where, "must be a table")
        unknown = sorted(set(entry) - KEYS)
        if unknown:
            raise fail(f"{where}.{unknown[0]}", "unknown key")
        key = entry.get("id")
        if not isinstance(key, str) or not KEY_RE.match(key):
            raise fail(f"{where}.id", "required: lower-case letters, digits and hyphens")
        if key in {d["key"] for d in clean}:
            raise fail(f"{where}.id", f"{key!r} is used by another declaration")
        organisation = entry.get("organisation")
        if not isinstance(organisation, str) or not organisation.strip():
            raise fail(f"{where}.organisation", "required: the organisation's name")
        if len(organisation) > 200:
            raise fail(f"{where}.organisation", "longer than 200 characters")
        country = entry.get("country", "")
        if not isinstance(country, str):
            raise fail(f"{where}.country", 'must be a country code, like "BA"')
        country = country.strip().upper()
        if country and country not in country_codes():
            raise fail(f"{where}.country", f"{country!r} is not an ISO 3166-1 alpha-2 country code")
        published = moment(entry, "published", _prefixed(fail, where))
        clean.append(
            {
                "key": key,
                "organisation": organisation.strip(),
                "country": country or None,
                "published": published,
                "texts": _texts(entry.get("translations"), f"{where}.translations", fail),
            }
        )
    return clean


def _prefixed(fail: Fail, where: str) -> Fail:
    return lambda key, problem: fail(f"{where}.{key}", problem)


def _texts(table: Any, where: str, fail: Fail) -> dict[str, dict[str, str]]:
    if not isinstance(table, dict) or not table:
        raise fail(where, f"at least one [{where.split('[')[0]}.translations.<language>] table")
    texts: dict[str, dict[str, str]] = {}
    for lang, fields in table.items():
        key = f"{where}.{lang}"
        if not LANG_RE.match(lang) or locale_of(lang).language != lang.split("-")[0]:
            raise fail(key, "not a known language code")
        if not isinstance(fields, dict):
            raise fail(key, "must be a table with title, teaser and body")
        unknown = sorted(set(fields) - set(TEXT_FIELDS))
        if unknown:
            raise fail(f"{key}.{unknown[0]}", "unknown key")
        clean: dict[str, str] = {}
        for field in TEXT_FIELDS:
            value = fields.get(field, "")
            if not isinstance(value, str):
                raise fail(f"{key}.{field}", "must be text")
            if len(value) > LIMITS[field]:
                raise fail(f"{key}.{field}", f"longer than {LIMITS[field]} characters")
            if "\0" in value:
                raise fail(f"{key}.{field}", "contains a NUL character")
            clean[field] = value.strip()
        if not clean["title"]:
            raise fail(f"{key}.title", "required")
        texts[lang] = clean
    first = "en" if "en" in texts else next(iter(texts))
    if not texts[first]["body"] and not texts[first]["teaser"]:
        raise fail(f"{where}.{first}.body", "required in the first language (or in en)")
    return {first: texts[first], **{k: v for k, v in texts.items() if k != first}}


def save(rows: list[Declaration], clean: list[dict[str, Any]]) -> list[Declaration]:
    """The campaign's declarations after saving ``clean``: a row kept by its key
    (and so its public id), new rows for new keys; the caller assigns the list."""
    kept = {row.key: row for row in rows}
    saved = []
    for position, fields in enumerate(clean):
        row = kept.get(fields["key"]) or Declaration(key=fields["key"])
        row.position = position
        for name in ("organisation", "country", "published", "texts"):
            setattr(row, name, fields[name])
        saved.append(row)
    return saved


def find(
    declarations: tuple[DeclarationSnapshot, ...], public_id: str
) -> DeclarationSnapshot | None:
    return next((d for d in declarations if d.public_id == public_id), None)
