"""PostgreSQL: the change log's scope-branch indexes follow the transaction id, not the sequence

On PostgreSQL a cursor is a window of transactions (server/sync/log.py). A pull read each branch
of its scope through ``(key, seq)`` from the window's first sequence number, which is unknown, so
every new window started at the branch's first retained row: an incremental pull of a territory
with a month of history read the month to find a few new rows. Where the planner preferred the
plain ``txid`` index instead (the public branch, whose rows are few), it read every row of every
scope written in the window and kept none. Each branch is now read through ``(key, txid)``
over the window's transaction ids, which holds the branch's rows of the window and little else.

SQLite keeps ``(key, seq)``: its cursor is a sequence number.

The indexes are built and dropped concurrently, so a live server keeps pushing meanwhile.

Revision ID: 0008_sync_window_indexes
Revises: 0007_sync_partial_indexes
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_sync_window_indexes"
down_revision: str | Sequence[str] | None = "0007_sync_partial_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "sync_change_log"
# (short name, the key column, or None for the public branch, which the predicate fixes)
_BRANCHES = (
    ("territory", "territory_id"),
    ("user", "user_id"),
    ("region", "region_id"),
    ("public", None),
    ("device", "device_id"),
)


def _where(key: str | None) -> sa.TextClause:
    return sa.text("public IS true") if key is None else sa.text(f"{key} IS NOT NULL")


def _swap(old: str, new: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    with op.get_context().autocommit_block():
        for short, key in _BRANCHES:
            lead = [] if key is None else [key]
            op.create_index(
                f"ix_{_TABLE}_{short}_{new}",
                _TABLE,
                [*lead, new],
                postgresql_where=_where(key),
                postgresql_concurrently=True,
                if_not_exists=True,
            )
        for short, _ in _BRANCHES:
            op.drop_index(
                f"ix_{_TABLE}_{short}_{old}",
                table_name=_TABLE,
                postgresql_concurrently=True,
                if_exists=True,
            )


def upgrade() -> None:
    _swap("seq", "txid")


def downgrade() -> None:
    _swap("txid", "seq")
