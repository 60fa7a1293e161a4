"""declarations of solidarity

Revision ID: 0010
Revises: 0009

An organisation's declaration of solidarity on a campaign: the key the
campaign's file names it by, a random id for its page's address, who made it,
when, and its texts by language (JSON).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flask_urgentaction.models import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ua_declarations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "campaign_id",
            sa.Integer(),
            sa.ForeignKey("ua_campaigns.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("public_id", sa.String(32), nullable=False, unique=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("organisation", sa.String(200), nullable=False),
        sa.Column("country", sa.String(2)),
        sa.Column("published", UTCDateTime()),
        sa.Column("texts", sa.JSON(), nullable=False),
        sa.UniqueConstraint("campaign_id", "key"),
    )
    op.create_index("ix_ua_declarations_campaign_id", "ua_declarations", ["campaign_id"])


def downgrade() -> None:
    op.drop_index("ix_ua_declarations_campaign_id", "ua_declarations")
    op.drop_table("ua_declarations")
