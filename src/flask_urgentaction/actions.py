"""Taking an action: the action, its outbox rows and any opt-in, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import challenge, mail
from .campaigns import count_actions, message_text
from .forms import ActionForm
from .i18n import gettext
from .models import Action, Campaign, Consent, OutboxMessage, Subscriber
from .signals import action_taken
from .storage import get_session


@dataclass(frozen=True)
class Taken:
    action: Action
    count: int
    opt_in_pending: bool
    outbox_ids: list[int]


class AlreadyActed(Exception):
    """This email has acted on this campaign before; nothing new is sent."""

    def __init__(self, count: int) -> None:
        super().__init__("already acted")
        self.count = count


class ChallengeReused(Exception):
    """Two submissions raced with one challenge token; the second loses."""


def email_key(email: str) -> str:
    return email.strip().casefold()


def opt_in_text() -> str:
    """The exact consent text the form shows (stored with each consent)."""
    return str(
        gettext(
            "Send me future urgent action alerts. I can unsubscribe at any time "
            "with the link in every alert."
        )
    )


def take_action(campaign: Campaign, form: ActionForm, lang: str, source_origin: str = "") -> Taken:
    """Store a validated form's action; raise AlreadyActed for a second try."""
    session = get_session()
    key = email_key(form.email.data)
    if _acted(campaign.id, key):
        raise AlreadyActed(count_actions(session, campaign.id))
    solved = form.solved
    assert solved is not None, "validate the form first"

    texts = message_text(campaign, lang)
    action = Action(
        campaign_id=campaign.id,
        name=form.name.data,
        email=form.email.data,
        email_key=key,
        union=form.union.data or "",
        country=form.country.data or "",
        subject=form.subject.data or texts.subject or texts.title,
        message=form.message.data or texts.message,
        lang=lang,
        opt_in=bool(form.opt_in.data),
        source_origin=source_origin[:300],
        partner_tag=form.partner.data or "",
    )
    session.add(action)
    session.flush()
    challenge.spend(solved)
    outgoing = [mail.target_message(campaign, action)]
    pending = False
    if action.opt_in:
        confirm = _opt_in(campaign, action)
        if confirm is not None:
            outgoing.append(confirm)
            pending = True
    session.add_all(outgoing)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        if _acted(campaign.id, key):
            raise AlreadyActed(count_actions(session, campaign.id)) from exc
        if challenge.is_spent(solved.jti):
            raise ChallengeReused from exc
        raise
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    action_taken.send(app, action=action)
    return Taken(
        action=action,
        count=count_actions(session, campaign.id),
        opt_in_pending=pending,
        outbox_ids=[row.id for row in outgoing],
    )


def _acted(campaign_id: int, key: str) -> bool:
    session = get_session()
    found = session.scalar(
        select(Action.id).where(Action.campaign_id == campaign_id, Action.email_key == key)
    )
    return found is not None


def _opt_in(campaign: Campaign, action: Action) -> OutboxMessage | None:
    """Record the consent; return the confirmation mail unless already confirmed."""
    session = get_session()
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email_key == action.email_key))
    if subscriber is None:
        subscriber = Subscriber(email=action.email, email_key=action.email_key, lang=action.lang)
        session.add(subscriber)
    subscriber.name = action.name
    subscriber.lang = action.lang
    consent = Consent(
        subscriber=subscriber,
        campaign_id=campaign.id,
        text=opt_in_text(),
        lang=action.lang,
    )
    session.add(consent)
    if subscriber.status == "confirmed":
        consent.confirmed_at = datetime.now(UTC)
        return None
    subscriber.status = "pending"
    session.flush()
    return mail.confirm_message(campaign, subscriber, consent)
