"""public ids for subscribers and consents; ids never reused; erasable actions

Revision ID: 0004
Revises: 0003

Confirm and unsubscribe links named a subscriber and a consent by row id, and
SQLite hands the highest id out again once its row is deleted: after `forget`,
the next person to opt in could get the forgotten person's ids, and with them
the forgotten person's old links. Subscribers and consents get a random public
id for links to carry, and on SQLite the tables whose rows stand for a person
(actions, subscribers, consents) are rebuilt with AUTOINCREMENT, so no id is
handed out twice.

An erased action keeps its row, so the count stays: `email_key` becomes
nullable (the one-action-per-address key must allow any number of erased rows)
and `erased_at` records when it was erased.

SQLite rebuilds a table by dropping it; with foreign keys on (they are, and a
migration runs inside a transaction, where they cannot be turned off) that
drop deletes the rows of other tables that cascade from it, the outbox and the
consents. Those tables are copied aside before the rebuild and put back after.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

import flask_urgentaction.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UTC_DATETIME = flask_urgentaction.models.UTCDateTime(timezone=True)
# Tables rebuilt on SQLite whose rows other tables' rows cascade from.
PARENTS = ("ua_actions", "ua_subscribers")


def upgrade() -> None:
    bind = op.get_bind()
    for table in ("ua_subscribers", "ua_consents"):
        op.add_column(table, sa.Column("public_id", sa.String(length=32), nullable=True))
        _fill_public_ids(bind, table)
    autoincrement = {"sqlite_autoincrement": True}
    with _children_kept(bind):
        for table in ("ua_subscribers", "ua_consents"):
            with op.batch_alter_table(table, table_kwargs=autoincrement) as batch_op:
                batch_op.alter_column(
                    "public_id", existing_type=sa.String(length=32), nullable=False
                )
                # Named as PostgreSQL names it; SQLite's batch mode needs a name.
                batch_op.create_unique_constraint(f"{table}_public_id_key", ["public_id"])
        with op.batch_alter_table("ua_actions", table_kwargs=autoincrement) as batch_op:
            batch_op.add_column(sa.Column("erased_at", UTC_DATETIME, nullable=True))
            batch_op.alter_column("email_key", existing_type=sa.String(length=254), nullable=True)


def _fill_public_ids(bind: sa.Connection, name: str) -> None:
    table = sa.table(name, sa.column("id", sa.Integer()), sa.column("public_id", sa.String()))
    ids = list(bind.scalars(sa.select(table.c.id).where(table.c.public_id.is_(None))))
    if ids:
        bind.execute(
            table.update().where(table.c.id == sa.bindparam("row_id")),
            [{"row_id": row_id, "public_id": secrets.token_urlsafe(16)} for row_id in ids],
        )


@contextmanager
def _children_kept(bind: sa.Connection) -> Iterator[None]:
    """On SQLite, put back the rows that rebuilding PARENTS deletes by cascade."""
    if bind.dialect.name != "sqlite":
        yield
        return
    children = [
        name
        for name in sa.inspect(bind).get_table_names()
        if any(fk["referred_table"] in PARENTS for fk in sa.inspect(bind).get_foreign_keys(name))
    ]
    orphans_before = _orphans(bind)
    for name in children:
        bind.exec_driver_sql(f'CREATE TEMP TABLE "_ua_keep_{name}" AS SELECT * FROM "{name}"')
    yield
    for name in children:
        columns = ", ".join(f'"{c["name"]}"' for c in sa.inspect(bind).get_columns(name))
        bind.exec_driver_sql(f'DELETE FROM "{name}"')
        bind.exec_driver_sql(
            f'INSERT INTO "{name}" ({columns}) SELECT {columns} FROM "_ua_keep_{name}"'
        )
        bind.exec_driver_sql(f'DROP TABLE "_ua_keep_{name}"')
    broken = _orphans(bind) - orphans_before
    if broken:
        raise RuntimeError(f"rows left without their parent after the rebuild: {sorted(broken)}")


def _orphans(bind: sa.Connection) -> set[tuple[object, ...]]:
    return {tuple(row) for row in bind.exec_driver_sql("PRAGMA foreign_key_check")}


def downgrade() -> None:
    bind = op.get_bind()
    actions = sa.table(
        "ua_actions", sa.column("id", sa.Integer()), sa.column("email_key", sa.String())
    )
    # The old schema needs a key on every row; an erased row gets one no address has.
    bind.execute(
        actions.update()
        .where(actions.c.email_key.is_(None))
        .values(email_key=sa.literal("erased:", sa.String()) + sa.cast(actions.c.id, sa.String()))
    )
    plain = {"sqlite_autoincrement": False}
    with _children_kept(bind):
        with op.batch_alter_table("ua_actions", table_kwargs=plain) as batch_op:
            batch_op.alter_column("email_key", existing_type=sa.String(length=254), nullable=False)
            batch_op.drop_column("erased_at")
        for table in ("ua_consents", "ua_subscribers"):
            with op.batch_alter_table(table, table_kwargs=plain) as batch_op:
                batch_op.drop_constraint(f"{table}_public_id_key", type_="unique")
                batch_op.drop_column("public_id")
