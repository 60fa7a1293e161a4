"""Published solidarity messages: what is shown in public, and its moderation.

A supporter on a campaign with ``[messages] publish = true`` may ask for their
message to be shown (``actions.take_action`` stores it as pending). Nothing is
shown until an organiser approves it (:func:`moderate`); a rejected message, or
one whose supporter was erased (``forget``, ``purge``), is never shown. What is
shown of an approved message: the supporter's name, union and country, their
own line and the message, its language and date; never the address.

Every listing reads the index on (campaign, status, time); the time is when
the action was taken, newest first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from .models import Action, Campaign, MessageStatus

# A teaser is at most this many characters (before its "…"), and these many lines.
TEASER_CHARS = 300
TEASER_LINES = 4
PER_PAGE = 20
FEED_ENTRIES = 50
# Joiners: a cut never falls on either side of one.
JOINING = {"\u200c", "\u200d"}
SPACE = re.compile(r"\s")
# Left off the end of a teaser before its "…": spaces, commas, dashes.
TRAILING = " \t\n,;:\u2013\u2014-"


@dataclass(frozen=True)
class Published:
    """One approved message as the public sees it."""

    public_id: str
    name: str
    union: str
    country: str
    lang: str
    personal: str
    message: str
    created_at: datetime
    # When it was approved (the feed's "updated").
    approved_at: datetime

    @property
    def text(self) -> str:
        """The whole published text: the supporter's own line first, as in the mail."""
        return f"{self.personal}\n\n{self.message}" if self.personal else self.message

    @property
    def teaser(self) -> str:
        return teaser(self.text)


@dataclass(frozen=True)
class Page:
    """One page of a campaign's published messages."""

    messages: list[Published]
    number: int
    pages: int
    total: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def _cut_at(text: str, limit: int) -> int:
    """Where to cut ``text`` to at most ``limit`` characters: after the last space
    that leaves most of it, else (one long word, or a script written without
    spaces) at the limit, never between a letter and its combining marks."""
    space = max((m.start() for m in SPACE.finditer(text, 0, limit + 1)), default=-1)
    if space >= limit // 2:
        return space
    end = limit
    while end > 0 and _joined(text, end):
        end -= 1
    return end or limit


def _joined(text: str, i: int) -> bool:
    """Whether ``text[i]`` belongs with the character before it (a combining mark,
    a joiner, or what a joiner joins), so that no cut may fall before it."""
    return unicodedata.category(text[i])[0] == "M" or text[i] in JOINING or text[i - 1] in JOINING


def teaser(text: str, limit: int = TEASER_CHARS, lines: int = TEASER_LINES) -> str:
    """The first lines of ``text``, cut at a word if longer than ``limit``, with "…"."""
    kept = [line.rstrip() for line in text.strip().splitlines()]
    whole = "\n".join(kept)
    # Blank lines between paragraphs count: a teaser of the first paragraphs.
    shown = "\n".join(kept[:lines])
    if len(shown) > limit:
        shown = shown[: _cut_at(shown, limit)].rstrip()
    if shown == whole:
        return whole
    return shown.rstrip(TRAILING) + "…"


def _shown(campaign_id: int) -> ColumnElement[bool]:
    return and_(
        Action.campaign_id == campaign_id,
        Action.message_status == MessageStatus.APPROVED,
        Action.erased_at.is_(None),
    )


def _published(action: Action) -> Published:
    assert action.public_id is not None
    return Published(
        public_id=action.public_id,
        name=action.name,
        union=action.union,
        country=action.country,
        lang=action.lang,
        personal=shown_personal(action),
        message=shown_message(action),
        created_at=action.created_at,
        approved_at=action.moderated_at or action.created_at,
    )


def shown_personal(action: Action) -> str:
    """The personal line as published: an organiser's correction, else as sent."""
    return action.personal if action.published_personal is None else action.published_personal


def shown_message(action: Action) -> str:
    """The message as published: an organiser's correction, else as sent."""
    return action.message if action.published_message is None else action.published_message


def languages(session: Session, campaign_id: int) -> list[str]:
    """The languages of the campaign's published messages, for the filter.

    One step along ``ix_ua_actions_published`` per language, to the next one
    after the last found: a campaign's messages are in a few languages, but there
    may be tens of thousands of them, which DISTINCT would read every time.
    """
    found: list[str] = []
    while True:
        after = (Action.lang > found[-1],) if found else ()
        lang = session.scalar(select(func.min(Action.lang)).where(_shown(campaign_id), *after))
        if lang is None:
            return sorted(found)
        found.append(lang)


