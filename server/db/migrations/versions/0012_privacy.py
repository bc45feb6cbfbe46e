"""privacy: consent histories of contacts and leads, the register of erased data subjects

Revision ID: 0012_privacy
Revises: 0011_targets
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from server.db.types import UTCDateTime

revision: str = "0012_privacy"
down_revision: str | Sequence[str] | None = "0011_targets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _consent_table(parent: str) -> None:
    table = f"{parent}_consents"
    op.create_table(
        table,
        sa.Column(f"{parent}_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("recorded_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by_id", sa.String(length=36), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("field_clocks", _JSON, nullable=False),
        sa.Column("deleted_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("origin_device_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            [f"{parent}_id"], [f"{parent}s.id"], name=op.f(f"fk_{table}_{parent}_id_{parent}s")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["users.id"], name=op.f(f"fk_{table}_recorded_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    )
    op.create_index(op.f(f"ix_{table}_{parent}_id"), table, [f"{parent}_id"], unique=False)


def upgrade() -> None:
    _consent_table("contact")
    _consent_table("lead")
    op.create_table(
        "privacy_erasures",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("erased_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("erased_by_id", sa.String(length=36), nullable=True),
        sa.Column("records", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("kind", "subject_id", name=op.f("pk_privacy_erasures")),
    )


def downgrade() -> None:
    op.drop_table("privacy_erasures")
    for parent in ("lead", "contact"):
        table = f"{parent}_consents"
        op.drop_index(op.f(f"ix_{table}_{parent}_id"), table_name=table)
        op.drop_table(table)
