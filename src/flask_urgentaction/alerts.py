"""Alerts: a campaign announced to its confirmed subscribers, each in their language.

A run goes through the confirmed subscribers in batches (``URGENTACTION_ALERT_BATCH``), each
batch one transaction, and sorts each subscriber: queued, or skipped because
they were alerted to this campaign before, their language is not among those
asked for, or (when asked) they acted on the campaign already. A dry run sorts
the same way and writes nothing. A batch's alerts are inserted with ``ON
CONFLICT DO NOTHING`` on their dedupe key (``alert:<campaign>:<subscriber>``),
so a run that stops half-way (a crash, a kill) leaves whole batches queued and
the next run queues only the rest, and two runs at once queue each alert once:
no subscriber gets two alerts for one campaign.

With a pace per domain (domain_pace.py) the alerts wait ``held`` until it lets
them out. A test alert to the organiser is queued due at once, without a
dedupe key, so it stops no subscriber's alert.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, cast

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import Table, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from . import domain_pace, outbox
from .campaigns import text_in
from .i18n import match
from .mail import alert_dedupe_key, alert_message, alert_test_message
from .models import Action, Campaign, OutboxMessage, OutboxStatus, Subscriber, utcnow
from .storage import insert_new


def batch_size() -> int:
    """Subscribers sorted, and their alerts written, per transaction."""
    return max(1, int(current_app.config["URGENTACTION_ALERT_BATCH"]))


# The longest intro, in characters: a few paragraphs above the campaign's summary.
INTRO_LIMIT = 5000
# What an alert row is inserted with; the other columns take their defaults.
COLUMNS = ("kind", "dedupe_key", "message_id", "subscriber_id", "sender", "recipient_name",
           "recipient", "subject", "text_body", "html_body", "headers")  # fmt: skip


class AlertError(ValueError):
    """What was asked of an alert cannot be done; the message says why, for organisers."""


class Stopped(Exception):
    """The database failed mid-way; ``tally`` is what the batches before did."""

    def __init__(self, tally: Tally) -> None:
        super().__init__("stopped")
        self.tally = tally


def languages(campaign: Campaign, wanted: Iterable[str]) -> tuple[str, ...]:
    """The campaign's languages that ``wanted`` names, as the campaign spells them."""
    chosen: list[str] = []
    for code in wanted:
        found = match(code, campaign.languages)
        if found is None:
            offered = ", ".join(campaign.languages)
            raise AlertError(f"{code}: not one of the campaign's languages ({offered})")
        if found not in chosen:
            chosen.append(found)
    return tuple(chosen)


def read_intros(path: str | Path, campaign: Campaign) -> dict[str, str]:
    """The intros in a TOML file, by the campaign's language, each shown above the
    campaign's summary in the alerts written in that language::

        [en]
        intro = "Day 12 of the strike: the company still refuses to talk."
    """
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise AlertError(f"{path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise AlertError(f"{path}: {exc}") from exc
    try:
        return check_intros(data, campaign)
    except AlertError as exc:
        raise AlertError(f"{path}: {exc}") from exc


def check_intros(data: Mapping[str, Any], campaign: Campaign) -> dict[str, str]:
    """Intros given as ``{"en": {"intro": "..."}, ...}`` checked, by the campaign's
    language; AlertError says what is wrong."""
    intros: dict[str, str] = {}
    for code, table in data.items():
        if not isinstance(table, dict):
            raise AlertError(f'[{code}]: must be a table: [{code}] then intro = "..."')
        unknown = sorted(set(table) - {"intro"})
        if unknown:
            raise AlertError(f"[{code}]: {unknown[0]}: unknown key (only intro)")
        intro = table.get("intro")
        if not isinstance(intro, str):
            raise AlertError(f"[{code}]: intro: required, as text")
        if "\0" in intro:
            raise AlertError(f"[{code}]: intro: contains a NUL character")
        lines = intro.replace("\r\n", "\n").replace("\r", "\n").strip().split("\n")
        text = "\n".join(line.rstrip() for line in lines)
        if len(text) > INTRO_LIMIT:
            raise AlertError(f"[{code}]: intro: longer than {INTRO_LIMIT} characters")
        (lang,) = languages(campaign, [code])
        if lang in intros:
            raise AlertError(f"[{code}]: a second intro in {lang}")
        if text:
            intros[lang] = text
    if not intros:
        raise AlertError('no intro in it; write one per language: [en] intro = "..."')
    return intros


def count_confirmed(session: Session) -> int:
    query = select(func.count()).where(Subscriber.status == "confirmed")
    return int(session.scalar(query) or 0)


def confirmed(session: Session) -> Iterator[Subscriber]:
    """The confirmed subscribers, by id, read a batch at a time."""
    size = batch_size()
    last = 0
    while True:
        page = list(
            session.scalars(
                select(Subscriber)
                .where(Subscriber.status == "confirmed", Subscriber.id > last)
                .order_by(Subscriber.id)
                .limit(size)
            )
        )
        yield from page
        if len(page) < size:
            return
        last = page[-1].id


@dataclass
class Tally:
    """What a run did (or a dry run would do) with the subscribers it went through."""

    # Alerts queued per language, in the campaign's order of languages.
    queued: dict[str, int]
    # Skipped: alerted to this campaign before (by an earlier run, or one running now).
    alerted_before: int = 0
    # Skipped: their alert would be in a language not asked for (--lang).
    other_language: int = 0
    # Skipped: they acted on this campaign already (--skip-acted).
    acted: int = 0
    # Alerts queued per recipient domain, for the pace.
    domains: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.queued.values())

    @property
    def skipped(self) -> int:
        return self.alerted_before + self.other_language + self.acted


