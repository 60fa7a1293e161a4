"""The tables: campaigns, actions, subscribers and their consents, the outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


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

    campaign: Mapped[Campaign] = relationship(back_populates="targets")


class Action(Base):
    """One supporter's message to one campaign's targets."""

    __tablename__ = "ua_actions"
    __table_args__ = (UniqueConstraint("campaign_id", "email_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("ua_campaigns.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    # Case-folded address: one email acts once per campaign.
    email_key: Mapped[str] = mapped_column(String(254), index=True)
    union: Mapped[str] = mapped_column(String(200), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    subject: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(35))
    opt_in: Mapped[bool] = mapped_column(default=False)
    # Attribution: the page that embedded the form and the partner's own tag.
    source_origin: Mapped[str] = mapped_column(String(300), default="")
    partner_tag: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UsedChallenge(Base):
    """Challenge tokens already spent; rows go once the token has expired anyway."""

    __tablename__ = "ua_used_challenges"

    jti: Mapped[str] = mapped_column(String(40), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Subscriber(Base):
    """A person who opted in to alerts; shared across campaigns."""

    __tablename__ = "ua_subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
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

    id: Mapped[int] = mapped_column(primary_key=True)
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


class OutboxMessage(Base):
    """A mail stored before it is sent; the sender drains these rows."""

    __tablename__ = "ua_outbox"
    __table_args__ = (Index("ix_ua_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # target | confirm | alert
    kind: Mapped[str] = mapped_column(String(10))
    # Guards against queuing the same mail twice ("alert:3:17").
    dedupe_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    # Fixed at enqueue, so a retry is the same message to the receiver.
    message_id: Mapped[str] = mapped_column(String(250), unique=True)
    action_id: Mapped[int | None] = mapped_column(
        ForeignKey("ua_actions.id", ondelete="CASCADE"), index=True
    )
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("ua_subscribers.id", ondelete="CASCADE"), index=True
    )
    # Addresses as [display name, address] pairs; encoded only when sent.
    sender: Mapped[list[str]] = mapped_column(JSON)
    recipients: Mapped[list[list[str]]] = mapped_column(JSON)
    reply_to: Mapped[list[str] | None] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(Text)
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # queued | sending | sent | failed
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(40))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
