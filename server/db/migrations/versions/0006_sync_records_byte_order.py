"""sync index: record keys in byte order on PostgreSQL

Bootstrap pages are ordered by (entity, record_id) and, on PostgreSQL, merged across the scope's
branches in Python, which compares text by code point: the columns take the "C" collation so the
database orders them the same way whatever the database's default collation. SQLite compares
text bytewise already.

Revision ID: 0006_sync_records_byte_order
Revises: 0005_sync_packed
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_sync_records_byte_order"
down_revision: str | Sequence[str] | None = "0005_sync_packed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (("entity", 40), ("record_id", 64))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, length in _COLUMNS:
        op.alter_column(
            "sync_records",
            name,
            type_=sa.String(length, collation="C"),
            existing_type=sa.String(length),
            existing_nullable=False,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, length in _COLUMNS:
        op.alter_column(
            "sync_records",
            name,
            type_=sa.String(length),
            existing_type=sa.String(length, collation="C"),
            existing_nullable=False,
        )
