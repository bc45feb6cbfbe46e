"""Reading forecasts back: who may see which scope, the current forecasts of a scope with their
adjustments, chart history, and the accuracy report."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Role, User
from server.auth.principal import Principal
from server.errors import BadRequest, Forbidden, NotFound
from server.forecasting.accuracy import Metrics, Scored, ValueAdded, metrics, value_added
from server.forecasting.models import (
    COMPANY_ID,
    Forecast,
    ForecastAdjustment,
    ForecastScore,
    ForecastSeriesState,
)
from server.forecasting.periods import add_periods
from server.org.models import Region, Territory

__all__ = [
    "SCOPE_TYPES",
    "AccuracyReport",
    "Scope",
    "accuracy_report",
    "adjustments_for",
    "chart_history",
    "current_forecasts",
    "resolve_scope",
]

SCOPE_TYPES = ("rep", "territory", "region", "company")


@dataclass(frozen=True)
class Scope:
    type: str
    id: str
    name: str
    region_id: str | None


async def resolve_scope(
    session: AsyncSession, principal: Principal, scope_type: str, scope_id: str | None
) -> Scope:
    """The scope asked for, if the caller may see it. A rep sees themself; a manager their
    region, its territories and reps; an admin everything. Unknown and out-of-scope ids are both
    404; a kind of scope the role never sees is 403."""
    if scope_type not in SCOPE_TYPES:
        raise BadRequest(f"scope must be one of {', '.join(SCOPE_TYPES)}", field="scope")
    role = principal.role
    if role not in (Role.REP, Role.MANAGER, Role.ADMIN):
        raise Forbidden("forecasts are for reps, managers and admins")
    if role is Role.REP and scope_type != "rep":
        raise Forbidden("a rep sees their own forecast only")
    if role is Role.MANAGER and scope_type == "company":
        raise Forbidden("a manager sees their own region")
    if scope_id is None:
        if scope_type == "company":
            scope_id = COMPANY_ID
        elif scope_type == "rep" and role is Role.REP:
            scope_id = principal.user_id
        elif scope_type == "region" and role is Role.MANAGER:
            scope_id = principal.region_id
        if scope_id is None:
            raise BadRequest("scope_id is required for this scope", field="scope_id")
    found = await _lookup(session, scope_type, scope_id)
    if found is None:
        raise NotFound(f"no {scope_type} {scope_id}")
    if role is Role.REP and found.id != principal.user_id:
        raise NotFound(f"no {scope_type} {scope_id}")
    if role is Role.MANAGER and (
        principal.region_id is None or found.region_id != principal.region_id
    ):
        raise NotFound(f"no {scope_type} {scope_id}")
    return found


async def _lookup(session: AsyncSession, scope_type: str, scope_id: str) -> Scope | None:
    if scope_type == "company":
        return Scope("company", COMPANY_ID, "Company", None) if scope_id == COMPANY_ID else None
    if scope_type == "region":
        region = await session.get(Region, scope_id)
        return Scope("region", region.id, region.name, region.id) if region else None
    if scope_type == "territory":
        territory = await session.get(Territory, scope_id)
        return (
            Scope("territory", territory.id, territory.name, territory.region_id)
            if territory
            else None
        )
    user = await session.get(User, scope_id)
    if user is None:
        return None
    region_id = user.region_id
    if user.territory_id is not None:
        territory = await session.get(Territory, user.territory_id)
        region_id = territory.region_id if territory else region_id
    return Scope("rep", user.id, user.full_name, region_id)


async def current_forecasts(
    session: AsyncSession,
    scope: Scope,
    *,
    granularity: str = "month",
    period: date | None = None,
) -> list[Forecast]:
    """The latest forecast of each period: every period of the newest run's horizon, or just
    ``period`` (the last forecast made for it, also when it has closed)."""
    where = [
        Forecast.scope_type == scope.type,
        Forecast.scope_id == scope.id,
        Forecast.granularity == granularity,
    ]
    if period is not None:
        rows = (
            await session.execute(
                select(Forecast)
                .where(*where, Forecast.period_start == period)
                .order_by(Forecast.origin.desc())
                .limit(1)
            )
        ).scalars()
        return list(rows)
    latest = (await session.execute(select(func.max(Forecast.origin)).where(*where))).scalar()
    if latest is None:
        return []
    result = await session.execute(
        select(Forecast).where(*where, Forecast.origin == latest).order_by(Forecast.period_start)
    )
    return list(result.scalars())


async def forecasts_for_scopes(
    session: AsyncSession, scope_type: str, scope_ids: Sequence[str], *, granularity: str = "month"
) -> dict[str, list[Forecast]]:
    """The newest forecasts of many scopes of one type at once (the rep table)."""
    if not scope_ids:
        return {}
    where = [
        Forecast.scope_type == scope_type,
        Forecast.scope_id.in_(scope_ids),
        Forecast.granularity == granularity,
    ]
    latest = (await session.execute(select(func.max(Forecast.origin)).where(*where))).scalar()
    out: dict[str, list[Forecast]] = defaultdict(list)
    if latest is None:
        return out
    for row in (
        await session.execute(
            select(Forecast)
            .where(*where, Forecast.origin == latest)
            .order_by(Forecast.period_start)
        )
    ).scalars():
        out[row.scope_id].append(row)
    return out


AdjustmentKey = tuple[str, str, str, date]


async def adjustments_for(
    session: AsyncSession, forecasts: Iterable[Forecast]
) -> dict[AdjustmentKey, list[ForecastAdjustment]]:
    """Every adjustment of each forecast's scope and period, newest first."""
    keys = {(f.scope_type, f.scope_id, f.granularity, f.period_start) for f in forecasts}
    out: dict[AdjustmentKey, list[ForecastAdjustment]] = defaultdict(list)
    if not keys:
        return out
    scope_ids = {k[1] for k in keys}
    periods = {k[3] for k in keys}
    rows = await session.execute(
        select(ForecastAdjustment)
        .where(
            ForecastAdjustment.scope_id.in_(scope_ids),
            ForecastAdjustment.period_start.in_(periods),
        )
        .order_by(ForecastAdjustment.created_at.desc(), ForecastAdjustment.id.desc())
    )
    for adj in rows.scalars():
        key = (adj.scope_type, adj.scope_id, adj.granularity, adj.period_start)
        if key in keys:
            out[key].append(adj)
    return out


