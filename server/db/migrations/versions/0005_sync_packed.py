"""sync index: each record's pull item, encoded once as MessagePack when it is written

Revision ID: 0005_sync_packed
Revises: 0001_initial
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_sync_packed"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows indexed before this column existed keep NULL: bootstrap encodes those from ``data``
    # as it always did, and each is packed the next time it is written (or by a reindex).
    with op.batch_alter_table("sync_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("packed", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_records", schema=None) as batch_op:
        batch_op.drop_column("packed")
