"""Taking an action: the action, its outbox rows and any opt-in, in one transaction.

The page form, the iframe embed and the JSON API all come here with a
:class:`Submission` of plain values and get an :class:`Outcome` back; turning
it into HTML or JSON is theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from . import challenge, links, mail, pacing, similarity
from .campaigns import AnyCampaign, CampaignStatus, count_actions, effective_status, message_text
from .i18n import gettext
from .models import (
    Action,
    Campaign,
    Consent,
    MessageStatus,
    OutboxMessage,
    Subscriber,
    new_public_id,
    utcnow,
)
from .ratelimit import RateLimiter
from .signals import action_taken
from .storage import get_session, insert_objects


@dataclass(frozen=True)
class Supporter:
    """Who takes an action or signs a declaration, validated, as plain values."""

    name: str
    email: str
    country: str
    lang: str
    # The answered spam check, spent in the same transaction as what it guards.
    challenge: challenge.Solved
    union: str = ""


@dataclass(frozen=True)
class Submission(Supporter):
    """One supporter's validated submission, as plain values."""

    subject: str = ""  # "": the campaign's
    message: str = ""  # "": the campaign's
    personal: str = ""  # a line of the supporter's own, put above the message
    opt_in: bool = False
    # Asks to show the message in public (where the campaign allows it).
    publish: bool = False
    partner_tag: str = ""
    source_origin: str = ""


@dataclass(frozen=True)
class Taken:
    """Stored, with one outbox row per target (and any opt-in confirmation)."""

    action: Action
    count: int
    opt_in_pending: bool
    outbox_ids: list[int]
    # The target mail waits for the campaign's delivery rules (pacing.release).
    held: bool = False


@dataclass(frozen=True)
class AlreadyActed:
    """This email has acted on this campaign before; nothing new is stored or sent.

    ``repeated``: the submission's spam-check token was spent too, so this is the
    same submission arriving again (a double click, a resend after a timeout).
    """

    count: int
    repeated: bool
    opt_in_pending: bool


@dataclass(frozen=True)
class ChallengeReused:
    """Another submission spent this spam-check token; nothing is stored."""


@dataclass(frozen=True)
class Closed:
    """The campaign takes no more actions."""


@dataclass(frozen=True)
class RateLimited:
    """Too many submissions from this client; nothing is stored. ``wait``: seconds."""

    wait: int


Outcome = Taken | AlreadyActed | ChallengeReused | Closed | RateLimited


# Built once: the statement is the same for every action.
_COUNT_ONE_MORE = (
    update(Campaign)
    .where(Campaign.id == bindparam("campaign_id"))
    .values(action_count=Campaign.action_count + 1)
    .returning(Campaign.action_count)
)


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


def closed(campaign: AnyCampaign) -> Closed | None:
    """Closed() when the campaign takes no more actions: closed, or past its closes_at."""
    return Closed() if effective_status(campaign) is CampaignStatus.CLOSED else None


def take_action(
    campaign: AnyCampaign, submission: Submission, rate_limit: RateLimiter | None = None
) -> Outcome:
    """Store a submission once per email and campaign, and say what became of it.

    With ``rate_limit``, the submission is counted against it in the transaction
    that stores it (``RateLimited`` when it refuses, and nothing is stored).

    The action is stored first and asked about after: an email acting again, or
    a spent token, meets the unique keys at a flush or at the commit (so does a
    twin sent at the same moment: a double click, the same email in two tabs);
    it is rolled back and answered from what is stored. A new action, the usual
    case, so costs no question before it.
    """
    shut = closed(campaign)
    if shut is not None:
        return shut
    session = get_session()
    try:
        taken = _store(campaign, submission, rate_limit)
    except IntegrityError:
        session.rollback()
        limited = count_refused(rate_limit)
        if limited is not None:
            return limited
        refused = _taken_before(campaign, submission)
        if refused is None:
            raise
        return refused
    if isinstance(taken, Taken):
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        action_taken.send(app, action=taken.action)
    return taken


def count_in_transaction(rate_limit: RateLimiter | None) -> RateLimited | None:
    """Count this submission in the session's transaction, as its first write;
    rolled back, and RateLimited, when the limit refuses it."""
    if rate_limit is None:
        return None
    session = get_session()
    wait = rate_limit.hit(session.connection())
    if wait is None:
        return None
    session.rollback()
    return RateLimited(wait)


def count_refused(rate_limit: RateLimiter | None) -> RateLimited | None:
    """Count again, on its own, a submission whose transaction was rolled back at a
    unique key (it is refused, but was sent all the same)."""
    if rate_limit is None or not rate_limit.in_database:
        return None  # a store outside the database kept the first count
    wait = rate_limit.hit()
    return None if wait is None else RateLimited(wait)