@dataclass(frozen=True)
class ChartPoint:
    period_start: date
    actual: float | None = None
    forecast: float | None = None
    """The forecast made during the period itself (horizon 1), for past periods."""


async def chart_history(
    session: AsyncSession, scope: Scope, *, granularity: str = "month", periods: int = 18
) -> list[ChartPoint]:
    """Actuals of the last complete periods, with the forecast that was made for each."""
    state = await session.get(ForecastSeriesState, (scope.type, scope.id, granularity))
    if state is None:
        return []
    values = state.fit.get("history", [])[-periods:]
    end = date.fromisoformat(state.fit["history_end"])
    starts = [add_periods(end, -len(values) + i, granularity) for i in range(len(values))]
    made: dict[date, float] = {}
    if starts:
        for period_start, blend in (
            await session.execute(
                select(Forecast.period_start, Forecast.blend).where(
                    Forecast.scope_type == scope.type,
                    Forecast.scope_id == scope.id,
                    Forecast.granularity == granularity,
                    Forecast.horizon == 1,
                    Forecast.period_start >= starts[0],
                )
            )
        ).all():
            made[period_start] = blend
    return [ChartPoint(s, v, made.get(s)) for s, v in zip(starts, values, strict=True)]


# Accuracy ---------------------------------------------------------------------------------

METHODS = ("system", "adjusted", "run_rate", "pipeline", "seasonal_naive")
"""The forecasts each score compares: the system forecast, the forecast managers stood by
(adjusted where they adjusted, else the system's), each component alone, and the benchmark."""


@dataclass
class AccuracyReport:
    granularity: str
    scores: int
    methods: dict[str, Metrics] = field(default_factory=dict)
    by_model: dict[str, Metrics] = field(default_factory=dict)
    by_horizon: dict[int, Metrics] = field(default_factory=dict)
    by_rep: dict[str, Metrics] = field(default_factory=dict)
    by_region: dict[str, Metrics] = field(default_factory=dict)
    value_added: ValueAdded | None = None


def _method_value(score: ForecastScore, method: str) -> float:
    if method == "system":
        return score.system_value
    if method == "adjusted":
        return score.adjusted_value if score.adjusted_value is not None else score.system_value
    if method == "run_rate":
        return score.run_rate
    if method == "pipeline":
        return score.pipeline_estimate
    return score.seasonal_naive


def _scored(score: ForecastScore, method: str = "system") -> Scored:
    return Scored(
        forecast=_method_value(score, method), actual=score.actual, scale=score.mase_scale
    )


async def accuracy_report(
    session: AsyncSession,
    principal: Principal,
    *,
    granularity: str = "month",
    region_id: str | None = None,
    since: date | None = None,
    rep_ids: Sequence[str] | None = None,
) -> AccuracyReport:
    """Accuracy of every scored forecast the caller may see: a rep their own, a manager their
    region's (region, territories and reps), an admin all or one region."""
    where = [ForecastScore.granularity == granularity]
    if principal.role is Role.REP:
        where += [ForecastScore.scope_type == "rep", ForecastScore.scope_id == principal.user_id]
    elif principal.role is Role.MANAGER:
        if region_id is not None and region_id != principal.region_id:
            raise NotFound(f"no region {region_id}")
        where.append(ForecastScore.region_id == principal.region_id)
    elif principal.role is Role.ADMIN:
        if region_id is not None:
            where.append(ForecastScore.region_id == region_id)
    else:
        raise Forbidden("forecast accuracy is for reps, managers and admins")
    if since is not None:
        where.append(ForecastScore.period_start >= since)
    if rep_ids is not None:
        where += [ForecastScore.scope_type == "rep", ForecastScore.scope_id.in_(rep_ids)]
    scores = list((await session.execute(select(ForecastScore).where(*where))).scalars())
    report = AccuracyReport(granularity=granularity, scores=len(scores))
    # The headline figures are over the finest level the caller sees (reps), so a region's
    # forecasts are not counted again through their sum.
    finest = [s for s in scores if s.scope_type == "rep"] or scores
    report.methods = {
        m: metrics(_scored(s, m) for s in finest if m != "pipeline" or s.pipeline_estimate > 0)
        for m in METHODS
    }
    report.by_model = _grouped(finest, lambda s: s.method)
    report.by_horizon = {int(k): v for k, v in _grouped(finest, lambda s: str(s.horizon)).items()}
    report.by_rep = _grouped([s for s in scores if s.scope_type == "rep"], lambda s: s.scope_id)
    report.by_region = _grouped(
        [s for s in scores if s.scope_type == "region"], lambda s: s.scope_id
    )
    adjusted = [s for s in scores if s.adjusted_value is not None]
    report.value_added = value_added((_scored(s), _scored(s, "adjusted")) for s in adjusted)
    return report


def _grouped(scores: Iterable[ForecastScore], key: object) -> dict[str, Metrics]:
    groups: dict[str, list[Scored]] = defaultdict(list)
    for s in scores:
        groups[key(s)].append(_scored(s))  # type: ignore[operator]
    return {k: metrics(v) for k, v in sorted(groups.items())}
