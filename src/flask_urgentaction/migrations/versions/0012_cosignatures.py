"""co-signatures of declarations

Revision ID: 0012
Revises: 0011

A supporter's co-signature of a declaration: who (name, union, country), the
address to find them by (never shown), and where its moderation stands. One
per address and declaration.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flask_urgentaction.models import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ua_cosignatures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "declaration_id",
            sa.Integer(),
            sa.ForeignKey("ua_declarations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "campaign_id",
            sa.Integer(),
            sa.ForeignKey("ua_campaigns.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("email_key", sa.String(254), nullable=False),
        sa.Column("union", sa.String(200), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("lang", sa.String(35), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("moderated_at", UTCDateTime()),
        sa.UniqueConstraint("declaration_id", "email_key"),
        sqlite_autoincrement=True,
    )
    for column in ("declaration_id", "campaign_id", "email_key", "created_at"):
        op.create_index(f"ix_ua_cosignatures_{column}", "ua_cosignatures", [column])


def downgrade() -> None:
    for column in ("declaration_id", "campaign_id", "email_key", "created_at"):
        op.drop_index(f"ix_ua_cosignatures_{column}", "ua_cosignatures")
    op.drop_table("ua_cosignatures")
