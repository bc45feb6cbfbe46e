"""leads and jobs: assignment rule sets, assignment decisions, job run claims

Revision ID: 0002_leads_jobs
Revises: 0001_initial
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import server.db.types

revision: str = "0002_leads_jobs"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")
_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> server.db.types.UTCDateTime:
    return server.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "assignment_rule_sets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("region_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("rules", _JSON, nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_by_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_assignment_rule_sets_region_id_regions")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_assignment_rule_sets_created_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment_rule_sets")),
        sa.UniqueConstraint(
            "region_id", "version", name=op.f("uq_assignment_rule_sets_region_id_version")
        ),
    )
    with op.batch_alter_table("assignment_rule_sets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_assignment_rule_sets_region_id"), ["region_id"], unique=False
        )

    op.create_table(
        "assignment_decisions",
        sa.Column("id", _BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("lead_id", sa.String(length=36), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("region_id", sa.String(length=36), nullable=True),
        sa.Column("rule_set_id", sa.String(length=36), nullable=True),
        sa.Column("rule_set_version", sa.Integer(), nullable=True),
        sa.Column("winner_id", sa.String(length=36), nullable=True),
        sa.Column("previous_assignee_id", sa.String(length=36), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("draw", sa.Integer(), nullable=True),
        sa.Column("actor_user_id", sa.String(length=36), nullable=True),
        sa.Column("trace", _JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_assignment_decisions_lead_id_leads")
        ),
        sa.ForeignKeyConstraint(
            ["rule_set_id"],
            ["assignment_rule_sets.id"],
            name=op.f("fk_assignment_decisions_rule_set_id_assignment_rule_sets"),
        ),
        sa.ForeignKeyConstraint(
            ["winner_id"], ["users.id"], name=op.f("fk_assignment_decisions_winner_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment_decisions")),
    )
    with op.batch_alter_table("assignment_decisions", schema=None) as batch_op:
        batch_op.create_index("ix_assignment_decisions_lead_at", ["lead_id", "at"], unique=False)
        batch_op.create_index(
            "ix_assignment_decisions_region_at", ["region_id", "at"], unique=False
        )
        batch_op.create_index(
            "ix_assignment_decisions_winner_at", ["winner_id", "at"], unique=False
        )

    op.create_table(
        "job_runs",
        sa.Column("id", _BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("job_name", sa.String(length=80), nullable=False),
        sa.Column("slot_start", _ts(), nullable=False),
        sa.Column("owner", sa.String(length=120), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("finished_at", _ts(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
        sa.UniqueConstraint("job_name", "slot_start", name=op.f("uq_job_runs_job_name_slot_start")),
    )
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_job_runs_job_name_started_at", ["job_name", "started_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_job_runs_job_name_started_at")
    op.drop_table("job_runs")
    with op.batch_alter_table("assignment_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_assignment_decisions_winner_at")
        batch_op.drop_index("ix_assignment_decisions_region_at")
        batch_op.drop_index("ix_assignment_decisions_lead_at")
    op.drop_table("assignment_decisions")
    with op.batch_alter_table("assignment_rule_sets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assignment_rule_sets_region_id"))
    op.drop_table("assignment_rule_sets")
