"""rate limit counts in the database

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import flask_urgentaction.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ua_rate_limits",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column(
            "expires_at", flask_urgentaction.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index(
        op.f("ix_ua_rate_limits_expires_at"), "ua_rate_limits", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_ua_rate_limits_expires_at"), table_name="ua_rate_limits")
    op.drop_table("ua_rate_limits")
