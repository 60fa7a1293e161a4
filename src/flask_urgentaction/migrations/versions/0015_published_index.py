"""an index of the messages asked to be published

Revision ID: 0015
Revises: 0014

The message pages count a campaign's approved messages and list their
languages; through ``ix_ua_actions_messages`` each of them was read from its
row. This index holds campaign, status, erasure, language and time of the
actions asked to be published only (a partial index), so those counts read
nothing else, and a page in one language is read in order from it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

ASKED = sa.text("message_status IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_ua_actions_published",
        "ua_actions",
        ["campaign_id", "message_status", "erased_at", "lang", "created_at"],
        sqlite_where=ASKED,
        postgresql_where=ASKED,
    )


def downgrade() -> None:
    op.drop_index("ix_ua_actions_published", "ua_actions")
