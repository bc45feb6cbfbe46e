"""suggestions: per-account cross-sell and up-sell suggestions; the order line's suggestion

Revision ID: 0013_suggestions
Revises: 0012_privacy
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

from server.db.types import UTCDateTime

revision: str = "0013_suggestions"
down_revision: str | Sequence[str] | None = "0012_privacy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "suggestions",
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("support", sa.Integer(), nullable=False),
        sa.Column("lift", sa.Double(), nullable=False),
        sa.Column("because_product_id", sa.String(length=36), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("computed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "field_clocks",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("deleted_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("origin_device_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_suggestions_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_suggestions_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["because_product_id"],
            ["products.id"],
            name=op.f("fk_suggestions_because_product_id_products"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suggestions")),
    )
    op.create_index(op.f("ix_suggestions_account_id"), "suggestions", ["account_id"], unique=False)
    # A plain nullable column without a foreign key: SQLite adds it in place.
    op.add_column("order_lines", sa.Column("suggestion_id", sa.String(length=36), nullable=True))
    op.create_index(
        op.f("ix_order_lines_suggestion_id"), "order_lines", ["suggestion_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_order_lines_suggestion_id"), table_name="order_lines")
    with op.batch_alter_table("order_lines") as batch_op:
        batch_op.drop_column("suggestion_id")
    op.drop_index(op.f("ix_suggestions_account_id"), table_name="suggestions")
    op.drop_table("suggestions")
