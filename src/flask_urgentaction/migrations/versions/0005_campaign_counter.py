"""a stored action count and a version per campaign

Revision ID: 0005
Revises: 0004

Every campaign JSON and every action counted the campaign's actions with
COUNT(*), which grows with the campaign. `action_count` is kept instead, raised
in each action's own transaction; it starts from the actions already stored
(erased ones included: they still count). `version` is raised by every change
to a campaign, so a process may keep what it built from one until it changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, never a batch rebuild: on SQLite, dropping the table to
    # rebuild it would delete every action by cascade.
    op.add_column(
        "ua_campaigns", sa.Column("action_count", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "ua_campaigns", sa.Column("version", sa.Integer(), server_default="1", nullable=False)
    )
    campaigns = sa.table(
        "ua_campaigns", sa.column("id", sa.Integer()), sa.column("action_count", sa.Integer())
    )
    actions = sa.table("ua_actions", sa.column("campaign_id", sa.Integer()))
    counted = (
        sa.select(sa.func.count()).where(actions.c.campaign_id == campaigns.c.id).scalar_subquery()
    )
    op.get_bind().execute(campaigns.update().values(action_count=counted))


def downgrade() -> None:
    # SQLite >= 3.35 and PostgreSQL both drop a column in place.
    for column in ("version", "action_count"):
        op.execute(f"ALTER TABLE ua_campaigns DROP COLUMN {column}")
