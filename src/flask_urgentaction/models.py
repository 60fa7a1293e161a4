"""The tables: campaigns, actions, subscribers and consents, the outbox, rate-limit counts."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from . import clock


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_public_id() -> str:
    """128 random bits, URL-safe: how a link names a row without its guessable id."""
    return secrets.token_urlsafe(16)


# SQLite hands the highest rowid out again once its row is deleted; a row that
# stands for a person must never pass its id on to the next person.
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


E = TypeVar("E", bound=StrEnum)


class EnumText(TypeDecorator[E]):
    """A StrEnum stored as its word in a plain VARCHAR: readable in SQL, and no
    native enum type to migrate when a word is added."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        # Refuses a word that is not one of the enum's, before it reaches the table.
        return None if value is None else str(self.enum(value).value)

    def process_result_value(self, value: str | None, dialect: Any) -> E | None:
        return None if value is None else self.enum(value)


class Base(DeclarativeBase):
    pass


class Campaign(Base):
    __tablename__ = "ua_campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    partner: Mapped[str] = mapped_column(String(200), default="")
    goal: Mapped[int | None] = mapped_column(Integer)
    privacy_url: Mapped[str] = mapped_column(String(500), default="")
    # None: the global URGENTACTION_ALLOWED_ORIGINS applies.
    allowed_origins: Mapped[list[str] | None] = mapped_column(JSON)
    fallback_lang: Mapped[str] = mapped_column(String(35), default="en")
    # The language the message to the targets is written in, when fixed.
    message_lang: Mapped[str | None] = mapped_column(String(35))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Actions taken, raised in each action's own transaction, so the count shown
    # is exact without counting rows. Erasure keeps the rows, so it never falls.
    action_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Raised by every change to the campaign, its texts or targets (raise_versions):
    # a process may reuse what it built from a campaign while this is unchanged.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The [delivery] table as checked by pacing.rules_from (None: send as fast as possible).
    delivery: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The highest action id counted into ua_action_tallies (tallies.py): the
    # dashboard's figures are those rows plus the actions after it.
    tallied_through: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # [messages] publish: supporters may ask for their message to be shown in public.
    publish_messages: Mapped[bool] = mapped_column(default=False, server_default="0")
    # Its life (campaigns.effective_status): a live campaign is shown from opens_at
    # and closed from closes_at, with no change to the row; closed_at is when its
    # status was set to closed (stamped by _stamp_closing), for the archive.
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # ISO 3166-1 alpha-2 codes of where the dispute is (None: not said).
    countries: Mapped[list[str] | None] = mapped_column(JSON)
    # An absolute https URL of the picture a shared link shows ("" for none).
    image: Mapped[str] = mapped_column(String(500), default="", server_default="")

    translations: Mapped[list[CampaignTranslation]] = relationship(
        back_populates="campaign",
        cascade="all, delete-orphan",
        order_by="CampaignTranslation.position",
    )
    targets: Mapped[list[Target]] = relationship(
        back_populates="campaign",
        cascade="all, delete-orphan",
        order_by="Target.position",
    )
    declarations: Mapped[list[Declaration]] = relationship(
        back_populates="campaign",
        cascade="all, delete-orphan",
        order_by="Declaration.position",
    )

    @property
    def languages(self) -> list[str]:
        return [t.lang for t in self.translations]


class CampaignTranslation(Base):
    __tablename__ = "ua_campaign_translations"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("ua_campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    lang: Mapped[str] = mapped_column(String(35), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    message: Mapped[str] = mapped_column(Text, default="")
    # The campaign's picture described in this language (og:image:alt).
    image_alt: Mapped[str] = mapped_column(Text, default="", server_default="")

    campaign: Mapped[Campaign] = relationship(back_populates="translations")


class Target(Base):
    __tablename__ = "ua_targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("ua_campaigns.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    # The target's own zone for the campaign's sending hours (None: the campaign's).
    timezone: Mapped[str | None] = mapped_column(String(64))
    # Pacing state, written only by pacing.py with compare-and-set UPDATEs (never
    # through the ORM, so it does not count as a change to the campaign):
    # messages released for sending so far, and the earliest time of the next one.
    released: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    campaign: Mapped[Campaign] = relationship(back_populates="targets")


class Declaration(Base):
    """A declaration of solidarity by an organisation, published on a campaign
    (``[[declarations]]`` in its file; declarations.py)."""

    __tablename__ = "ua_declarations"
    __table_args__ = (UniqueConstraint("campaign_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("ua_campaigns.id", ondelete="CASCADE"), index=True
    )
    # The id the organiser gave it in the file: loading the file again updates
    # this row (and keeps its address) instead of adding another.
    key: Mapped[str] = mapped_column(String(100))
    # What its page's address carries.
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    position: Mapped[int] = mapped_column(Integer, default=0)
    organisation: Mapped[str] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))
    published: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # {lang: {"title", "teaser", "body"}} in the file's order; the first is the fallback.
    texts: Mapped[dict[str, dict[str, str]]] = mapped_column(JSON)

    campaign: Mapped[Campaign] = relationship(back_populates="declarations")


