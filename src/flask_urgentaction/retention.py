"""Retention (``flask urgentaction purge``): personal data goes once it is old enough.

- Actions older than ``URGENTACTION_RETENTION_DAYS`` are erased as ``forget``
  erases them (erasure.erase_actions): they still count, keep what the figures
  need, and their mail to the targets that went out, failed or bounced stays as
  a delivery record; mail still waiting to go after all that time is deleted,
  not sent.
- Mail that went out, failed, bounced or was carried by a digest, older than
  ``URGENTACTION_SENT_MAIL_RETENTION_DAYS``, loses its content (erasure.strip):
  the message, the supporter's name and ``Reply-To:``, a digest's list of
  supporters, an alert's unsubscribe link. Its status, times, attempts, reply
  code and recipient stay, so the delivery figures per target do not change.
- A subscription not in force (never confirmed, or ended by unsubscribing) goes
  with its consents and mail once its last change is older than the retention.
- An address on the bounce list goes once its last bounce is that old.
- A co-signature of a declaration goes, whole, once it is that old (as an
  action's personal data does; it has nothing else to keep).
- Expired rate-limit windows and spent challenge tokens go.

Everything is chosen by age and by what is still there, so a second run the
same day finds nothing; rows are taken in batches, each its own transaction.
docs/privacy.md says the same for a data-protection officer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, exists, func, or_, select
from sqlalchemy.orm import Session

from . import erasure
from .models import (
    Action,
    Bounce,
    Consent,
    Cosignature,
    OutboxMessage,
    OutboxStatus,
    RateLimitWindow,
    Subscriber,
    UsedChallenge,
)

BATCH = 500
# Mail in one of these is done with: it is a record, no longer something to send.
DONE = (OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.BOUNCED, OutboxStatus.DIGESTED)


@dataclass(frozen=True)
class Cutoffs:
    """Rows older than these are purged."""

    actions: datetime
    mail: datetime

    @classmethod
    def configured(cls, now: datetime | None = None) -> Cutoffs:
        now = now or datetime.now(UTC)
        config = current_app.config
        return cls(
            actions=now - timedelta(days=float(config["URGENTACTION_RETENTION_DAYS"])),
            mail=now - timedelta(days=float(config["URGENTACTION_SENT_MAIL_RETENTION_DAYS"])),
        )


@dataclass(frozen=True)
class Purged:
    """How many rows a purge erased (or, in a dry run, would erase)."""

    actions: int = 0
    mail: int = 0
    subscriptions: int = 0
    bounces: int = 0
    signatures: int = 0

    def __bool__(self) -> bool:
        return any((self.actions, self.mail, self.subscriptions, self.bounces, self.signatures))


def _old_actions(cutoffs: Cutoffs) -> Any:
    return select(Action.id).where(Action.erased_at.is_(None), Action.created_at < cutoffs.actions)


def _old_mail(cutoffs: Cutoffs) -> Any:
    # A stripped row has no body left; a row never sent is as old as its creation.
    return select(OutboxMessage.id).where(
        OutboxMessage.status.in_(DONE),
        OutboxMessage.text_body != "",
        func.coalesce(OutboxMessage.sent_at, OutboxMessage.created_at) < cutoffs.mail,
    )


def _lapsed_subscriptions(cutoffs: Cutoffs) -> Any:
    recent_consent = exists().where(
        Consent.subscriber_id == Subscriber.id, Consent.given_at >= cutoffs.actions
    )
    return select(Subscriber.id).where(
        Subscriber.status != "confirmed",
        Subscriber.created_at < cutoffs.actions,
        or_(Subscriber.unsubscribed_at.is_(None), Subscriber.unsubscribed_at < cutoffs.actions),
        ~recent_consent,
    )


def _old_signatures(cutoffs: Cutoffs) -> Any:
    return select(Cosignature.id).where(Cosignature.created_at < cutoffs.actions)


def _count(session: Session, query: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def plan(session: Session, cutoffs: Cutoffs) -> Purged:
    """What :func:`purge` would erase now, changing nothing."""
    counted = Purged(
        actions=_count(session, _old_actions(cutoffs)),
        mail=_count(session, _old_mail(cutoffs)),
        subscriptions=_count(session, _lapsed_subscriptions(cutoffs)),
        bounces=_count(session, select(Bounce).where(Bounce.last_at < cutoffs.actions)),
        signatures=_count(session, _old_signatures(cutoffs)),
    )
    session.rollback()
    return counted


def purge(session: Session, cutoffs: Cutoffs) -> Purged:
    """Erase what is older than ``cutoffs`` (see the module)."""
    # Mail first: an old action's mail is then counted as mail, as plan() counts it.
    mail = 0
    while ids := list(session.scalars(_old_mail(cutoffs).order_by(OutboxMessage.id).limit(BATCH))):
        for row in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))):
            erasure.strip(row)
        session.commit()
        mail += len(ids)
    actions = 0
    while ids := list(session.scalars(_old_actions(cutoffs).order_by(Action.id).limit(BATCH))):
        erasure.erase_actions(session, ids, keep=DONE)
        session.commit()
        actions += len(ids)
    subscriptions = 0
    while ids := list(session.scalars(_lapsed_subscriptions(cutoffs).limit(BATCH))):
        # Consents and mail go with them (foreign keys with ON DELETE CASCADE).
        session.execute(delete(OutboxMessage).where(OutboxMessage.subscriber_id.in_(ids)))
        session.execute(delete(Consent).where(Consent.subscriber_id.in_(ids)))
        session.execute(delete(Subscriber).where(Subscriber.id.in_(ids)))
        session.commit()
        subscriptions += len(ids)
    removed = session.execute(delete(Bounce).where(Bounce.last_at < cutoffs.actions))
    bounces = int(getattr(removed, "rowcount", 0) or 0)
    signatures = 0
    while ids := list(session.scalars(_old_signatures(cutoffs).limit(BATCH))):
        session.execute(delete(Cosignature).where(Cosignature.id.in_(ids)))
        session.commit()
        signatures += len(ids)
    now = datetime.now(UTC)
    session.execute(delete(RateLimitWindow).where(RateLimitWindow.expires_at <= now))
    session.execute(delete(UsedChallenge).where(UsedChallenge.expires_at < now))
    session.commit()
    return Purged(actions=actions, mail=mail, subscriptions=subscriptions, bounces=bounces,
                  signatures=signatures)  # fmt: skip


def summary(purged: Purged, cutoffs: Cutoffs, dry_run: bool) -> str:
    """One line for people, e.g. ``erased 12 actions older than 2024-03-01; ...``."""
    verb = "would erase" if dry_run else "erased"
    actions_at = cutoffs.actions.strftime("%Y-%m-%d")
    mail_at = cutoffs.mail.strftime("%Y-%m-%d")
    return (
        f"{verb} {purged.actions} actions from before {actions_at}, "
        f"the content of {purged.mail} mail from before {mail_at}, "
        f"{purged.subscriptions} lapsed subscriptions, "
        f"{purged.bounces} bounce-list entries and "
        f"{purged.signatures} co-signatures from before {actions_at}"
    )
