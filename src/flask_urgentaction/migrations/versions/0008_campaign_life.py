"""campaign life: opening and closing times, countries, a picture for link previews

Revision ID: 0008
Revises: 0007

A campaign may open and close at set times (`opens_at`, `closes_at`), and
`closed_at` records when its status was set to closed, for the archive. Its
`countries` filter the list and the feed; `image` is the picture a shared link
shows, and each translation has the picture's text alternative (`image_alt`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flask_urgentaction.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE only: a batch rebuild on SQLite would delete rows by cascade.
    op.add_column("ua_campaigns", sa.Column("opens_at", UTCDateTime()))
    op.add_column("ua_campaigns", sa.Column("closes_at", UTCDateTime()))
    op.add_column("ua_campaigns", sa.Column("closed_at", UTCDateTime()))
    op.add_column("ua_campaigns", sa.Column("countries", sa.JSON()))
    op.add_column(
        "ua_campaigns", sa.Column("image", sa.String(500), server_default="", nullable=False)
    )
    op.add_column(
        "ua_campaign_translations",
        sa.Column("image_alt", sa.Text(), server_default="", nullable=False),
    )


def downgrade() -> None:
    op.execute("ALTER TABLE ua_campaign_translations DROP COLUMN image_alt")
    for column in ("image", "countries", "closed_at", "closes_at", "opens_at"):
        op.execute(f"ALTER TABLE ua_campaigns DROP COLUMN {column}")
