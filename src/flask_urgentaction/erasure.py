"""Erasing a person (``flask urgentaction forget``): what goes, and what stays.

An action stays, so the public count and the goal never go backwards (the
messages were sent), but nothing in it says who took it any more: name,
address, union, subject, message and the opt-in choice are erased, and the
address key is emptied, so the address may act again as someone new. What
stays is what the figures need: campaign, time, language, country, the
partner's tag and the embedding origin.

Mail to the targets that went out stays as the record of the delivery (target,
status, times, the server's reply code) without the supporter's content; its
Message-ID is replaced, since the targets hold the delivered copy under it.
Mail not sent yet is deleted: the person asked to be forgotten, so it does not
go out. The subscriber, every consent and every mail to the person go.
docs/operations.md says the same for organisers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import make_msgid

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from .actions import email_key
from .models import Action, OutboxMessage, OutboxStatus, Subscriber

# "250 2.0.0 Ok: queued as 4F3A1C": the code stays; the rest can name the queue entry.
REPLY_CODE = re.compile(r"\d{3}(?:[ -]\d\.\d{1,3}\.\d{1,3})?")


@dataclass(frozen=True)
class Person:
    """What is stored about one address."""

    action_ids: list[int]
    subscriber: Subscriber | None

    def __bool__(self) -> bool:
        return bool(self.action_ids) or self.subscriber is not None


def find(session: Session, email: str) -> Person:
    key = email_key(email)
    ids = session.scalars(select(Action.id).where(Action.email_key == key).order_by(Action.id))
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email_key == key))
    return Person(action_ids=list(ids), subscriber=subscriber)


def forget(session: Session, person: Person) -> None:
    """Erase ``person`` as the module says, in one transaction."""
    if person.action_ids:
        erase_actions(session, person.action_ids)
    if person.subscriber is not None:
        session.execute(
            delete(OutboxMessage).where(OutboxMessage.subscriber_id == person.subscriber.id)
        )
        session.delete(person.subscriber)  # its consents go with it
    session.commit()


def erase_actions(session: Session, action_ids: list[int]) -> None:
    """Strip actions of personal data, keeping them counted; their unsent mail goes."""
    of_these = OutboxMessage.action_id.in_(action_ids)
    # Unsent first: a row that turns "sent" meanwhile is left, and stripped below.
    unsent = OutboxMessage.status != OutboxStatus.SENT
    session.execute(delete(OutboxMessage).where(of_these, unsent))
    for row in session.scalars(select(OutboxMessage).where(of_these)):
        domain = row.message_id.rstrip(">").rpartition("@")[2] or None
        reply = REPLY_CODE.match(row.last_reply)
        row.sender = ["", row.sender[1]]  # the display name was the supporter's
        row.reply_to = None
        row.subject = ""
        row.text_body = ""
        row.html_body = None
        row.headers = {}
        row.message_id = make_msgid(domain=domain)
        row.last_reply = reply.group(0) if reply else ""
        row.last_error = ""
    session.execute(
        update(Action)
        .where(Action.id.in_(action_ids))
        .values(
            name="",
            email="",
            email_key=None,
            union="",
            subject="",
            message="",
            opt_in=False,
            erased_at=datetime.now(UTC),
        )
    )
