"""initial schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import flask_urgentaction.models

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ua_campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("partner", sa.String(length=200), nullable=False),
        sa.Column("goal", sa.Integer(), nullable=True),
        sa.Column("privacy_url", sa.String(length=500), nullable=False),
        sa.Column("allowed_origins", sa.JSON(), nullable=True),
        sa.Column("fallback_lang", sa.String(length=35), nullable=False),
        sa.Column("message_lang", sa.String(length=35), nullable=True),
        sa.Column(
            "created_at", flask_urgentaction.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", flask_urgentaction.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )
    op.create_table(
        "ua_subscribers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("email_key", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("lang", sa.String(length=35), nullable=False),
        sa.Column("status", sa.String(length=15), nullable=False),
        sa.Column(
            "created_at", flask_urgentaction.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "confirmed_at", flask_urgentaction.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "unsubscribed_at", flask_urgentaction.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email_key"),
    )
    op.create_table(
        "ua_used_challenges",
        sa.Column("jti", sa.String(length=40), nullable=False),
        sa.Column(
            "expires_at", flask_urgentaction.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("jti"),
    )
    with op.batch_alter_table("ua_used_challenges", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ua_used_challenges_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "ua_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("email_key", sa.String(length=254), nullable=False),
        sa.Column("union", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("lang", sa.String(length=35), nullable=False),
        sa.Column("opt_in", sa.Boolean(), nullable=False),
        sa.Column("source_origin", sa.String(length=300), nullable=False),
        sa.Column("partner_tag", sa.String(length=100), nullable=False),
        sa.Column(
            "created_at", flask_urgentaction.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(["campaign_id"], ["ua_campaigns.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "email_key"),
    )
    with op.batch_alter_table("ua_actions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ua_actions_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ua_actions_email_key"), ["email_key"], unique=False)

    op.create_table(
        "ua_campaign_translations",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("lang", sa.String(length=35), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["ua_campaigns.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("campaign_id", "lang"),
    )
    op.create_table(
        "ua_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("lang", sa.String(length=35), nullable=False),
        sa.Column("given_at", flask_urgentaction.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "confirmed_at", flask_urgentaction.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "withdrawn_at", flask_urgentaction.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(["campaign_id"], ["ua_campaigns.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["subscriber_id"], ["ua_subscribers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ua_consents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ua_consents_subscriber_id"), ["subscriber_id"], unique=False
        )

    op.create_table(
        "ua_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["ua_campaigns.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ua_targets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ua_targets_campaign_id"), ["campaign_id"], unique=False
        )

    op.create_table(
        "ua_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("dedupe_key", sa.String(length=100), nullable=True),
        sa.Column("message_id", sa.String(length=250), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=True),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("sender", sa.JSON(), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("reply_to", sa.JSON(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", flask_urgentaction.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("claimed_by", sa.String(length=40), nullable=True),
        sa.Column(
            "claimed_until", flask_urgentaction.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column(
            "created_at", flask_urgentaction.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("sent_at", flask_urgentaction.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["action_id"], ["ua_actions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subscriber_id"], ["ua_subscribers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
        sa.UniqueConstraint("message_id"),
    )
    with op.batch_alter_table("ua_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ua_outbox_action_id"), ["action_id"], unique=False)
        batch_op.create_index("ix_ua_outbox_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ua_outbox_subscriber_id"), ["subscriber_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ua_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ua_outbox_subscriber_id"))
        batch_op.drop_index("ix_ua_outbox_due")
        batch_op.drop_index(batch_op.f("ix_ua_outbox_action_id"))

    op.drop_table("ua_outbox")
    with op.batch_alter_table("ua_targets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ua_targets_campaign_id"))

    op.drop_table("ua_targets")
    with op.batch_alter_table("ua_consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ua_consents_subscriber_id"))

    op.drop_table("ua_consents")
    op.drop_table("ua_campaign_translations")
    with op.batch_alter_table("ua_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ua_actions_email_key"))
        batch_op.drop_index(batch_op.f("ix_ua_actions_campaign_id"))

    op.drop_table("ua_actions")
    with op.batch_alter_table("ua_used_challenges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ua_used_challenges_expires_at"))

    op.drop_table("ua_used_challenges")
    op.drop_table("ua_subscribers")
    op.drop_table("ua_campaigns")
