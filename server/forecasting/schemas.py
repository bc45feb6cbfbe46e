"""Wire shapes of the forecasting API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import msgspec

__all__ = [
    "AccuracyOut",
    "AdjustmentIn",
    "AdjustmentOut",
    "Categories",
    "ForecastList",
    "ForecastOut",
    "MetricsOut",
    "RecomputeIn",
    "ValueAddedOut",
]


class AdjustmentIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    value: Annotated[float, msgspec.Meta(ge=0, description="The adjusted forecast value")]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class RecomputeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    granularities: list[str] | None = None
    force: bool = False
    """Refit every series even if nothing changed."""


class AdjustmentOut(msgspec.Struct, kw_only=True):
    id: str
    forecast_id: str
    system_value: float
    adjusted_value: float
    reason: str
    user_id: str
    created_at: datetime


class Categories(msgspec.Struct, kw_only=True):
    closed: float
    commit: float
    best_case: float
    pipeline: float


class ForecastOut(msgspec.Struct, kw_only=True):
    id: str
    scope: str
    scope_id: str
    scope_name: str
    granularity: str
    period: str
    period_start: date
    origin: date
    horizon: int
    made_at: datetime
    method: str
    run_rate: float
    pipeline: float
    blend: float
    """The system forecast (run-rate and pipeline blended, reconciled over the hierarchy)."""
    lower: float
    upper: float
    interval: float = 0.8
    categories: Categories
    seasonal_naive: float
    components: dict[str, Any]
    adjusted_value: float | None = None
    """The latest adjustment in force, if any; ``blend`` stays the system's value."""
    adjustments: list[AdjustmentOut] = []


class ForecastList(msgspec.Struct, kw_only=True):
    scope: str
    scope_id: str
    scope_name: str
    granularity: str
    items: list[ForecastOut]


class MetricsOut(msgspec.Struct, kw_only=True):
    n: int
    mase: float | None
    wape: float | None
    bias: float | None


class ValueAddedOut(msgspec.Struct, kw_only=True):
    n: int
    wape: float | None
    """WAPE of the system forecast minus WAPE of the adjusted one (positive: adjustments helped)."""
    mase: float | None


class AccuracyOut(msgspec.Struct, kw_only=True):
    granularity: str
    scores: int
    methods: dict[str, MetricsOut]
    by_model: dict[str, MetricsOut]
    by_horizon: dict[str, MetricsOut]
    by_rep: dict[str, MetricsOut]
    by_region: dict[str, MetricsOut]
    value_added: ValueAddedOut
