"""sync: scope checksums kept as records are written (``sync_scope_sums``)

A sync that asked for checksums hashed the caller's whole scope; the sums are now kept per entity
and combination of scope keys, appended to by every write of ``sync_records`` and folded by a job
(server/sync/sums.py). The table is filled here from ``sync_records`` as it stands.

Revision ID: 0009_sync_scope_sums
Revises: 0008_sync_window_indexes
"""

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sync.checksum import record_term

revision: str = "0009_sync_scope_sums"
down_revision: str | Sequence[str] | None = "0008_sync_window_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEYS = ("territory_id", "user_id", "region_id")


def _partial(key: str) -> tuple[sa.TextClause, sa.TextClause]:
    if key == "public":
        return sa.text("public IS 1"), sa.text("public IS true")
    return sa.text(f"{key} IS NOT NULL"), sa.text(f"{key} IS NOT NULL")


def upgrade() -> None:
    table = op.create_table(
        "sync_scope_sums",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("territory_id", sa.String(length=36), nullable=True),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("region_id", sa.String(length=36), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_scope_sums")),
    )
    for key in (*_KEYS, "public"):
        sqlite_where, postgresql_where = _partial(key)
        op.create_index(
            f"ix_sync_scope_sums_{key.removesuffix('_id')}",
            "sync_scope_sums",
            ["entity"] if key == "public" else [key],
            sqlite_where=sqlite_where,
            postgresql_where=postgresql_where,
        )
    records = sa.table(
        "sync_records",
        sa.column("entity"),
        sa.column("record_id"),
        sa.column("version"),
        sa.column("territory_id"),
        sa.column("user_id"),
        sa.column("region_id"),
        sa.column("public"),
        sa.column("deleted"),
    )
    sums: dict[tuple[object, ...], list[int]] = defaultdict(lambda: [0, 0])
    result = op.get_bind().execute(
        sa.select(
            records.c.entity,
            records.c.record_id,
            records.c.version,
            records.c.territory_id,
            records.c.user_id,
            records.c.region_id,
            records.c.public,
        ).where(records.c.deleted.is_(False))
    )
    for entity, record_id, version, territory, user, region, public in result:
        part = sums[(entity, territory, user, region, bool(public))]
        part[0] += 1
        part[1] ^= record_term(record_id, version)
    rows = [
        {
            "entity": entity,
            "territory_id": territory,
            "user_id": user,
            "region_id": region,
            "public": public,
            "count": count,
            "digest": digest - (1 << 64) if digest >= 1 << 63 else digest,
        }
        for (entity, territory, user, region, public), (count, digest) in sums.items()
    ]
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table("sync_scope_sums")
