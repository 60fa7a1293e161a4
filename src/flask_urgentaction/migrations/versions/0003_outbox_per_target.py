"""outbox: one row per recipient, with its target and the server's last reply

Revision ID: 0003
Revises: 0002

An action used to be one outbox row with every target in ``recipients``. Each
such row is split into one row per recipient: the first recipient keeps the
row (and its Message-ID), every other one gets a copy with a Message-ID of its
own, in the same status. Target rows are linked to their target by address.
"""

from __future__ import annotations

from email.utils import make_msgid
from typing import Any

import sqlalchemy as sa
from alembic import op

import flask_urgentaction.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC_DATETIME = flask_urgentaction.models.UTCDateTime(timezone=True)

# The outbox as it is between the two schemas: both `recipients` and the new columns.
outbox = sa.table(
    "ua_outbox",
    sa.column("id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("dedupe_key", sa.String()),
    sa.column("message_id", sa.String()),
    sa.column("action_id", sa.Integer()),
    sa.column("subscriber_id", sa.Integer()),
    sa.column("sender", sa.JSON()),
    sa.column("recipients", sa.JSON()),
    sa.column("reply_to", sa.JSON()),
    sa.column("subject", sa.Text()),
    sa.column("text_body", sa.Text()),
    sa.column("html_body", sa.Text()),
    sa.column("headers", sa.JSON()),
    sa.column("status", sa.String()),
    sa.column("attempts", sa.Integer()),
    sa.column("next_attempt_at", UTC_DATETIME),
    sa.column("claimed_by", sa.String()),
    sa.column("claimed_until", UTC_DATETIME),
    sa.column("last_error", sa.Text()),
    sa.column("created_at", UTC_DATETIME),
    sa.column("sent_at", UTC_DATETIME),
    sa.column("target_id", sa.Integer()),
    sa.column("recipient_name", sa.String()),
    sa.column("recipient", sa.String()),
    sa.column("last_reply", sa.Text()),
)
targets = sa.table(
    "ua_targets",
    sa.column("id", sa.Integer()),
    sa.column("campaign_id", sa.Integer()),
    sa.column("email", sa.String()),
)
actions = sa.table(
    "ua_actions", sa.column("id", sa.Integer()), sa.column("campaign_id", sa.Integer())
)


def upgrade() -> None:
    with op.batch_alter_table("ua_outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "target_id",
                sa.Integer(),
                # Named as PostgreSQL names it; SQLite's batch mode needs a name.
                sa.ForeignKey(
                    "ua_targets.id", name="ua_outbox_target_id_fkey", ondelete="SET NULL"
                ),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("recipient_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("recipient", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("last_reply", sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f("ix_ua_outbox_target_id"), ["target_id"], unique=False)

    _split_rows(op.get_bind())

    with op.batch_alter_table("ua_outbox", schema=None) as batch_op:
        batch_op.alter_column("recipient_name", existing_type=sa.String(200), nullable=False)
        batch_op.alter_column("recipient", existing_type=sa.String(254), nullable=False)
        batch_op.alter_column("last_reply", existing_type=sa.Text(), nullable=False)
        batch_op.drop_column("recipients")


def _split_rows(bind: sa.Connection) -> None:
    for row in bind.execute(sa.select(outbox)).mappings().all():
        pairs = [(str(name), str(address)) for name, address in (row["recipients"] or [])]
        first, *others = pairs or [("", "")]
        linked: set[int] = set()
        bind.execute(
            outbox.update()
            .where(outbox.c.id == row["id"])
            .values(**_recipient(bind, row, first, linked, keep_key=True), last_reply="")
        )
        domain = str(row["message_id"]).rstrip(">").rpartition("@")[2] or None
        for pair in others:
            copy = {k: v for k, v in row.items() if k != "id"}
            copy |= _recipient(bind, row, pair, linked, keep_key=False)
            # `recipients` is dropped below; until then it must not be empty.
            copy |= {"recipients": [list(pair)], "message_id": make_msgid(domain=domain)}
            copy["last_reply"] = ""
            bind.execute(outbox.insert().values(**copy))


def _recipient(
    bind: sa.Connection, row: Any, pair: tuple[str, str], linked: set[int], keep_key: bool
) -> dict[str, Any]:
    name, address = pair
    target_id = None
    if row["kind"] == "target" and row["action_id"] is not None:
        # `linked`: two targets with one address each keep a row (and dedupe key) of their own.
        target_id = bind.scalar(
            sa.select(targets.c.id)
            .join(actions, actions.c.campaign_id == targets.c.campaign_id)
            .where(actions.c.id == row["action_id"])
            .where(sa.func.lower(targets.c.email) == address.lower())
            .where(targets.c.id.not_in(linked))
            .order_by(targets.c.id)
            .limit(1)
        )
    key = row["dedupe_key"] if keep_key else None
    if target_id is not None:
        linked.add(target_id)
        key = f"target:{row['action_id']}:{target_id}"
    return {"recipient_name": name, "recipient": address, "target_id": target_id, "dedupe_key": key}


def downgrade() -> None:
    # Every row keeps its one recipient; rows are not merged back.
    with op.batch_alter_table("ua_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipients", sa.JSON(), nullable=True))
    bind = op.get_bind()
    for row in bind.execute(sa.select(outbox.c.id, outbox.c.recipient_name, outbox.c.recipient)):
        bind.execute(
            outbox.update()
            .where(outbox.c.id == row.id)
            .values(recipients=[[row.recipient_name, row.recipient]])
        )
    with op.batch_alter_table("ua_outbox", schema=None) as batch_op:
        batch_op.alter_column("recipients", existing_type=sa.JSON(), nullable=False)
        batch_op.drop_index(batch_op.f("ix_ua_outbox_target_id"))
        batch_op.drop_column("last_reply")
        batch_op.drop_column("recipient")
        batch_op.drop_column("recipient_name")
        batch_op.drop_column("target_id")
