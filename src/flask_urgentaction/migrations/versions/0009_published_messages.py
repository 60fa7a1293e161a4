"""published solidarity messages

Revision ID: 0009
Revises: 0008

A campaign may let supporters ask for their message to be shown in public
(`publish_messages`); an action records that it asked (`publish_requested`),
where its moderation stands (`message_status`: pending, approved, rejected)
and since when (`moderated_at`), and the random id its public page carries
(`public_id`). One index serves the message pages and the moderation list.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flask_urgentaction.models import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE only: a batch rebuild on SQLite would delete rows by cascade.
    op.add_column(
        "ua_campaigns",
        sa.Column("publish_messages", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        "ua_actions",
        sa.Column("publish_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("ua_actions", sa.Column("message_status", sa.String(10)))
    op.add_column("ua_actions", sa.Column("moderated_at", UTCDateTime()))
    # A unique index, not a constraint: SQLite adds no UNIQUE column to a table.
    op.add_column("ua_actions", sa.Column("public_id", sa.String(32)))
    op.create_index("ix_ua_actions_public_id", "ua_actions", ["public_id"], unique=True)
    op.create_index(
        "ix_ua_actions_messages", "ua_actions", ["campaign_id", "message_status", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_ua_actions_messages", "ua_actions")
    op.drop_index("ix_ua_actions_public_id", "ua_actions")
    for column in ("public_id", "moderated_at", "message_status", "publish_requested"):
        op.execute(f"ALTER TABLE ua_actions DROP COLUMN {column}")
    op.execute("ALTER TABLE ua_campaigns DROP COLUMN publish_messages")
