"""alerts paced per recipient domain

Revision ID: 0007
Revises: 0006

Alerts wait as held outbox rows with their recipient's domain (`pace_domain`)
and are let out at a pace per domain, shared by every worker through one row
per domain (`ua_domain_pace`: alerts released so far, the earliest next one).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flask_urgentaction.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE only: a batch rebuild on SQLite would delete rows by cascade.
    op.add_column("ua_outbox", sa.Column("pace_domain", sa.String(254)))
    op.create_index("ix_ua_outbox_pace", "ua_outbox", ["status", "pace_domain", "id"])
    op.create_table(
        "ua_domain_pace",
        sa.Column("domain", sa.String(254), primary_key=True),
        sa.Column("released", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_send_at", UTCDateTime()),
    )


def downgrade() -> None:
    op.drop_table("ua_domain_pace")
    op.drop_index("ix_ua_outbox_pace", "ua_outbox")
    op.execute("ALTER TABLE ua_outbox DROP COLUMN pace_domain")
