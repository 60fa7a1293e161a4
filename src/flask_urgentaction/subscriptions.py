"""Confirming an opt-in and unsubscribing, each from a signed link.

A link names its subscriber (and a confirm link its consent) by public id: 128
random bits, never reused, so a link acts on the person it was mailed to or on
no one. Links mailed before public ids existed carry row ids; SQLite gave a
deleted row's id to the next row, so after ``forget`` such an id may name
someone else. They are still honoured for a row that already existed when the
link was signed: a row given the id later was created after the link, and is
refused.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import select

from .models import Consent, Subscriber
from .signals import optin_confirmed
from .storage import get_session
from .tokens import Purpose, TokenError, sign, verify

Row = TypeVar("Row", Subscriber, Consent)


class Outcome(enum.Enum):
    DONE = "done"
    ALREADY = "already"


def confirm_token(subscriber: Subscriber, consent: Consent) -> str:
    return sign(Purpose.CONFIRM, {"s": subscriber.public_id, "c": consent.public_id})


def unsubscribe_token(subscriber: Subscriber) -> str:
    return sign(Purpose.UNSUBSCRIBE, {"s": subscriber.public_id})


def subscriber_for(purpose: Purpose, token: str) -> tuple[Subscriber, Consent | None]:
    """The subscriber a link is for, and the consent a confirm link is for;
    TokenError (expired or invalid) when the link names no one, or no longer."""
    max_age = (
        float(current_app.config["URGENTACTION_TOKEN_MAX_AGE"])
        if purpose is Purpose.CONFIRM
        else None  # an unsubscribe link keeps working: leaving is always possible
    )
    payload, age = verify(purpose, token, max_age)
    if not isinstance(payload, dict):
        raise TokenError(expired=False)
    # itsdangerous keeps whole seconds: the link was signed within this second.
    signed_by = datetime.now(UTC) - timedelta(seconds=age) + timedelta(seconds=1)
    subscriber = _named(Subscriber, payload.get("s"), signed_by)
    if subscriber is None:
        raise TokenError(expired=False)
    if purpose is not Purpose.CONFIRM:
        return subscriber, None
    consent = _named(Consent, payload.get("c"), signed_by)
    if consent is None or consent.subscriber_id != subscriber.id:
        raise TokenError(expired=False)
    return subscriber, consent


def _named(model: type[Row], reference: Any, signed_by: datetime) -> Row | None:
    """The row a link's reference names: a public id, or a row id from an old link."""
    session = get_session()
    if isinstance(reference, str):
        return session.scalar(select(model).where(model.public_id == reference))
    if not isinstance(reference, int) or isinstance(reference, bool):
        return None
    row = session.get(model, reference)
    if row is None:
        return None
    created = row.created_at if isinstance(row, Subscriber) else row.given_at
    # A row created after the link was signed took a forgotten person's id.
    return row if created < signed_by else None


def _consent_for(token: str) -> tuple[Subscriber, Consent, bool]:
    """The subscriber and consent a confirm link is for, and whether it is done."""
    subscriber, consent = subscriber_for(Purpose.CONFIRM, token)
    if consent is None:  # subscriber_for refuses such a confirm link already
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