def page(
    session: Session, campaign_id: int, number: int = 1, lang: str | None = None,
    per_page: int = PER_PAGE,
) -> Page | None:  # fmt: skip
    """Page ``number`` of the campaign's published messages (in ``lang`` only, when
    given), newest first; None when there is no such page (the first always is)."""
    where = _shown(campaign_id)
    if lang:
        where = and_(where, Action.lang == lang)
    total = int(session.scalar(select(func.count()).select_from(Action).where(where)) or 0)
    pages = max(1, -(-total // per_page))
    if number < 1 or number > pages:
        return None
    rows = session.scalars(
        select(Action)
        .where(where)
        .order_by(Action.created_at.desc(), Action.id.desc())
        .offset((number - 1) * per_page)
        .limit(per_page)
    )
    return Page([_published(row) for row in rows], number, pages, total)


def newest(session: Session, campaign_id: int, limit: int = FEED_ENTRIES) -> list[Published]:
    """The campaign's newest published messages, for the feed."""
    rows = session.scalars(
        select(Action)
        .where(_shown(campaign_id))
        .order_by(Action.created_at.desc(), Action.id.desc())
        .limit(limit)
    )
    return [_published(row) for row in rows]


def find(session: Session, campaign_id: int, public_id: str) -> Published | None:
    """One published message of the campaign by its public id."""
    row = session.scalar(select(Action).where(_shown(campaign_id), Action.public_id == public_id))
    return None if row is None else _published(row)


# Moderation, for organisers (the CLI now, the dashboard later).


def listing(
    session: Session, campaign_id: int, statuses: Iterable[MessageStatus] | None = None
) -> list[Action]:
    """The campaign's messages asked to be published (in ``statuses``), newest first."""
    wanted = list(statuses) if statuses is not None else list(MessageStatus)
    return list(
        session.scalars(
            select(Action)
            .where(
                Action.campaign_id == campaign_id,
                Action.message_status.in_(wanted),
                Action.erased_at.is_(None),
            )
            .order_by(Action.created_at.desc(), Action.id.desc())
        )
    )


class ModerationError(ValueError):
    """Some of the ids cannot be moderated; nothing was changed. ``problems`` says
    why for each, by id."""

    def __init__(self, problems: dict[int, str]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{i}: {why}" for i, why in problems.items()))


def moderate(
    session: Session, campaign: Campaign, approve: Iterable[int] = (),
    reject: Iterable[int] = (),
) -> dict[int, MessageStatus]:  # fmt: skip
    """Approve and reject messages of ``campaign`` by action id, all or none; an
    approved message may still be rejected, and a rejected one approved. Returns
    the new status by id; raises :class:`ModerationError` naming every id that is
    not a message of this campaign."""
    wanted, problems = requested_statuses(approve, reject)
    rows = session.execute(
        select(Action.id, Action.campaign_id, Action.message_status, Action.erased_at).where(
            Action.id.in_(list(wanted))
        )
    ).all()
    found = {row.id: row for row in rows}
    slugs = campaign_slugs(session)
    for i in wanted:
        row = found.get(i)
        if i in problems:
            continue
        if row is None:
            problems[i] = "no such message"
        elif row.campaign_id != campaign.id:
            other = slugs.get(row.campaign_id, "another campaign")
            problems[i] = f"a message of {other}, not of {campaign.slug}"
        elif row.erased_at is not None:
            problems[i] = "erased: its supporter was forgotten or purged"
        elif row.message_status is None:
            problems[i] = "its supporter did not ask to publish it"
    return apply_statuses(session, Action.message_status, campaign, wanted, problems)


def requested_statuses(
    approve: Iterable[int], reject: Iterable[int]
) -> tuple[dict[int, MessageStatus], dict[int, str]]:
    """The status asked for each id, and the problems so far: an id given both ways."""
    wanted = {i: MessageStatus.APPROVED for i in approve}
    problems: dict[int, str] = {}
    for i in reject:
        if wanted.get(i) is MessageStatus.APPROVED:
            problems[i] = "given to both --approve and --reject"
        wanted[i] = MessageStatus.REJECTED
    return wanted, problems


def campaign_slugs(session: Session) -> dict[int, str]:
    """Every campaign's slug by id, to name the one an id given belongs to."""
    return {i: slug for i, slug in session.execute(select(Campaign.id, Campaign.slug))}


def apply_statuses(
    session: Session, status_column: InstrumentedAttribute[Any], campaign: Campaign,
    wanted: dict[int, MessageStatus], problems: dict[int, str],
) -> dict[int, MessageStatus]:  # fmt: skip
    """Set the statuses ``wanted`` in ``status_column`` (messages' or signatures'),
    all or none: with any problem, raise :class:`ModerationError` and change nothing.
    Returns the new status by id."""
    if problems:
        session.rollback()
        raise ModerationError(dict(sorted(problems.items())))
    model = status_column.class_
    now = datetime.now(UTC)
    for status in MessageStatus:
        ids = [i for i, s in wanted.items() if s is status]
        if ids:
            # Scoped to the campaign as well: an id of another one is never touched.
            session.execute(
                update(model)
                .where(model.id.in_(ids), model.campaign_id == campaign.id)
                .values({status_column: status, model.moderated_at: now})
                .execution_options(synchronize_session=False)
            )
    session.commit()
    return dict(sorted(wanted.items()))


def correct(session: Session, campaign: Campaign, action_id: int, personal: str,
            message: str) -> Action:  # fmt: skip
    """Set the text shown of message ``action_id`` of ``campaign`` (the caller
    commits); the text as sent stays. A text equal to the one sent is stored as
    no correction. Raises :class:`ModerationError` if it is not such a message."""
    action = session.get(Action, action_id)
    if action is None or action.campaign_id != campaign.id:
        raise ModerationError({action_id: "no such message"})
    if action.erased_at is not None or action.message_status is None:
        raise ModerationError({action_id: "not a message asked to be published"})
    action.published_personal = None if personal == action.personal else personal
    action.published_message = None if message == action.message else message
    return action
