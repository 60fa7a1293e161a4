"""the organisers' audit log

Revision ID: 0011
Revises: 0010

Every change made in the dashboard: when, who (as the host's organiser check
named them), what, and on which campaign (by slug, so the entry outlives it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flask_urgentaction.models import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ua_audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("who", sa.String(254), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("campaign_slug", sa.String(100), server_default="", nullable=False),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_ua_audit_log_at", "ua_audit_log", ["at"])


def downgrade() -> None:
    op.drop_index("ix_ua_audit_log_at", "ua_audit_log")
    op.drop_table("ua_audit_log")
