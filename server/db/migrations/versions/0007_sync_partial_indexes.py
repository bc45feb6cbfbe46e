"""sync indexes hold only rows a scope branch can match

Each scope-key index of the change log and the sync index becomes partial (``key IS NOT NULL``,
or ``public IS true``). Most rows leave most keys empty, and a push wrote an entry for every row
in every index: a contact's change row now goes into four change-log indexes instead of nine on
SQLite, and its current-state row into two instead of four. The pull's conditions imply each
predicate, so both stores keep choosing these indexes (tests/server/sync/test_query_plans.py).
The public indexes drop the ``public`` column, which the predicate fixes: ``public IS true`` is
not a condition PostgreSQL can seek on, so (public, seq) left it scanning the log by seq.

Revision ID: 0007_sync_partial_indexes
Revises: 0006_sync_records_byte_order
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_sync_partial_indexes"
down_revision: str | Sequence[str] | None = "0006_sync_records_byte_order"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, index, columns, the key column whose presence the partial index requires)
_INDEXES = (
    (
        "sync_change_log",
        "ix_sync_change_log_territory_seq",
        ("territory_id", "seq"),
        "territory_id",
    ),
    ("sync_change_log", "ix_sync_change_log_user_seq", ("user_id", "seq"), "user_id"),
    ("sync_change_log", "ix_sync_change_log_region_seq", ("region_id", "seq"), "region_id"),
    ("sync_change_log", "ix_sync_change_log_public_seq", ("seq",), "public"),
    ("sync_change_log", "ix_sync_change_log_device_seq", ("device_id", "seq"), "device_id"),
    ("sync_change_log", "ix_sync_change_log_txid", ("txid",), "txid"),
    ("sync_change_log", "ix_sync_change_log_event_seq", ("event", "seq"), "event"),
    (
        "sync_records",
        "ix_sync_records_territory",
        ("territory_id", "entity", "record_id"),
        "territory_id",
    ),
    ("sync_records", "ix_sync_records_user", ("user_id", "entity", "record_id"), "user_id"),
    ("sync_records", "ix_sync_records_region", ("region_id", "entity", "record_id"), "region_id"),
    ("sync_records", "ix_sync_records_public", ("entity", "record_id"), "public"),
)


def _where(key: str) -> tuple[sa.TextClause, sa.TextClause]:
    """The index's predicate on SQLite, then on PostgreSQL."""
    if key == "public":
        return sa.text("public IS 1"), sa.text("public IS true")
    return sa.text(f"{key} IS NOT NULL"), sa.text(f"{key} IS NOT NULL")


def upgrade() -> None:
    for table, name, columns, key in _INDEXES:
        op.drop_index(name, table_name=table)
        sqlite_where, postgresql_where = _where(key)
        op.create_index(
            name,
            table,
            list(columns),
            sqlite_where=sqlite_where,
            postgresql_where=postgresql_where,
        )


_FULL_COLUMNS = {
    "ix_sync_change_log_public_seq": ("public", "seq"),
    "ix_sync_records_public": ("public", "entity", "record_id"),
}


def downgrade() -> None:
    for table, name, columns, _ in _INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, list(_FULL_COLUMNS.get(name, columns)))
