"""regions: the price-list foreign key, on PostgreSQL too

The initial migration declared it ``use_alter`` inside ``create_table``, where Alembic does not
emit the ALTER: SQLite got the constraint inline, PostgreSQL never did, so a region could name a
price list that does not exist. Found by comparing the migrated schema with the models
(tests/server/test_migrations_match_models.py).

Revision ID: 0010_regions_price_list_fk
Revises: 0009_sync_scope_sums
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010_regions_price_list_fk"
down_revision: str | Sequence[str] | None = "0009_sync_scope_sums"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "fk_regions_price_list_id_price_lists"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # A region naming a price list that is gone keeps no dangling reference into the check.
    op.execute(
        "UPDATE regions SET price_list_id = NULL WHERE price_list_id IS NOT NULL "
        "AND price_list_id NOT IN (SELECT id FROM price_lists)"
    )
    op.create_foreign_key(_NAME, "regions", "price_lists", ["price_list_id"], ["id"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_constraint(_NAME, "regions", type_="foreignkey")
