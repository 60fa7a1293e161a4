"""Erasing a person (``flask urgentaction forget``): what goes, and what stays.

An action stays, so the public count and the goal never go backwards (the
messages were sent), but nothing in it says who took it any more: name,
address, union, subject, message, personal line, the opt-in choice and any
publication of the message (it leaves the message pages and feed) are
erased, and the address key is emptied, so the address may act again as
someone new. What stays is what the figures need: campaign, time, language,
country, the partner's tag and the embedding origin.

Mail to the targets that went out stays as the record of the delivery (target,
status, times, the server's reply code) without the supporter's content; its
Message-ID is replaced, since the targets hold the delivered copy under it.
Mail not sent is deleted: the person asked to be forgotten, so it does not go
out, and nothing is left to retry. A row a digest carried stays, stripped, as
the digest's record; the digest is written again without the person's details
while it may still go, and loses its whole stored body once it went out (it
listed others too, and the delivered copy is the targets'). The subscriber,
every consent, every mail to the person and their address on the bounce list go,
and so do their co-signatures of declarations (cosigning.py), whole: a signature
is nothing but who signed.

``purge`` (retention.py) erases old actions the same way, except that their
failed and bounced mail stays, stripped, so the delivery figures stay; and it
strips old mail with :func:`strip`. docs/operations.md and docs/privacy.md say
the same for organisers.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import make_msgid

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from . import tallies
from .actions import email_key
from .bounces import address_key
from .digest import digest_message
from .models import Action, Bounce, Cosignature, OutboxMessage, OutboxStatus, Subscriber

# "250 2.0.0 Ok: queued as 4F3A1C": the code stays; the rest can name the queue entry.
REPLY_CODE = re.compile(r"\d{3}(?:[ -]\d\.\d{1,3}\.\d{1,3})?")


# Mail that may still go out (a failed row by ``outbox --retry``).
PENDING = (OutboxStatus.HELD, OutboxStatus.QUEUED, OutboxStatus.SENDING, OutboxStatus.FAILED)
# What an erased action's mail keeps, stripped: what reached the targets.
DELIVERED = (OutboxStatus.SENT, OutboxStatus.DIGESTED)


@dataclass(frozen=True)
class Person:
    """What is stored about one address: the one way to find a person's rows."""

    email_key: str
    action_ids: list[int]
    subscriber: Subscriber | None
    # The address on the bounce list (a confirmation or an alert to it bounced).
    bounce: Bounce | None = None
    # Their co-signatures of declarations.
    signature_ids: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return (
            bool(self.action_ids)
            or self.subscriber is not None
            or self.bounce is not None
            or bool(self.signature_ids)
        )


def find(session: Session, email: str) -> Person:
    key = email_key(email)
    ids = session.scalars(select(Action.id).where(Action.email_key == key).order_by(Action.id))
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email_key == key))
    bounce = session.get(Bounce, address_key(email))
    signatures = session.scalars(
        select(Cosignature.id).where(Cosignature.email_key == key).order_by(Cosignature.id)
    )
    return Person(email_key=key, action_ids=list(ids), subscriber=subscriber, bounce=bounce,
                  signature_ids=list(signatures))  # fmt: skip


def mail_to(person: Person) -> ColumnElement[bool]:
    """The outbox rows addressed to the person: confirmations and alerts."""
    addressed = and_(
        OutboxMessage.kind.in_(("confirm", "alert")),
        func.lower(OutboxMessage.recipient) == person.email_key,
    )
    if person.subscriber is None:
        return addressed
    return or_(OutboxMessage.subscriber_id == person.subscriber.id, addressed)


def forget(session: Session, person: Person) -> None:
    """Erase ``person`` as the module says, in one transaction."""
    if person.action_ids:
        erase_actions(session, person.action_ids)
    session.execute(delete(OutboxMessage).where(mail_to(person)))
    if person.subscriber is not None:
        session.delete(person.subscriber)  # its consents go with it
    if person.bounce is not None:
        session.delete(person.bounce)
    if person.signature_ids:
        session.execute(delete(Cosignature).where(Cosignature.id.in_(person.signature_ids)))
    session.commit()


def strip(row: OutboxMessage) -> None:
    """Take the personal content out of one outbox row; what stays is the record
    of its delivery: kind, recipient, status, attempts, times, the reply code."""
    if row.kind == "target":
        domain = row.message_id.rstrip(">").rpartition("@")[2] or None
        row.sender = ["", row.sender[1]]  # the display name was the supporter's
        row.reply_to = None
        row.subject = ""  # the supporter may have written it
        row.message_id = make_msgid(domain=domain)
    elif row.kind in ("confirm", "alert"):
        row.recipient_name = ""  # the subscriber's name; the address stays with them
    reply = REPLY_CODE.match(row.last_reply)
    row.text_body = ""
    row.html_body = None
    row.headers = {}  # alerts carry a working unsubscribe link
    row.last_reply = reply.group(0) if reply else ""
    row.last_error = ""


def erase_actions(
    session: Session, action_ids: list[int], keep: Collection[OutboxStatus] = DELIVERED
) -> None:
    """Strip actions of personal data, keeping them counted; their mail in a status
    of ``keep`` is stripped, the rest deleted, and the digests that list them follow."""
    of_these = OutboxMessage.action_id.in_(action_ids)
    # Deleted first: a row that is sent meanwhile is left, and stripped below.
    session.execute(delete(OutboxMessage).where(of_these, OutboxMessage.status.not_in(keep)))
    digest_ids: set[int] = set()
    for row in session.scalars(select(OutboxMessage).where(of_these)):
        if row.digest_id is not None:
            digest_ids.add(row.digest_id)
        strip(row)
    # After the first write above (on SQLite it holds the lock), before the stripping.
    tallies.unfold_erased(session, action_ids)
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
            personal="",
            published_message=None,
            published_personal=None,
            opt_in=False,
            # A published message leaves the pages and the feed; its link stops working.
            publish_requested=False,
            message_status=None,
            moderated_at=None,
            public_id=None,
            erased_at=datetime.now(UTC),
        )
    )
    rewrite_digests(session, sorted(digest_ids))


def rewrite_digests(session: Session, digest_ids: list[int]) -> None:
    """Digests that carried erased actions: written again while they may still go
    (an erased supporter is listed as such), stripped once they went out."""
    digests = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.id.in_(digest_ids), OutboxMessage.kind == "digest"
        )
    )
    for digest in digests:
        carried = list(
            session.scalars(
                select(OutboxMessage.id)
                .where(OutboxMessage.digest_id == digest.id)
                .order_by(OutboxMessage.id)
            )
        )
        if digest.status not in PENDING:
            strip(digest)
            continue
        if digest.target_id is None or not carried:
            # Its target was taken off the campaign: nothing to write it for.
            strip(digest)
            digest.status = OutboxStatus.FAILED
            digest.last_error = "not sent: a supporter it listed was erased"
            continue
        fresh = digest_message(session, digest.target_id, carried)
        digest.subject = fresh.subject
        digest.text_body = fresh.text_body
        digest.html_body = fresh.html_body
