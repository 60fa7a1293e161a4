"""indexes for the dashboard's figures

Revision ID: 0013
Revises: 0012

A campaign's actions per day (a range of ``created_at``), per country, per
partner tag and per origin, read from an index alone rather than from every row
of a large campaign.
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ua_actions_day", "ua_actions", ["campaign_id", "created_at"])
    op.create_index("ix_ua_actions_country", "ua_actions", ["campaign_id", "country"])
    op.create_index("ix_ua_actions_partner", "ua_actions", ["campaign_id", "partner_tag"])
    op.create_index("ix_ua_actions_origin", "ua_actions", ["campaign_id", "source_origin"])


def downgrade() -> None:
    op.drop_index("ix_ua_actions_origin", "ua_actions")
    op.drop_index("ix_ua_actions_partner", "ua_actions")
    op.drop_index("ix_ua_actions_country", "ua_actions")
    op.drop_index("ix_ua_actions_day", "ua_actions")
