"""organisers' corrections of published messages

Revision ID: 0014
Revises: 0013

An organiser may correct a published message before it is shown (take a phone
number out, say): the corrected personal line and message are kept beside the
text as the supporter sent it, which the mail, exports and the access record
still show. NULL: shown as sent.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE only: a batch rebuild on SQLite would delete rows by cascade.
    op.add_column("ua_actions", sa.Column("published_personal", sa.Text()))
    op.add_column("ua_actions", sa.Column("published_message", sa.Text()))


def downgrade() -> None:
    for column in ("published_message", "published_personal"):
        op.execute(f"ALTER TABLE ua_actions DROP COLUMN {column}")