@event.listens_for(Campaign.status, "set", active_history=True)
def _stamp_closing(campaign: Campaign, value: str, old: Any, _initiator: Any) -> None:
    """Note when a campaign is closed, whoever closes it (a file, Python, the
    dashboard), and forget it when the campaign is opened again."""
    if value == "closed" and old != "closed":
        campaign.closed_at = clock.now()
    elif value != "closed":
        campaign.closed_at = None


def raise_versions(session: Session, _context: Any, _instances: Any) -> None:
    """Raise the ``version`` of every campaign this flush changes: its own columns,
    its list of texts or targets, or one of them (a ``before_flush`` hook)."""
    changed: dict[int, Campaign] = {}
    for row in (*session.dirty, *session.deleted, *session.new):
        campaign: Campaign | None = None
        if isinstance(row, Campaign):
            if row not in session.new and session.is_modified(row):
                campaign = row
        elif (
            isinstance(row, CampaignTranslation | Target | Declaration)
            and row.campaign_id is not None
        ):
            if row in session.dirty and not session.is_modified(row):
                continue
            campaign = session.get(Campaign, row.campaign_id)
        if campaign is not None and campaign not in session.new:
            changed[id(campaign)] = campaign
    for campaign in changed.values():
        # In SQL, so two saves at once each count.
        campaign.version = Campaign.version + 1


class MessageStatus(StrEnum):
    """Where a message a supporter asked to publish stands (solidarity.py)."""

    PENDING = "pending"  # waiting for an organiser
    APPROVED = "approved"  # shown on the campaign's message pages and feed
    REJECTED = "rejected"  # never shown


# Rows in ix_ua_actions_published: the message_status of every other action is NULL.
PUBLISH_ASKED = text("message_status IS NOT NULL")


