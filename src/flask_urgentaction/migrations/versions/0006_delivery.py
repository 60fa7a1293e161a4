"""pacing, digests, bounces and personal lines

Revision ID: 0006
Revises: 0005

A campaign's [delivery] rules, a target's own time zone and its pacing state
(messages released so far, the earliest time of the next), digests that carry
held rows, addresses that bounced for good, and the supporter's own line with
whether they changed the campaign's message.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flask_urgentaction.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE only: a batch rebuild on SQLite would delete rows by cascade.
    op.add_column("ua_campaigns", sa.Column("delivery", sa.JSON()))
    op.add_column("ua_targets", sa.Column("timezone", sa.String(64)))
    op.add_column(
        "ua_targets", sa.Column("released", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("ua_targets", sa.Column("next_send_at", UTCDateTime()))
    op.add_column("ua_actions", sa.Column("personal", sa.Text(), server_default="", nullable=False))
    op.add_column(
        "ua_actions",
        sa.Column("edited", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    # No foreign key: SQLite adds one to an existing table only by rebuilding it.
    op.add_column("ua_outbox", sa.Column("digest_id", sa.Integer()))
    op.create_index("ix_ua_outbox_digest_id", "ua_outbox", ["digest_id"])
    op.create_index("ix_ua_outbox_target_status", "ua_outbox", ["target_id", "status", "id"])
    op.create_table(
        "ua_bounces",
        sa.Column("address", sa.String(254), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("diagnostic", sa.Text(), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("outbox_id", sa.Integer(), sa.ForeignKey("ua_outbox.id", ondelete="SET NULL")),
        sa.Column("first_at", UTCDateTime(), nullable=False),
        sa.Column("last_at", UTCDateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ua_bounces")
    op.drop_index("ix_ua_outbox_target_status", "ua_outbox")
    op.drop_index("ix_ua_outbox_digest_id", "ua_outbox")
    drops = {
        "ua_outbox": ("digest_id",),
        "ua_actions": ("edited", "personal"),
        "ua_targets": ("next_send_at", "released", "timezone"),
        "ua_campaigns": ("delivery",),
    }
    for table, columns in drops.items():
        for column in columns:
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
