"""Forecasts, the runs that made them, manager adjustments, accuracy scores, the per-series
cache that makes recomputation incremental, and the stages open deals were seen in (what the
win rates learn from)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, utcnow
from sync.ids import new_id

__all__ = [
    "Forecast",
    "ForecastAdjustment",
    "ForecastRun",
    "ForecastScore",
    "ForecastSeriesState",
    "StageObservation",
]

COMPANY_ID = "company"
"""The scope id of the one company-wide series."""


class ForecastRun(Base):
    __tablename__ = "forecast_runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    trigger: Mapped[str] = mapped_column(String(20))
    """nightly, api, cli, bench, demo or replay (a past month replayed: ``replay.py``)."""
    origin: Mapped[date] = mapped_column()
    """The current (first forecast) month when the run was made."""
    series_total: Mapped[int] = mapped_column(default=0)
    series_refit: Mapped[int] = mapped_column(default=0)
    forecasts_written: Mapped[int] = mapped_column(default=0)
    scores_written: Mapped[int] = mapped_column(default=0)
    duration_ms: Mapped[int] = mapped_column(default=0)
    inputs_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    """Everything the run read (histories, open deals, outcomes, hierarchy): a later run with the
    same hash has nothing to recompute."""


class Forecast(Base):
    """The forecast of one scope for one period, made during ``origin``. Recomputation within the
    same origin updates the row in place; the next origin gets a new row, so every period keeps
    one forecast per horizon for scoring."""

    __tablename__ = "forecasts"
    __table_args__ = (
        UniqueConstraint("scope_type", "scope_id", "granularity", "period_start", "origin"),
        Index("ix_forecasts_current", "granularity", "origin", "scope_type", "scope_id"),
        Index("ix_forecasts_period", "granularity", "period_start"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    run_id: Mapped[str] = mapped_column(ForeignKey("forecast_runs.id"), index=True)
    scope_type: Mapped[str] = mapped_column(String(12))
    """rep, territory, region or company."""
    scope_id: Mapped[str] = mapped_column(String(36))
    region_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    granularity: Mapped[str] = mapped_column(String(8))
    period_start: Mapped[date] = mapped_column()
    origin: Mapped[date] = mapped_column()
    horizon: Mapped[int] = mapped_column()
    """1 for the period in progress when the forecast was made."""
    made_at: Mapped[datetime] = mapped_column(default=utcnow)
    method: Mapped[str] = mapped_column(String(20))
    run_rate: Mapped[float] = mapped_column(Float)
    pipeline: Mapped[float] = mapped_column(Float)
    """Expected value of the open deals closing in the period (amount × stage win rate)."""
    blend: Mapped[float] = mapped_column(Float)
    """The system forecast: the blend of run-rate and pipeline, reconciled over the hierarchy."""
    lower: Mapped[float] = mapped_column(Float)
    upper: Mapped[float] = mapped_column(Float)
    closed: Mapped[float] = mapped_column(Float, default=0.0)
    commit: Mapped[float] = mapped_column(Float, default=0.0)
    best_case: Mapped[float] = mapped_column(Float, default=0.0)
    pipeline_amount: Mapped[float] = mapped_column(Float, default=0.0)
    """The "pipeline" category: unweighted amount of early-stage deals."""
    seasonal_naive: Mapped[float] = mapped_column(Float, default=0.0)
    mase_scale: Mapped[float | None] = mapped_column(Float, default=None)
    inputs_hash: Mapped[str] = mapped_column(String(64))
    components: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ForecastAdjustment(Base):
    """A manager's override of the forecast of one scope and period. Never updated: each
    adjustment is a new row; the latest one is in force, all are history."""

    __tablename__ = "forecast_adjustments"
    __table_args__ = (
        Index(
            "ix_forecast_adjustments_key", "scope_type", "scope_id", "granularity", "period_start"
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    forecast_id: Mapped[str] = mapped_column(ForeignKey("forecasts.id"), index=True)
    """The forecast row shown when the adjustment was made."""
    scope_type: Mapped[str] = mapped_column(String(12))
    scope_id: Mapped[str] = mapped_column(String(36))
    granularity: Mapped[str] = mapped_column(String(8))
    period_start: Mapped[date] = mapped_column()
    region_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    system_value: Mapped[float] = mapped_column(Float)
    adjusted_value: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ForecastScore(Base):
    """How one forecast did once its period closed (re-scored while late orders still arrive)."""

    __tablename__ = "forecast_scores"

    forecast_id: Mapped[str] = mapped_column(ForeignKey("forecasts.id"), primary_key=True)
    scope_type: Mapped[str] = mapped_column(String(12))
    scope_id: Mapped[str] = mapped_column(String(36))
    region_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    granularity: Mapped[str] = mapped_column(String(8))
    period_start: Mapped[date] = mapped_column(index=True)
    horizon: Mapped[int] = mapped_column()
    method: Mapped[str] = mapped_column(String(20))
    actual: Mapped[float] = mapped_column(Float)
    system_value: Mapped[float] = mapped_column(Float)
    adjusted_value: Mapped[float | None] = mapped_column(Float, default=None)
    run_rate: Mapped[float] = mapped_column(Float)
    pipeline_estimate: Mapped[float] = mapped_column(Float)
    seasonal_naive: Mapped[float] = mapped_column(Float)
    mase_scale: Mapped[float | None] = mapped_column(Float, default=None)
    scored_at: Mapped[datetime] = mapped_column(default=utcnow)


class ForecastSeriesState(Base):
    """The last run-rate fit of each series and the hash of the history it was fitted on: a
    recompute refits only series whose hash changed."""

    __tablename__ = "forecast_series_state"

    scope_type: Mapped[str] = mapped_column(String(12), primary_key=True)
    scope_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    granularity: Mapped[str] = mapped_column(String(8), primary_key=True)
    inputs_hash: Mapped[str] = mapped_column(String(64))
    fit: Mapped[dict[str, Any]] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StageObservation(Base):
    """An open opportunity was seen at this stage (first time at ``first_seen_at``)."""

    __tablename__ = "forecast_stage_observations"

    opportunity_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    stage: Mapped[str] = mapped_column(String(20), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
