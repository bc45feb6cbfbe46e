"""``/api/v1/forecasts``: read in scope, adjusted by managers, scored, recomputed on demand."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import principal_of, requires_role
from server.auth.models import Role
from server.db.base import utcnow
from server.errors import BadRequest
from server.forecasting import reports, service
from server.forecasting.accuracy import Metrics
from server.forecasting.models import Forecast, ForecastAdjustment
from server.forecasting.periods import GRANULARITIES, parse_period, period_label
from server.forecasting.schemas import (
    AccuracyOut,
    AdjustmentIn,
    AdjustmentOut,
    Categories,
    ForecastList,
    ForecastOut,
    MetricsOut,
    RecomputeIn,
    ValueAddedOut,
)

__all__ = ["ForecastController", "adjustment_out", "forecast_out"]


def adjustment_out(a: ForecastAdjustment) -> AdjustmentOut:
    return AdjustmentOut(
        id=a.id,
        forecast_id=a.forecast_id,
        system_value=a.system_value,
        adjusted_value=a.adjusted_value,
        reason=a.reason,
        user_id=a.user_id,
        created_at=a.created_at,
    )


def forecast_out(f: Forecast, name: str, history: list[ForecastAdjustment]) -> ForecastOut:
    return ForecastOut(
        id=f.id,
        scope=f.scope_type,
        scope_id=f.scope_id,
        scope_name=name,
        granularity=f.granularity,
        period=period_label(f.period_start, f.granularity),
        period_start=f.period_start,
        origin=f.origin,
        horizon=f.horizon,
        made_at=f.made_at,
        method=f.method,
        run_rate=f.run_rate,
        pipeline=f.pipeline,
        blend=f.blend,
        lower=f.lower,
        upper=f.upper,
        categories=Categories(
            closed=f.closed, commit=f.commit, best_case=f.best_case, pipeline=f.pipeline_amount
        ),
        seasonal_naive=f.seasonal_naive,
        components=f.components,
        adjusted_value=history[0].adjusted_value if history else None,
        adjustments=[adjustment_out(a) for a in history],
    )


def _metrics(m: Metrics) -> MetricsOut:
    return MetricsOut(n=m.n, mase=m.mase, wape=m.wape, bias=m.bias)


def _granularity(value: str) -> str:
    if value not in GRANULARITIES:
        raise BadRequest(
            f"granularity must be one of {', '.join(GRANULARITIES)}", field="granularity"
        )
    return value


class ForecastController(Controller):
    path = "/forecasts"
    tags = ("forecasting",)

    @get("/", summary="Forecasts of one scope (current horizon, or one period)")
    async def list_forecasts(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        scope_type: str = Parameter(
            query="scope", default="region", description="rep, territory, region or company"
        ),
        scope_id: str | None = None,
        period: str | None = Parameter(default=None, description="YYYY-MM (or YYYY-Www)"),
        granularity: str = "month",
    ) -> ForecastList:
        granularity = _granularity(granularity)
        found = await reports.resolve_scope(db, principal_of(request), scope_type, scope_id)
        try:
            start = parse_period(period, granularity) if period else None
        except ValueError as exc:
            raise BadRequest(str(exc), field="period") from exc
        rows = await reports.current_forecasts(db, found, granularity=granularity, period=start)
        history = await reports.adjustments_for(db, rows)
        return ForecastList(
            scope=found.type,
            scope_id=found.id,
            scope_name=found.name,
            granularity=granularity,
            items=[
                forecast_out(
                    f,
                    found.name,
                    history.get((f.scope_type, f.scope_id, f.granularity, f.period_start), []),
                )
                for f in rows
            ],
        )

    @post(
        "/{forecast_id:str}/adjustments",
        guards=[requires_role(Role.MANAGER)],
        summary="Override a forecast with a value and a reason (kept with the system value)",
    )
    async def adjust(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        forecast_id: str,
        data: AdjustmentIn,
    ) -> AdjustmentOut:
        adjustment = await service.add_adjustment(
            db, principal_of(request), forecast_id, value=data.value, reason=data.reason
        )
        return adjustment_out(adjustment)

    @get(
        "/accuracy", summary="MASE, WAPE and bias of scored forecasts, and adjustments' value added"
    )
    async def accuracy(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        granularity: str = "month",
        region_id: str | None = None,
    ) -> AccuracyOut:
        report = await reports.accuracy_report(
            db, principal_of(request), granularity=_granularity(granularity), region_id=region_id
        )
        va = report.value_added
        return AccuracyOut(
            granularity=report.granularity,
            scores=report.scores,
            methods={k: _metrics(v) for k, v in report.methods.items()},
            by_model={k: _metrics(v) for k, v in report.by_model.items()},
            by_horizon={str(k): _metrics(v) for k, v in report.by_horizon.items()},
            by_rep={k: _metrics(v) for k, v in report.by_rep.items()},
            by_region={k: _metrics(v) for k, v in report.by_region.items()},
            value_added=ValueAddedOut(
                n=va.n if va else 0, wape=va.wape if va else None, mase=va.mase if va else None
            ),
        )

    @post(
        "/recompute",
        guards=[requires_role(Role.MANAGER)],
        summary="Recompute forecasts now (incremental: unchanged series are not refitted)",
    )
    async def recompute(
        self, request: Request[Any, Any, Any], db: AsyncSession, data: RecomputeIn | None = None
    ) -> service.RunSummary:
        granularities = tuple(data.granularities) if data and data.granularities else GRANULARITIES
        for g in granularities:
            _granularity(g)
        return await service.recompute(
            db,
            now=utcnow(),
            trigger="api",
            granularities=granularities,
            force=bool(data and data.force),
        )
