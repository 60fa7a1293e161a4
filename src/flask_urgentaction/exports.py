"""Organisers' exports: a campaign's actions as CSV, JSON Lines or OSDI signatures,
and the subscribers with their consents.

Rows are read in batches over a streaming cursor (a server-side cursor on
PostgreSQL) and each writer yields its text a row at a time, so an export of
100,000 actions holds about as much in memory as one of 1,000. The writers
yield ``str`` chunks: the CLI writes them to stdout, a view could stream them
as a response. docs/operations.md documents every column and shape.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from . import origins
from .models import Action, Campaign, Consent, Subscriber

# Rows fetched from the database at a time.
BATCH = 1000

# The CSV header and the keys of each JSON Lines object, in this order.
EXPORT_COLUMNS = ("created_at", "name", "email", "union", "country", "lang", "subject",
                  "message", "opt_in", "source_origin", "partner_tag", "personal", "edited",
                  "id")  # fmt: skip

SUBSCRIBER_COLUMNS = (
    "email", "name", "lang", "status", "created_at", "confirmed_at", "unsubscribed_at",
    "consent_text", "consent_lang", "consent_given_at", "consent_confirmed_at",
    "consent_withdrawn_at", "consent_campaign",
)  # fmt: skip

# OSDI's identifiers are "[system name]:[id]"; this is the system name.
OSDI_SYSTEM = "urgentaction"
OSDI_CURIE = "https://opensupporter.github.io/osdi-docs/{rel}"


def spreadsheet_safe(value: str) -> str:
    # A cell starting with = + - @ is a formula to spreadsheet programs.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def iso_utc(moment: datetime | None) -> str | None:
    """``2026-03-01T09:15:02Z``: ISO 8601 in UTC, to the second."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_since(text: str) -> datetime:
    """A date (midnight UTC) or a date and time (UTC unless it says otherwise);
    ValueError if it is neither."""
    moment = datetime.fromisoformat(text.strip())  # a date alone: its midnight
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class ActionFilter:
    """Which of a campaign's actions an export (or a report) takes: None is any.

    ``partner_tag`` and ``origin`` may be ``""``: the actions without one (an
    origin of ``""`` is the campaign's own pages, or a client that sent none).
    """

    partner_tag: str | None = None
    origin: str | None = None
    since: datetime | None = None

    def criteria(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.partner_tag is not None:
            found.append(Action.partner_tag == self.partner_tag)
        if self.origin is not None:
            # Browsers send origins normalised; match what an organiser types too.
            found.append(Action.source_origin == (origins.normalize(self.origin) or self.origin))
        if self.since is not None:
            found.append(Action.created_at >= self.since)
        return found

    def __bool__(self) -> bool:
        return (self.partner_tag, self.origin, self.since) != (None, None, None)


def action_rows(
    session: Session, campaign_id: int, only: ActionFilter | None = None
) -> Iterator[dict[str, Any]]:
    """The campaign's actions, oldest first, as plain values keyed by EXPORT_COLUMNS.

    Erased actions are left out: they still count, but no one is in them. Columns
    through the session's connection, not ORM objects: nothing piles up in the
    identity map, and only one batch of rows is held at a time (the ORM's layer
    would hold the previous batch too while fetching the next).
    """
    columns = [getattr(Action, name) for name in EXPORT_COLUMNS]
    query = (
        select(*columns)
        .where(
            Action.campaign_id == campaign_id,
            Action.erased_at.is_(None),
            *(only.criteria() if only else ()),
        )
        .order_by(Action.id)
        # yield_per: fetched BATCH rows at a time, through a server-side cursor
        # where the driver has one (stream_results, implied).
        .execution_options(yield_per=BATCH)
    )
    for row in session.connection().execute(query):
        yield dict(zip(EXPORT_COLUMNS, row, strict=True))


def subscriber_records(
    session: Session, include_unsubscribed: bool = False
) -> Iterator[dict[str, Any]]:
    """Confirmed subscribers (and unsubscribed ones if asked), in the order they
    subscribed, each with its consents, oldest first: ``{"email", ..., "consents":
    [{"text", "lang", "given_at", "confirmed_at", "withdrawn_at", "campaign"}]}``.
    Pending ones never confirmed are not subscribers yet, and are left out."""
    statuses = ["confirmed", "unsubscribed"] if include_unsubscribed else ["confirmed"]
    keys = ("email", "name", "lang", "status", "created_at", "confirmed_at", "unsubscribed_at")
    consent_keys = ("text", "lang", "given_at", "confirmed_at", "withdrawn_at", "campaign")
    person = [getattr(Subscriber, key) for key in keys]
    consent = [getattr(Consent, key) for key in consent_keys[:-1]] + [Campaign.slug]
    query = (
        select(Subscriber.id, *person, Consent.id, *consent)
        .select_from(Subscriber)
        .outerjoin(Consent, Consent.subscriber_id == Subscriber.id)
        .outerjoin(Campaign, Campaign.id == Consent.campaign_id)
        .where(Subscriber.status.in_(statuses))
        .order_by(Subscriber.id, Consent.given_at, Consent.id)
        .execution_options(yield_per=BATCH)
    )
    after = len(keys) + 2  # the consent's columns, after its id
    # One row per consent, a subscriber's rows together: one record per run of rows.
    for _id, rows in groupby(session.connection().execute(query), key=lambda row: row[0]):
        record: dict[str, Any] = {}
        consents: list[dict[str, Any]] = []
        for row in rows:
            record = dict(zip(keys, row[1 : len(keys) + 1], strict=True))
            if row[after - 1] is not None:  # the consent's id: None without one
                consents.append(dict(zip(consent_keys, row[after:], strict=True)))
        yield record | {"consents": consents}


# -- writers: each yields its text as it goes --


class _Line:
    """A file for csv.writer that hands back what it is given: writerow returns it."""

    def write(self, text: str) -> str:
        return text


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = iso_utc(value) if isinstance(value, datetime) else str(value)
    return spreadsheet_safe(text or "")


def csv_lines(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """A header row, then one row per item; every cell made safe for spreadsheets."""
    writer = csv.writer(_Line())
    yield str(writer.writerow(columns))
    for row in rows:
        yield str(writer.writerow([_cell(value) for value in row]))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def jsonl_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """One JSON object per line (JSON Lines), UTF-8 as is, times in ISO 8601 UTC."""
    for record in records:
        yield json.dumps(_plain(record), ensure_ascii=False) + "\n"


def actions_csv(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    return csv_lines(EXPORT_COLUMNS, ([row[c] for c in EXPORT_COLUMNS] for row in rows))


def subscribers_csv(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """One row per subscriber, with the fields of its newest consent."""

    def cells(record: dict[str, Any]) -> list[Any]:
        newest = record["consents"][-1] if record["consents"] else {}
        consent = ("text", "lang", "given_at", "confirmed_at", "withdrawn_at", "campaign")
        return [record[name] for name in SUBSCRIBER_COLUMNS[:7]] + [
            newest.get(name) for name in consent
        ]

    return csv_lines(SUBSCRIBER_COLUMNS, (cells(record) for record in records))


def osdi_signature(row: dict[str, Any], slug: str) -> dict[str, Any]:
    """One action as an OSDI signature with its person embedded (HAL ``_embedded``).

    The form takes one name field, so the name goes whole into ``given_name``:
    splitting it would guess wrong for one-word names, family-first orders and
    given names of several words, and "given family" displays and "Dear {given}"
    greetings still read right. Fields a supporter left empty are left out, since
    OSDI servers merge what is sent into the person they already have.
    """
    when = iso_utc(row["created_at"])
    person: dict[str, Any] = {}
    if row["name"]:
        person["given_name"] = row["name"]
    person["email_addresses"] = [{"address": row["email"], "primary": True}]
    if row["country"]:
        person["postal_addresses"] = [{"primary": True, "country": row["country"]}]
    if row["lang"]:
        person["languages_spoken"] = [row["lang"]]
        person["preferred_language"] = row["lang"]
    # OSDI has no field for a union; custom fields are strings by its definition.
    custom = {name: row[name] for name in ("union", "partner_tag", "source_origin", "personal")}
    if any(custom.values()):
        person["custom_fields"] = {name: value for name, value in custom.items() if value}
    signature: dict[str, Any] = {
        "identifiers": [f"{OSDI_SYSTEM}:{slug}-{row['id']}"],
        "origin_system": "flask-urgentaction",
        "created_date": when,
        "modified_date": when,
        "action_date": when,
        "comments": row["message"],
    }
    referrer: dict[str, str] = {}
    if row["partner_tag"]:
        referrer["source"] = row["partner_tag"]
    host = urlsplit(row["source_origin"]).hostname if row["source_origin"] else None
    if host:
        referrer["website"] = host
    if referrer:
        signature["referrer_data"] = referrer
    signature["_embedded"] = {"osdi:person": person}
    return signature


def osdi_document(rows: Iterable[dict[str, Any]], slug: str) -> Iterator[str]:
    """One HAL+JSON ``osdi:signatures`` collection, written as it goes: the opening,
    one signature per line with separators, then the counts (JSON objects are
    unordered, so ``total_records`` may come last, counted on the way)."""
    links = {"curies": [{"name": "osdi", "href": OSDI_CURIE, "templated": True}]}
    yield '{"_links": ' + json.dumps(links) + ', "_embedded": {"osdi:signatures": [\n'
    total = 0
    for row in rows:
        yield (",\n" if total else "") + json.dumps(osdi_signature(row, slug), ensure_ascii=False)
        total += 1
    counts = {"total_records": total, "total_pages": 1, "page": 1}
    yield "\n]}, " + json.dumps(counts)[1:] + "\n"