def _taken_before(campaign: AnyCampaign, submission: Submission) -> Outcome | None:
    """What an earlier action of this email, or an earlier use of its token, makes of it."""
    session = get_session()
    key = email_key(submission.email)
    # One statement, so both are seen as of one moment: asked apart, a twin's
    # commit could fall between them and show a spent token but no action.
    opt_in = (
        select(Action.opt_in)
        .where(Action.campaign_id == campaign.id, Action.email_key == key)
        .scalar_subquery()
    )
    acted_opt_in, spent = session.execute(
        select(opt_in, challenge.spent(submission.challenge.jti))
    ).one()
    if acted_opt_in is not None:
        return AlreadyActed(
            count=count_actions(session, campaign.id),
            repeated=bool(spent),
            opt_in_pending=bool(acted_opt_in) and _confirmation_pending(key),
        )
    return ChallengeReused() if spent else None


def _confirmation_pending(key: str) -> bool:
    status = get_session().scalar(select(Subscriber.status).where(Subscriber.email_key == key))
    return status == "pending"


def _store(
    campaign: AnyCampaign, submission: Submission, rate_limit: RateLimiter | None
) -> Taken | RateLimited:
    session = get_session()
    texts = message_text(campaign, submission.lang)
    # No targets but published messages: the message is the supporter's own words
    # of solidarity, sent to no one. Submitting on a form that says it is
    # published is the request to publish (docs/solidarity.md); the subject is
    # the campaign's, as nothing is mailed, and there is no line above the message.
    gathers = not campaign.targets and campaign.publish_messages
    # Asked for on a campaign that does not publish messages: ignored.
    publish = gathers or (submission.publish and campaign.publish_messages)
    subject = "" if gathers else submission.subject
    action = Action(
        campaign_id=campaign.id,
        name=submission.name,
        email=submission.email,
        email_key=email_key(submission.email),
        union=submission.union,
        country=submission.country,
        subject=subject or texts.subject or texts.title,
        message=submission.message or texts.message,
        personal="" if gathers else submission.personal,
        edited=similarity.edited(submission.message or texts.message, texts.message),
        lang=submission.lang,
        opt_in=_opt_in_wanted(campaign, submission),
        source_origin=submission.source_origin[:300],
        partner_tag=submission.partner_tag,
        publish_requested=publish,
        message_status=MessageStatus.PENDING if publish else None,
        public_id=new_public_id() if publish else None,
        # Given here: the action is inserted with a core statement, and receivers
        # of ``action_taken`` read it from the object.
        created_at=utcnow(),
    )
    # Rendered before the first write: on SQLite the write lock is held from the
    # first INSERT to the commit, and every other process's action waits for it.
    outgoing = mail.target_messages(campaign, action) if campaign.targets else []
    limited = count_in_transaction(rate_limit)
    if limited is not None:
        return limited
    # Core INSERTs, not the ORM's unit of work: the hot path's largest cost.
    insert_objects(session, [action])
    for row in outgoing:
        row.action_id = action.id
        row.dedupe_key = mail.target_dedupe_key(action.id, row.target_id or 0)
    insert_objects(session, outgoing)
    challenge.spend(submission.challenge)
    pending = False
    if action.opt_in:
        confirm = _opt_in(campaign, action)
        if confirm is not None:
            session.add(confirm)
            session.flush()
            outgoing.append(confirm)
            pending = True
    # Last before the commit: on PostgreSQL the campaign's row stays locked
    # from here to the commit, and every action of the campaign waits for it.
    count = session.connection().execute(_COUNT_ONE_MORE, {"campaign_id": campaign.id}).scalar_one()
    session.commit()
    return Taken(
        action=action,
        count=int(count),
        opt_in_pending=pending,
        outbox_ids=[row.id for row in outgoing],
        held=pacing.governed(campaign.delivery),
    )


def _opt_in_wanted(campaign: AnyCampaign, submission: Submission) -> bool:
    """The ticked box, unless no confirmation link could be mailed for it."""
    if not submission.opt_in:
        return False
    if links.available():
        return True
    # The box is not offered then; a request asking anyway (crafted, or a form
    # from before the settings changed) keeps its action but no opt-in.
    current_app.logger.error(
        "Opt-in on campaign %s refused: %s", campaign.slug, links.UNTRUSTED_HOST
    )
    return False


def _subscriber(action: Action) -> Subscriber:
    """The subscriber with the action's email, added if there is none.

    Subscribers are shared across campaigns, so the same email may opt in on two
    campaigns at the same moment. ``INSERT ... ON CONFLICT DO NOTHING`` waits for
    the other transaction's row instead of failing on it; the SELECT then finds
    whichever row was first.
    """
    session = get_session()
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(
            insert(Subscriber)
            .values(email=action.email, email_key=action.email_key, lang=action.lang)
            .on_conflict_do_nothing(index_elements=[Subscriber.email_key])
        )
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email_key == action.email_key))
    if subscriber is None:
        # Another database: a plain insert (a race there ends in a unique violation).
        subscriber = Subscriber(email=action.email, email_key=action.email_key, lang=action.lang)
        session.add(subscriber)
    return subscriber


def _opt_in(campaign: AnyCampaign, action: Action) -> OutboxMessage | None:
    """Record the consent; return the confirmation mail unless already confirmed."""
    session = get_session()
    subscriber = _subscriber(action)
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
