"""Co-signing a declaration: supporters add their name under an organisation's.

A supporter signs with their name, union (optional), country and address,
past the same spam check as an action (:func:`sign`, called by the page form
and the JSON API through views/submission.py). A signature is pending until an
organiser approves it (:func:`moderate`, the ``declarations`` command and the
dashboard); only approved ones are shown (:func:`shown`), by name, union and
country, never the address. One address signs one declaration once: a unique
key holds that, also against two requests at the same moment.

``forget`` and ``purge`` delete signatures whole (erasure.py, retention.py):
unlike an action, a signature counts for nothing once it names no one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import challenge
from .actions import (
    ChallengeReused,
    Closed,
    RateLimited,
    Supporter,
    closed,
    count_in_transaction,
    count_refused,
    email_key,
)
from .campaigns import AnyCampaign
from .declarations import DeclarationSnapshot
from .models import Campaign, Cosignature, Declaration, MessageStatus
from .ratelimit import RateLimiter
from .solidarity import ModerationError, apply_statuses, campaign_slugs, requested_statuses
from .storage import get_session

__all__ = ["ModerationError", "list_signatures", "moderate", "shown", "sign"]


@dataclass(frozen=True)
class Cosigner(Supporter):
    """One supporter's validated signature, as plain values."""


@dataclass(frozen=True)
class Signed:
    """Stored, pending an organiser's approval."""

    signature_id: int


@dataclass(frozen=True)
class AlreadySigned:
    """This address signed this declaration before; nothing new is stored.

    ``repeated``: the spam-check token was spent too, so this is the same
    submission arriving again (a double click).
    """

    repeated: bool


SignOutcome = Signed | AlreadySigned | ChallengeReused | Closed | RateLimited


@dataclass(frozen=True)
class ShownSignature:
    """An approved signature as the public sees it."""

    name: str
    union: str
    country: str


def sign(
    campaign: AnyCampaign,
    declaration: DeclarationSnapshot,
    cosigner: Cosigner,
    rate_limit: RateLimiter | None = None,
) -> SignOutcome:
    """Store a signature once per address and declaration, and say what became of it.

    ``rate_limit`` counts it in the same transaction, as for actions.

    Stored first and asked about after, as actions are (actions.take_action): a
    second signature of the address, or a spent token, meets a unique key.
    """
    shut = closed(campaign)
    if shut is not None:
        return shut
    session = get_session()
    declaration_id = session.scalar(
        select(Declaration.id).where(Declaration.public_id == declaration.public_id)
    )
    if declaration_id is None:
        # Taken off the campaign since its snapshot was made.
        return Closed()
    key = email_key(cosigner.email)
    row = Cosignature(
        declaration_id=declaration_id,
        campaign_id=campaign.id,
        name=cosigner.name,
        email=cosigner.email,
        email_key=key,
        union=cosigner.union,
        country=cosigner.country,
        lang=cosigner.lang,
        status=MessageStatus.PENDING,
    )
    try:
        limited = count_in_transaction(rate_limit)
        if limited is not None:
            return limited
        session.add(row)
        session.flush()
        challenge.spend(cosigner.challenge)
        session.commit()
    except IntegrityError:
        session.rollback()
        limited = count_refused(rate_limit)
        if limited is not None:
            return limited
        signed, spent = session.execute(
            select(
                select(Cosignature.id)
                .where(Cosignature.declaration_id == declaration_id, Cosignature.email_key == key)
                .scalar_subquery(),
                challenge.spent(cosigner.challenge.jti),
            )
        ).one()
        if signed is not None:
            return AlreadySigned(repeated=bool(spent))
        if spent:
            return ChallengeReused()
        raise
    return Signed(row.id)


def shown(session: Session, declaration: DeclarationSnapshot) -> list[ShownSignature]:
    """The declaration's approved signatures, in the order they were made."""
    rows = session.execute(
        select(Cosignature.name, Cosignature.union, Cosignature.country)
        .join(Declaration, Declaration.id == Cosignature.declaration_id)
        .where(
            Declaration.public_id == declaration.public_id,
            Cosignature.status == MessageStatus.APPROVED,
        )
        .order_by(Cosignature.created_at, Cosignature.id)
    )
    return [ShownSignature(name, union, country) for name, union, country in rows]


def count_shown(session: Session, campaign_id: int) -> dict[str, int]:
    """Approved signatures per declaration of a campaign, by the declaration's public id."""
    rows = session.execute(
        select(Declaration.public_id, func.count(Cosignature.id))
        .join(Cosignature, Cosignature.declaration_id == Declaration.id)
        .where(
            Declaration.campaign_id == campaign_id,
            Cosignature.status == MessageStatus.APPROVED,
        )
        .group_by(Declaration.public_id)
    )
    return {public_id: int(count) for public_id, count in rows}


# Moderation, for organisers (the CLI, the dashboard).


def list_signatures(
    session: Session, campaign: Campaign, pending: bool = False
) -> list[tuple[Cosignature, str]]:
    """The campaign's signatures (only those waiting, with ``pending``), newest
    first, each with the ``id`` its declaration has in the campaign's file."""
    query = (
        select(Cosignature, Declaration.key)
        .join(Declaration, Declaration.id == Cosignature.declaration_id)
        .where(Cosignature.campaign_id == campaign.id)
        .order_by(Cosignature.created_at.desc(), Cosignature.id.desc())
    )
    if pending:
        query = query.where(Cosignature.status == MessageStatus.PENDING)
    return [(row, key) for row, key in session.execute(query)]


def moderate(
    session: Session, campaign: Campaign, approve: Iterable[int] = (),
    reject: Iterable[int] = (),
) -> dict[int, MessageStatus]:  # fmt: skip
    """Approve and reject signatures of ``campaign`` by id, all or none; an approved
    one may still be rejected, and a rejected one approved. Returns the new status
    by id; raises :class:`ModerationError` naming every id that is not a signature
    of this campaign (or is given both ways), and then changes nothing."""
    wanted, problems = requested_statuses(approve, reject)
    found: dict[int, int] = {
        i: campaign_id
        for i, campaign_id in session.execute(
            select(Cosignature.id, Cosignature.campaign_id).where(Cosignature.id.in_(list(wanted)))
        )
    }
    slugs = campaign_slugs(session)
    for i in wanted:
        if i in problems:
            continue
        if i not in found:
            problems[i] = "no such signature"
        elif found[i] != campaign.id:
            other = slugs.get(found[i], "another campaign")
            problems[i] = f"a signature of {other}, not of {campaign.slug}"
    return apply_statuses(session, Cosignature.status, campaign, wanted, problems)
