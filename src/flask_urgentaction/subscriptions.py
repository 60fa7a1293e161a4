"""Confirming an opt-in and unsubscribing, each from a signed link."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select

from .models import Consent, Subscriber
from .signals import optin_confirmed
from .storage import get_session
from .tokens import Purpose, TokenError, verify


class Outcome(enum.Enum):
    DONE = "done"
    ALREADY = "already"


def subscriber_for(purpose: Purpose, token: str) -> tuple[Subscriber, int | None]:
    """The subscriber a link is for, or TokenError (expired or invalid)."""
    max_age = (
        float(current_app.config["URGENTACTION_TOKEN_MAX_AGE"])
        if purpose is Purpose.CONFIRM
        else None  # an unsubscribe link keeps working: leaving is always possible
    )
    payload, _age = verify(purpose, token, max_age)
    if not isinstance(payload, dict) or not isinstance(payload.get("s"), int):
        raise TokenError(expired=False)
    subscriber = get_session().get(Subscriber, payload["s"])
    if subscriber is None:
        raise TokenError(expired=False)
    consent_id = payload.get("c")
    return subscriber, consent_id if isinstance(consent_id, int) else None


def _consent_for(token: str) -> tuple[Subscriber, Consent, bool]:
    """The subscriber and consent a confirm link is for, and whether it is done."""
    subscriber, consent_id = subscriber_for(Purpose.CONFIRM, token)
    consent = get_session().get(Consent, consent_id) if consent_id else None
    if consent is None or consent.subscriber_id != subscriber.id:
        raise TokenError(expired=False)
    if consent.withdrawn_at is not None:
        # Unsubscribed after this link was sent: an old link must not undo that.
        raise TokenError(expired=True)
    done = subscriber.status == "confirmed" and consent.confirmed_at is not None
    return subscriber, consent, done


def would_change(purpose: Purpose, token: str) -> Subscriber | None:
    """For the GET page: the subscriber if a POST would change something, None if
    it is done already; TokenError if the link cannot be used."""
    if purpose is Purpose.CONFIRM:
        subscriber, _consent, done = _consent_for(token)
    else:
        subscriber, _ = subscriber_for(purpose, token)
        done = subscriber.status == "unsubscribed"
    return None if done else subscriber


def confirm(token: str) -> Outcome:
    session = get_session()
    subscriber, consent, done = _consent_for(token)
    if done:
        return Outcome.ALREADY
    now = datetime.now(UTC)
    consent.confirmed_at = consent.confirmed_at or now
    subscriber.status = "confirmed"
    subscriber.confirmed_at = now
    session.commit()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    optin_confirmed.send(app, subscriber=subscriber)
    return Outcome.DONE


def unsubscribe(token: str) -> Outcome:
    session = get_session()
    subscriber, _ = subscriber_for(Purpose.UNSUBSCRIBE, token)
    if subscriber.status == "unsubscribed":
        return Outcome.ALREADY
    now = datetime.now(UTC)
    subscriber.status = "unsubscribed"
    subscriber.unsubscribed_at = now
    for consent in session.scalars(
        select(Consent).where(
            Consent.subscriber_id == subscriber.id, Consent.withdrawn_at.is_(None)
        )
    ):
        consent.withdrawn_at = now
    session.commit()
    return Outcome.DONE
