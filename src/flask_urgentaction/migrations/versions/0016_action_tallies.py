"""a campaign's actions counted once for the dashboard

Revision ID: 0016
Revises: 0015

The dashboard's overview counted every action of a campaign on every view (per
day, country, partner tag and origin, and the share in the supporters' own
words), which grows with the campaign. ``ua_action_tallies`` keeps these counts
up to ``ua_campaigns.tallied_through``, an action id; the actions after it are
counted as they are read and folded in now and then (tallies.py). The actions
stored before this migration are counted here, once.

A campaign's actions after an id are found through a new index on campaign and
id, which replaces the one on campaign alone (on PostgreSQL that one is not in
id order; on SQLite it was the same).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

KEPT = "email_key IS NOT NULL AND erased_at IS NULL"
SHARES = {"personal": "personal <> ''", "edited": "edited", "either": "personal <> '' OR edited"}


def upgrade() -> None:
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    if postgresql:
        # Actions being written by other nodes commit before the counting, none after.
        op.execute("LOCK TABLE ua_actions IN SHARE ROW EXCLUSIVE MODE")
    # Plain ALTER TABLE, never a batch rebuild (it would delete every action by cascade).
    op.add_column(
        "ua_campaigns",
        sa.Column("tallied_through", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_table(
        "ua_action_tallies",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("dimension", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["ua_campaigns.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("campaign_id", "dimension", "key"),
    )
    op.drop_index("ix_ua_actions_campaign_id", "ua_actions")
    op.create_index("ix_ua_actions_campaign", "ua_actions", ["campaign_id", "id"])

    day = (
        "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        if postgresql
        else "substr(created_at, 1, 10)"
    )
    columns = {"day": day, "country": "country", "partner": "partner_tag",
               "origin": "source_origin"}  # fmt: skip
    for dimension, column in columns.items():
        op.execute(
            "INSERT INTO ua_action_tallies (campaign_id, dimension, key, n) "
            f"SELECT campaign_id, '{dimension}', {column}, count(*) FROM ua_actions "
            f"GROUP BY campaign_id, {column}"
        )
    counted = ", ".join(f"sum(CASE WHEN {condition} THEN 1 ELSE 0 END)"
                        for condition in SHARES.values())  # fmt: skip
    shares = bind.execute(
        sa.text(f"SELECT campaign_id, {counted}, count(*) FROM ua_actions WHERE {KEPT} GROUP BY 1")
    ).all()
    rows = [
        {"campaign_id": campaign_id, "dimension": "share", "key": key, "n": int(n)}
        for campaign_id, *numbers in shares
        for key, n in zip((*SHARES, "kept"), numbers, strict=True)
        if n
    ]
    if rows:
        bind.execute(
            sa.text(
                "INSERT INTO ua_action_tallies (campaign_id, dimension, key, n) "
                "VALUES (:campaign_id, :dimension, :key, :n)"
            ),
            rows,
        )
    op.execute(
        "UPDATE ua_campaigns SET tallied_through = COALESCE("
        "(SELECT max(id) FROM ua_actions WHERE campaign_id = ua_campaigns.id), 0)"
    )


def downgrade() -> None:
    op.drop_index("ix_ua_actions_campaign", "ua_actions")
    op.create_index("ix_ua_actions_campaign_id", "ua_actions", ["campaign_id"])
    op.drop_table("ua_action_tallies")
    # SQLite >= 3.35 and PostgreSQL both drop a column in place.
    op.execute("ALTER TABLE ua_campaigns DROP COLUMN tallied_through")