class Action(Base):
    """One supporter's message to one campaign's targets."""

    __tablename__ = "ua_actions"
    __table_args__ = (
        UniqueConstraint("campaign_id", "email_key"),
        # The message pages and the moderation list: one campaign's messages in one
        # status, newest first.
        Index("ix_ua_actions_messages", "campaign_id", "message_status", "created_at"),
        # Their count and languages (and a page in one language) from this index
        # alone: it holds only the actions asked to be published, so a campaign's
        # other actions neither slow these pages nor cost their insert anything.
        Index(
            "ix_ua_actions_published",
            "campaign_id",
            "message_status",
            "erased_at",
            "lang",
            "created_at",
            sqlite_where=PUBLISH_ASKED,
            postgresql_where=PUBLISH_ASKED,
        ),
        # The dashboard's figures: actions per day, country, partner tag and origin,
        # each from an index alone.
        Index("ix_ua_actions_day", "campaign_id", "created_at"),
        Index("ix_ua_actions_country", "campaign_id", "country"),
        Index("ix_ua_actions_partner", "campaign_id", "partner_tag"),
        Index("ix_ua_actions_origin", "campaign_id", "source_origin"),
        # A campaign's actions by id: the latest ones, and those after its
        # tallied_through (PostgreSQL's index on campaign_id alone is not in id order).
        Index("ix_ua_actions_campaign", "campaign_id", "id"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("ua_campaigns.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    # Case-folded address: one email acts once per campaign. None once erased:
    # the row still counts, but no longer stands for anyone.
    email_key: Mapped[str | None] = mapped_column(String(254), index=True)
    union: Mapped[str] = mapped_column(String(200), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    subject: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(35))
    # A short line of the supporter's own, put above the message.
    personal: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Whether the supporter changed the campaign's message text.
    edited: Mapped[bool] = mapped_column(default=False, server_default="0")
    opt_in: Mapped[bool] = mapped_column(default=False)
    # Attribution: the page that embedded the form and the partner's own tag.
    source_origin: Mapped[str] = mapped_column(String(300), default="")
    partner_tag: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the supporter's personal data was erased (forget); see erasure.py.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Publication (solidarity.py): asked for on a campaign that allows it, then
    # pending until an organiser approves or rejects it (None: not asked for).
    publish_requested: Mapped[bool] = mapped_column(default=False, server_default="0")
    message_status: Mapped[MessageStatus | None] = mapped_column(EnumText(MessageStatus, 10))
    moderated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the published message's own page is named by, never the row's id.
    public_id: Mapped[str | None] = mapped_column(String(32), unique=True, index=True)
    # An organiser's correction of the published text (None: shown as sent); the
    # mail, exports and the access record keep what the supporter sent.
    published_personal: Mapped[str | None] = mapped_column(Text)
    published_message: Mapped[str | None] = mapped_column(Text)


class ActionTally(Base):
    """A campaign's actions counted by one figure of the dashboard (tallies.py): per
    ``day``, ``country``, ``partner`` and ``origin`` (``key`` the value), and
    ``share`` (``key`` personal, edited, either or kept), up to the campaign's
    ``tallied_through``."""

    __tablename__ = "ua_action_tallies"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("ua_campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    dimension: Mapped[str] = mapped_column(String(10), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class Cosignature(Base):
    """A supporter's co-signature of a declaration (cosigning.py): shown under it,
    by name, union and country, once an organiser approves it; the address is
    kept only to find the person again (forget, person), never shown."""

    __tablename__ = "ua_cosignatures"
    __table_args__ = (
        # One signature per address and declaration, however many arrive at once.
        UniqueConstraint("declaration_id", "email_key"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    declaration_id: Mapped[int] = mapped_column(
        ForeignKey("ua_declarations.id", ondelete="CASCADE"), index=True
    )
    # Its declaration's campaign, which moderation goes by.
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("ua_campaigns.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    # Case-folded address, as an action's.
    email_key: Mapped[str] = mapped_column(String(254), index=True)
    union: Mapped[str] = mapped_column(String(200), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    lang: Mapped[str] = mapped_column(String(35))
    status: Mapped[MessageStatus] = mapped_column(
        EnumText(MessageStatus, 10), default=MessageStatus.PENDING
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    moderated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UsedChallenge(Base):
    """Challenge tokens already spent; rows go once the token has expired anyway."""

    __tablename__ = "ua_used_challenges"

    jti: Mapped[str] = mapped_column(String(40), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class RateLimitWindow(Base):
    """Submissions counted for one client under one limit, until the window ends.

    ``key`` is a keyed hash of the client key (never the address itself) with
    the limit it counts for. Rows whose window has ended are deleted.
    """

    __tablename__ = "ua_rate_limits"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)
    # The window opens at the client's first counted submission and closes here.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Subscriber(Base):
    """A person who opted in to alerts; shared across campaigns."""

    __tablename__ = "ua_subscribers"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    # What confirm and unsubscribe links carry.
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    lang: Mapped[str] = mapped_column(String(35))
    # pending -> confirmed -> unsubscribed (and back to pending on a new opt-in)
    status: Mapped[str] = mapped_column(String(15), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    consents: Mapped[list[Consent]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan"
    )


class Consent(Base):
    """The record of one opt-in: what was shown, when, where, and its withdrawal."""

    __tablename__ = "ua_consents"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    # What a confirm link carries.
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("ua_subscribers.id", ondelete="CASCADE"), index=True
    )
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("ua_campaigns.id", ondelete="SET NULL")
    )
    text: Mapped[str] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(35))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    subscriber: Mapped[Subscriber] = relationship(back_populates="consents")


class OutboxStatus(StrEnum):
    """Where an outbox message stands; docs/operations.md says how to read each."""

    HELD = "held"  # waiting for its target's pace, hours or cap (pacing.py releases it)
    QUEUED = "queued"  # waiting for its next attempt, at next_attempt_at
    SENDING = "sending"  # claimed by a worker until claimed_until
    SENT = "sent"  # the SMTP server accepted it (last_reply says how)
    FAILED = "failed"  # refused for good, or out of attempts (last_error says why)
    BOUNCED = "bounced"  # accepted, then a delivery-status notification said it failed
    DIGESTED = "digested"  # listed in the digest message digest_id instead of being sent


class OutboxMessage(Base):
    """One mail to one recipient, stored before it is sent; the sender drains these rows.

    An action has one row per target, so each target has its own envelope, status,
    attempts, last SMTP reply and Message-ID.
    """

    __tablename__ = "ua_outbox"
    __table_args__ = (
        Index("ix_ua_outbox_due", "status", "next_attempt_at"),
        Index("ix_ua_outbox_target_status", "target_id", "status", "id"),
        Index("ix_ua_outbox_pace", "status", "pace_domain", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # target | digest | confirm | alert
    kind: Mapped[str] = mapped_column(String(10))
    # Guards against queuing the same mail twice ("target:12:3", "alert:3:17").
    dedupe_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    # Fixed at enqueue, so a retry is the same message to the receiver.
    message_id: Mapped[str] = mapped_column(String(250), unique=True)
    action_id: Mapped[int | None] = mapped_column(
        ForeignKey("ua_actions.id", ondelete="CASCADE"), index=True
    )
    # Kept when a target is removed from its campaign: the row is the record of what was sent.
    target_id: Mapped[int | None] = mapped_column(
        ForeignKey("ua_targets.id", ondelete="SET NULL"), index=True
    )
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("ua_subscribers.id", ondelete="CASCADE"), index=True
    )
    # Addresses as [display name, address] pairs; encoded only when sent.
    sender: Mapped[list[str]] = mapped_column(JSON)
    # The one recipient, in To: and in the envelope.
    recipient_name: Mapped[str] = mapped_column(String(200), default="")
    recipient: Mapped[str] = mapped_column(String(254))
    reply_to: Mapped[list[str] | None] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(Text)
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    status: Mapped[OutboxStatus] = mapped_column(
        EnumText(OutboxStatus, 10), default=OutboxStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(40))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The server's reply to the last attempt ("250 2.0.0 Ok: queued as ...",
    # "550 5.1.1 <x@example.org>: no such user"); empty when none was heard.
    last_reply: Mapped[str] = mapped_column(Text, default="")
    # Why the last attempt did not end in "sent"; empty once sent.
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set on the rows a digest lists (status "digested"): the digest that carries them.
    # No foreign key: SQLite adds one to an existing table only by rebuilding it.
    digest_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # A held alert's recipient domain, whose pace lets it out (domain_pace.py).
    pace_domain: Mapped[str | None] = mapped_column(String(254))


class DomainPace(Base):
    """The pace of alerts to one recipient domain, shared by every worker.

    Written only by domain_pace.py, with compare-and-set UPDATEs: alerts released
    to the domain so far, and the earliest time of the next one.
    """

    __tablename__ = "ua_domain_pace"

    domain: Mapped[str] = mapped_column(String(254), primary_key=True)
    released: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Bounce(Base):
    """An address that bounced for good: nothing more is sent to it until cleared."""

    __tablename__ = "ua_bounces"

    # Case-folded, as mail is addressed.
    address: Mapped[str] = mapped_column(String(254), primary_key=True)
    # The RFC 3463 status ("5.1.1") and the receiving server's words.
    status: Mapped[str] = mapped_column(String(20), default="")
    diagnostic: Mapped[str] = mapped_column(Text, default="")
    # "dsn" (a delivery-status notification read from a mailbox) or "webhook".
    source: Mapped[str] = mapped_column(String(10), default="")
    # The message whose bounce reported it, when known.
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("ua_outbox.id", ondelete="SET NULL"))
    first_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    count: Mapped[int] = mapped_column(Integer, default=1)


class AuditEntry(Base):
    """One change an organiser made in the dashboard: who, when, what (manage/audit.py)."""

    __tablename__ = "ua_audit_log"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # What the host's organiser check named (its return value, or the login's name).
    who: Mapped[str] = mapped_column(String(254), default="")
    # A dotted verb ("campaign.create", "outbox.retry"); shown translated.
    action: Mapped[str] = mapped_column(String(50))
    # By slug, not a key: the record outlives the campaign it was about.
    campaign_slug: Mapped[str] = mapped_column(String(100), default="", server_default="")
    # What changed, in plain words or field names (never a supporter's personal data).
    detail: Mapped[str] = mapped_column(Text, default="", server_default="")