def queue(
    session: Session, campaign: Campaign, subscribers: Iterable[Subscriber], *,
    only: tuple[str, ...] = (), skip_acted: bool = False,
    intros: dict[str, str] | None = None, dry_run: bool = False,
) -> Tally:  # fmt: skip
    """Queue the campaign's alert to each of ``subscribers`` (confirmed ones, by id)
    who is to get it, a batch per transaction; with ``dry_run``, only count.

    ``only``: the campaign's languages to alert in (none: all of them). A
    subscriber's alert is in their language as matched to the campaign's.
    """
    tally = Tally(queued=dict.fromkeys(campaign.languages, 0))
    try:
        _queue(session, campaign, subscribers, only, skip_acted, intros or {}, dry_run, tally)
    except SQLAlchemyError as exc:
        session.rollback()
        raise Stopped(tally) from exc
    return tally


def _queue(
    session: Session, campaign: Campaign, subscribers: Iterable[Subscriber],
    only: tuple[str, ...], skip_acted: bool, intros: dict[str, str], dry_run: bool,
    tally: Tally,
) -> None:  # fmt: skip
    of_language: dict[str, str] = {}
    each = iter(subscribers)
    size = batch_size()
    while batch := list(islice(each, size)):
        keys = [alert_dedupe_key(campaign.id, subscriber.id) for subscriber in batch]
        before = set(
            session.scalars(
                select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(keys))
            )
        )
        acted: set[str | None] = set()
        if skip_acted:
            acted = set(
                session.scalars(
                    select(Action.email_key).where(
                        Action.campaign_id == campaign.id,
                        Action.email_key.in_([subscriber.email_key for subscriber in batch]),
                    )
                )
            )
        chosen: list[tuple[Subscriber, str]] = []
        for subscriber, key in zip(batch, keys, strict=True):
            if subscriber.lang not in of_language:
                of_language[subscriber.lang] = text_in(campaign, subscriber.lang).lang
            lang = of_language[subscriber.lang]
            if key in before:
                tally.alerted_before += 1
            elif only and lang not in only:
                tally.other_language += 1
            elif subscriber.email_key in acted:
                tally.acted += 1
            else:
                chosen.append((subscriber, lang))
        if not dry_run:
            chosen = _insert(session, campaign, chosen, intros, tally)
        session.commit()
        for subscriber, lang in chosen:
            tally.queued[lang] += 1
            tally.domains[domain_pace.domain_of(subscriber.email)] += 1


def _insert(
    session: Session, campaign: Campaign, chosen: list[tuple[Subscriber, str]],
    intros: dict[str, str], tally: Tally,
) -> list[tuple[Subscriber, str]]:  # fmt: skip
    """Write the alerts of ``chosen``; those written (another run may have been first)."""
    paced = domain_pace.per_hour() is not None
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for subscriber, _lang in chosen:
        message = alert_message(campaign, subscriber, intros)
        row = {column: getattr(message, column) for column in COLUMNS}
        # Paced: held until the pace of the recipient's domain lets it out.
        row["status"] = OutboxStatus.HELD if paced else OutboxStatus.QUEUED
        row["pace_domain"] = domain_pace.domain_of(message.recipient) if paced else None
        row["next_attempt_at"] = now
        rows.append(row)
    table = cast("Table", OutboxMessage.__table__)
    written = {row["subscriber_id"] for row in insert_new(session, table, "dedupe_key", rows)}
    tally.alerted_before += len(chosen) - len(written)
    return [(subscriber, lang) for subscriber, lang in chosen if subscriber.id in written]


def queue_test(
    session: Session, campaign: Campaign, address: str, lang: str,
    intros: dict[str, str] | None = None,
) -> OutboxMessage:  # fmt: skip
    """Queue, due now, the alert in ``lang`` to the organiser at ``address`` only."""
    try:
        address = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise AlertError(f"{address}: {exc}") from exc
    message = alert_test_message(campaign, address, lang, intros)
    message.status = OutboxStatus.QUEUED
    message.next_attempt_at = utcnow()
    session.add(message)
    session.commit()
    return message


def send_test(
    session: Session, campaign: Campaign, address: str, lang: str,
    intros: dict[str, str] | None = None,
) -> OutboxMessage:  # fmt: skip
    """Queue the test alert (:func:`queue_test`) and send it at once, whatever the
    delivery setting. Returns its row, ``sent`` (or ``sending``: a worker took it
    first). One not sent is deleted, not left to be retried when the organiser no
    longer waits for it, and AlertError says what the server answered."""
    message = queue_test(session, campaign, address, lang, intros)
    outbox.deliver([message.id])
    session.refresh(message)
    if message.status not in (OutboxStatus.SENT, OutboxStatus.SENDING):
        why = " ".join((message.last_error or message.last_reply or str(message.status)).split())
        recipient = message.recipient
        session.delete(message)
        session.commit()
        raise AlertError(f"the test alert to {recipient} was not sent: {why}")
    return message


def progress(session: Session, campaign: Campaign) -> dict[OutboxStatus, int]:
    """The campaign's alerts to subscribers in the outbox, by status (test alerts,
    which have no dedupe key, are not among them)."""
    prefix = alert_dedupe_key(campaign.id, 0).removesuffix("0")
    rows = session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.kind == "alert", OutboxMessage.dedupe_key.startswith(prefix))
        .group_by(OutboxMessage.status)
    )
    return {OutboxStatus(status): int(n) for status, n in rows}
