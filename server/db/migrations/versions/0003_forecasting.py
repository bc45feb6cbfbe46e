"""forecasting: runs, forecasts, adjustments, scores, series cache, stage observations

Revision ID: 0003_forecasting
Revises: 0001_initial
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import server.db.types

revision: str = "0003_forecasting"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def _ts() -> server.db.types.UTCDateTime:
    return server.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "forecast_runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("finished_at", _ts(), nullable=True),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("origin", sa.Date(), nullable=False),
        sa.Column("series_total", sa.Integer(), nullable=False),
        sa.Column("series_refit", sa.Integer(), nullable=False),
        sa.Column("forecasts_written", sa.Integer(), nullable=False),
        sa.Column("scores_written", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("inputs_hash", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_runs")),
    )
    op.create_index(op.f("ix_forecast_runs_started_at"), "forecast_runs", ["started_at"])

    op.create_table(
        "forecasts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("scope_type", sa.String(length=12), nullable=False),
        sa.Column("scope_id", sa.String(length=36), nullable=False),
        sa.Column("region_id", sa.String(length=36), nullable=True),
        sa.Column("granularity", sa.String(length=8), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("origin", sa.Date(), nullable=False),
        sa.Column("horizon", sa.Integer(), nullable=False),
        sa.Column("made_at", _ts(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("run_rate", sa.Float(), nullable=False),
        sa.Column("pipeline", sa.Float(), nullable=False),
        sa.Column("blend", sa.Float(), nullable=False),
        sa.Column("lower", sa.Float(), nullable=False),
        sa.Column("upper", sa.Float(), nullable=False),
        sa.Column("closed", sa.Float(), nullable=False),
        sa.Column("commit", sa.Float(), nullable=False),
        sa.Column("best_case", sa.Float(), nullable=False),
        sa.Column("pipeline_amount", sa.Float(), nullable=False),
        sa.Column("seasonal_naive", sa.Float(), nullable=False),
        sa.Column("mase_scale", sa.Float(), nullable=True),
        sa.Column("inputs_hash", sa.String(length=64), nullable=False),
        sa.Column("components", _JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["forecast_runs.id"], name=op.f("fk_forecasts_run_id_forecast_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecasts")),
        sa.UniqueConstraint(
            "scope_type",
            "scope_id",
            "granularity",
            "period_start",
            "origin",
            name=op.f("uq_forecasts_scope_type_scope_id_granularity_period_start_origin"),
        ),
    )
    op.create_index(
        "ix_forecasts_current", "forecasts", ["granularity", "origin", "scope_type", "scope_id"]
    )
    op.create_index("ix_forecasts_period", "forecasts", ["granularity", "period_start"])
    op.create_index(op.f("ix_forecasts_region_id"), "forecasts", ["region_id"])
    op.create_index(op.f("ix_forecasts_run_id"), "forecasts", ["run_id"])

    op.create_table(
        "forecast_adjustments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("forecast_id", sa.String(length=36), nullable=False),
        sa.Column("scope_type", sa.String(length=12), nullable=False),
        sa.Column("scope_id", sa.String(length=36), nullable=False),
        sa.Column("granularity", sa.String(length=8), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("region_id", sa.String(length=36), nullable=True),
        sa.Column("system_value", sa.Float(), nullable=False),
        sa.Column("adjusted_value", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["forecast_id"],
            ["forecasts.id"],
            name=op.f("fk_forecast_adjustments_forecast_id_forecasts"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_forecast_adjustments_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_adjustments")),
    )
    op.create_index(
        "ix_forecast_adjustments_key",
        "forecast_adjustments",
        ["scope_type", "scope_id", "granularity", "period_start"],
    )
    op.create_index(
        op.f("ix_forecast_adjustments_created_at"), "forecast_adjustments", ["created_at"]
    )
    op.create_index(
        op.f("ix_forecast_adjustments_forecast_id"), "forecast_adjustments", ["forecast_id"]
    )
    op.create_index(
        op.f("ix_forecast_adjustments_region_id"), "forecast_adjustments", ["region_id"]
    )

    op.create_table(
        "forecast_scores",
        sa.Column("forecast_id", sa.String(length=36), nullable=False),
        sa.Column("scope_type", sa.String(length=12), nullable=False),
        sa.Column("scope_id", sa.String(length=36), nullable=False),
        sa.Column("region_id", sa.String(length=36), nullable=True),
        sa.Column("granularity", sa.String(length=8), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("horizon", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("actual", sa.Float(), nullable=False),
        sa.Column("system_value", sa.Float(), nullable=False),
        sa.Column("adjusted_value", sa.Float(), nullable=True),
        sa.Column("run_rate", sa.Float(), nullable=False),
        sa.Column("pipeline_estimate", sa.Float(), nullable=False),
        sa.Column("seasonal_naive", sa.Float(), nullable=False),
        sa.Column("mase_scale", sa.Float(), nullable=True),
        sa.Column("scored_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["forecast_id"], ["forecasts.id"], name=op.f("fk_forecast_scores_forecast_id_forecasts")
        ),
        sa.PrimaryKeyConstraint("forecast_id", name=op.f("pk_forecast_scores")),
    )
    op.create_index(op.f("ix_forecast_scores_period_start"), "forecast_scores", ["period_start"])
    op.create_index(op.f("ix_forecast_scores_region_id"), "forecast_scores", ["region_id"])

    op.create_table(
        "forecast_series_state",
        sa.Column("scope_type", sa.String(length=12), nullable=False),
        sa.Column("scope_id", sa.String(length=36), nullable=False),
        sa.Column("granularity", sa.String(length=8), nullable=False),
        sa.Column("inputs_hash", sa.String(length=64), nullable=False),
        sa.Column("fit", _JSON, nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint(
            "scope_type", "scope_id", "granularity", name=op.f("pk_forecast_series_state")
        ),
    )

    op.create_table(
        "forecast_stage_observations",
        sa.Column("opportunity_id", sa.String(length=36), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("first_seen_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint(
            "opportunity_id", "stage", name=op.f("pk_forecast_stage_observations")
        ),
    )


def downgrade() -> None:
    op.drop_table("forecast_stage_observations")
    op.drop_table("forecast_series_state")
    op.drop_table("forecast_scores")
    op.drop_table("forecast_adjustments")
    op.drop_table("forecasts")
    op.drop_table("forecast_runs")
