"""targets: monthly quotas per rep, territory and region

Revision ID: 0011_targets
Revises: 0010_regions_price_list_fk
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.db.types import UTCDateTime

revision: str = "0011_targets"
down_revision: str | Sequence[str] | None = "0010_regions_price_list_fk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "targets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("scope_type", sa.String(length=12), nullable=False),
        sa.Column("scope_id", sa.String(length=36), nullable=False),
        sa.Column("region_id", sa.String(length=36), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("set_by_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_targets_region_id_regions")
        ),
        sa.ForeignKeyConstraint(
            ["set_by_id"], ["users.id"], name=op.f("fk_targets_set_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_targets")),
        sa.UniqueConstraint(
            "scope_type", "scope_id", "month", name=op.f("uq_targets_scope_type_scope_id_month")
        ),
    )
    op.create_index(op.f("ix_targets_region_id"), "targets", ["region_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_targets_region_id"), table_name="targets")
    op.drop_table("targets")
