"""An access request (``flask urgentaction person EMAIL``): what is stored about one person.

The person is found as ``forget`` finds them (erasure.find: their actions, their
subscription, the bounce list, mail addressed to them), so what this shows is
what ``forget`` erases. It holds nothing about anyone else: a digest lists
several supporters, so of a digest it gives the delivery record and which of
the person's actions it carried, never its body. Erased actions no longer name
anyone, so they are not found. docs/privacy.md says how to answer with it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from . import erasure
from .models import Action, Campaign, Consent, Cosignature, Declaration, OutboxMessage, Target

ACTION_FIELDS = ("id", "created_at", "name", "email", "union", "country", "lang",
                 "subject", "message", "personal", "edited", "opt_in", "source_origin",
                 "partner_tag", "publish_requested", "message_status",
                 "moderated_at", "published_personal", "published_message")  # fmt: skip
MAIL_FIELDS = ("id", "kind", "action_id", "status", "created_at", "sent_at", "attempts",
               "sender", "recipient_name", "recipient", "reply_to", "subject", "text_body",
               "html_body", "headers", "message_id", "last_reply", "last_error",
               "digest_id")  # fmt: skip
DIGEST_FIELDS = ("id", "status", "created_at", "sent_at", "attempts", "recipient_name",
                 "recipient", "last_reply")  # fmt: skip
SUBSCRIBER_FIELDS = ("email", "name", "lang", "status", "created_at", "confirmed_at",
                     "unsubscribed_at")  # fmt: skip
CONSENT_FIELDS = ("text", "lang", "given_at", "confirmed_at", "withdrawn_at")
BOUNCE_FIELDS = ("address", "status", "diagnostic", "source", "first_at", "last_at", "count")
SIGNATURE_FIELDS = ("id", "created_at", "name", "email", "union", "country", "lang", "status",
                    "moderated_at")  # fmt: skip


def plain(value: Any) -> Any:
    """A column's value as JSON has it: times in UTC, ISO 8601; status words as text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, str):
        return str(value)  # a StrEnum becomes its word
    return value


def fields(row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: plain(getattr(row, name)) for name in names}


def person_record(session: Session, email: str) -> dict[str, Any]:
    """Everything stored under ``email`` (any letter case), as a JSON-ready dict."""
    person = erasure.find(session, email)
    slugs: dict[int | None, str] = {
        id_: slug for id_, slug in session.execute(select(Campaign.id, Campaign.slug))
    }
    actions = session.scalars(
        select(Action).where(Action.id.in_(person.action_ids)).order_by(Action.id)
    ).all()
    mail = session.scalars(
        select(OutboxMessage)
        .where(or_(OutboxMessage.action_id.in_(person.action_ids), erasure.mail_to(person)))
        .order_by(OutboxMessage.id)
    ).all()
    carried: dict[int, list[int]] = {}
    for row in mail:
        if row.digest_id is not None and row.action_id is not None:
            carried.setdefault(row.digest_id, []).append(row.action_id)
    digests = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.id.in_(list(carried)), OutboxMessage.kind == "digest")
        .order_by(OutboxMessage.id)
    ).all()
    subscriber = person.subscriber
    consents: list[Consent] = []
    if subscriber is not None:
        consents = list(
            session.scalars(
                select(Consent).where(Consent.subscriber_id == subscriber.id).order_by(Consent.id)
            )
        )
    # A campaign may name the person as one of its targets (mail to them, which
    # carries supporters' messages, is other people's data and is left out).
    targets = session.scalars(
        select(Target).where(func.lower(Target.email) == person.email_key).order_by(Target.id)
    ).all()
    # Co-signatures, with their declaration as its campaign's file names it.
    signatures = session.execute(
        select(Cosignature, Declaration.key)
        .join(Declaration, Declaration.id == Cosignature.declaration_id)
        .where(Cosignature.id.in_(person.signature_ids))
        .order_by(Cosignature.id)
    ).all()
    return {
        "email": email,
        "generated_at": plain(datetime.now(UTC)),
        "actions": [
            {"campaign": slugs.get(a.campaign_id), **fields(a, ACTION_FIELDS)} for a in actions
        ],
        "mail": [fields(row, MAIL_FIELDS) for row in mail],
        "digests": [
            {**fields(d, DIGEST_FIELDS), "carried_actions": sorted(carried[d.id])} for d in digests
        ],
        "subscriber": None
        if subscriber is None
        else {
            **fields(subscriber, SUBSCRIBER_FIELDS),
            "consents": [
                {"campaign": slugs.get(c.campaign_id), **fields(c, CONSENT_FIELDS)}
                for c in consents
            ],
        },
        "bounce": None if person.bounce is None else fields(person.bounce, BOUNCE_FIELDS),
        "target_of": [
            {"campaign": slugs.get(t.campaign_id), "name": t.name, "email": t.email}
            for t in targets
        ],
        "cosignatures": [
            {
                "campaign": slugs.get(s.campaign_id),
                "declaration": key,
                **fields(s, SIGNATURE_FIELDS),
            }
            for s, key in signatures
        ],
    }


def found(record: dict[str, Any]) -> bool:
    """Whether a record from :func:`person_record` holds anything."""
    keys = ("actions", "mail", "subscriber", "bounce", "target_of", "cosignatures")
    return any(record[key] for key in keys)
