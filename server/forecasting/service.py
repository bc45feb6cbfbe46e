"""Recomputing forecasts (incrementally), scoring closed periods, and manager adjustments."""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections import defaultdict
from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import Any

import msgspec
import numpy as np
from sqlalchemy import insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.service import record as audit
from server.auth.models import Role
from server.auth.principal import Principal
from server.db.base import utcnow
from server.db.direct import insert_rows_async
from server.errors import BadRequest, Forbidden, NotFound
from server.forecasting.engine import ALGORITHM_VERSION, Computed, compute
from server.forecasting.inputs import (
    Hierarchy,
    Key,
    Opportunities,
    Sales,
    load_hierarchy,
    load_opportunities,
    load_sales,
)
from server.forecasting.models import (
    Forecast,
    ForecastAdjustment,
    ForecastRun,
    ForecastScore,
    ForecastSeriesState,
    StageObservation,
)
from server.forecasting.periods import (
    GRANULARITIES,
    add_periods,
    period_end,
    period_of,
    periods_between,
)
from server.forecasting.runrate import SeriesForecast
from server.sync.entities import table_of
from sync.ids import new_id

__all__ = [
    "HISTORY_LENGTH",
    "HORIZON",
    "RunSummary",
    "add_adjustment",
    "recompute",
    "store_rows",
]

HORIZON = 6
"""Periods forecast ahead, the one in progress first."""
HISTORY_LENGTH = {"month": 48, "week": 104}
"""Complete periods of history each series is fitted on (at most)."""
RESCORE_PERIODS = 3
"""Closed periods re-scored on every run, so late-booked orders reach the scores."""
_CHART_HISTORY = 24
_LOCK_ID = 61_7006  # PostgreSQL advisory lock: one recompute at a time across replicas

_VALUE_FIELDS = (
    "method",
    "run_rate",
    "pipeline",
    "blend",
    "lower",
    "upper",
    "closed",
    "commit",
    "best_case",
    "pipeline_amount",
    "seasonal_naive",
    "mase_scale",
    "inputs_hash",
    "horizon",
    "region_id",
)


# A first recompute (and the first of each month or week) inserts a row per series and six per
# forecast: 15,554 rows for 1,000 reps. Handed to the driver's executemany, compiled once,
# instead of through the ORM's bulk insert and unit of work, which cost more than the database.
_INSERT_FORECAST = insert(table_of(Forecast))
_INSERT_STATE = insert(table_of(ForecastSeriesState))


class RunSummary(msgspec.Struct, kw_only=True):
    run_id: str
    trigger: str
    origin: date
    series_total: int
    series_refit: int
    series_skipped: int
    forecasts_written: int
    scores_written: int
    duration_ms: int


async def recompute(
    session: AsyncSession,
    *,
    now: datetime,
    trigger: str = "api",
    granularities: tuple[str, ...] = GRANULARITIES,
    force: bool = False,
) -> RunSummary:
    """Recompute every forecast of every scope. A run whose inputs all hash as an earlier run's
    (same origin) only scores; otherwise a series whose history hashes as before keeps its fit,
    and rows whose values did not change are not rewritten. ``force`` refits everything."""
    started = time.perf_counter()
    dialect = session.bind.dialect.name if session.bind is not None else ""
    if dialect == "postgresql":
        await session.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK_ID})"))
    # On SQLite one transaction writes at a time, and devices' pushes queue behind it: the
    # inputs are read and every series fitted (seconds of CPU) in a reader's transaction,
    # which holds no write lock, and only the writing takes one.
    reading_apart = dialect == "sqlite" and not session.in_transaction()
    if reading_apart:
        await session.connection(execution_options={"sqlite_begin": "DEFERRED"})
    origins = {g: period_of(now, g) for g in granularities}
    run = ForecastRun(trigger=trigger, origin=origins.get("month", next(iter(origins.values()))))
    run.started_at = now

    opportunities = await load_opportunities(session)
    sales = await load_sales(
        session,
        origins=origins,
        lengths={g: HISTORY_LENGTH[g] for g in granularities},
        horizon=HORIZON,
    )
    sellers = set(opportunities.open_by_owner) | set(opportunities.closed_by_owner)
    for per_granularity in sales.values():
        sellers |= set(per_granularity.history) | set(per_granularity.current)
    tree = await load_hierarchy(session, sellers)

    run.inputs_hash = _inputs_hash(origins, sales, opportunities, tree)
    previous = (
        await session.execute(
            select(ForecastRun.series_total)
            .where(
                ForecastRun.inputs_hash == run.inputs_hash,
                ForecastRun.origin == run.origin,
                ForecastRun.finished_at.is_not(None),
            )
            .order_by(ForecastRun.started_at.desc())
            .limit(1)
        )
    ).first()
    total = refit = written = scored = 0
    if force:
        previous = None
    unchanged: dict[str, dict[Key, Any]] = {}
    if previous is not None:
        # Nothing the forecasts depend on changed since that run: keep them, only score.
        total = previous.series_total
        for granularity in granularities:
            unchanged[granularity] = await _stored_history(session, granularity, sales[granularity])
        granularities = ()
    states = (
        {
            (s.scope_type, s.scope_id, s.granularity): s
            for s in (await session.execute(select(ForecastSeriesState))).scalars()
        }
        if granularities
        else {}
    )
    outcomes = {}
    for granularity in granularities:
        cached: dict[Key, tuple[str, SeriesForecast]] = {}
        for (scope_type, scope_id, g), state in states.items():
            if g == granularity:
                cached[(scope_type, scope_id)] = (
                    "" if force else state.inputs_hash,
                    SeriesForecast.from_json(state.fit["forecast"]),
                )
        # Off the event loop: fitting every series takes seconds to minutes of CPU (in worker
        # processes, waited for here), and a server answers its devices meanwhile.
        outcomes[granularity] = await asyncio.to_thread(
            compute,
            tree,
            sales[granularity],
            opportunities,
            granularity=granularity,
            horizon=HORIZON,
            cached=cached,
        )

    if reading_apart:
        await session.commit()  # ends the reader's transaction; the next one writes
    session.add(run)
    await session.flush()
    if force:
        for state in states.values():
            state.inputs_hash = ""
    for granularity, history in unchanged.items():
        scored += await _score(
            session, granularity, origins[granularity], sales[granularity].start, history, now
        )
    for granularity, outcome in outcomes.items():
        total += len(outcome.fits)
        refit += len(outcome.refit)
        new_states: list[dict[str, Any]] = []
        for key in outcome.refit:
            digest, fit = outcome.fits[key]
            fit_json = {
                "forecast": fit.to_json(),
                "history": [round(float(v), 2) for v in outcome.history[key][-_CHART_HISTORY:]],
                "history_end": origins[granularity].isoformat(),
            }
            stored = states.get((key[0], key[1], granularity))
            if stored is None:
                new_states.append(
                    {
                        "scope_type": key[0],
                        "scope_id": key[1],
                        "granularity": granularity,
                        "inputs_hash": digest,
                        "fit": fit_json,
                        "updated_at": now,
                    }
                )
            else:
                stored.inputs_hash, stored.fit, stored.updated_at = digest, fit_json, now
        await insert_rows_async(session, _INSERT_STATE, new_states)
        written += await store_rows(
            session, run.id, granularity, origins[granularity], outcome.rows, now
        )
        scored += await _score(
            session,
            granularity,
            origins[granularity],
            sales[granularity].start,
            outcome.history,
            now,
        )
    await _observe_stages(session, opportunities.open_ids, opportunities.observed, now)

    run.series_total, run.series_refit = total, refit
    run.forecasts_written, run.scores_written = written, scored
    run.duration_ms = int((time.perf_counter() - started) * 1000)
    run.finished_at = utcnow()
    await session.flush()
    return RunSummary(
        run_id=run.id,
        trigger=trigger,
        origin=run.origin,
        series_total=total,
        series_refit=refit,
        series_skipped=total - refit,
        forecasts_written=written,
        scores_written=scored,
        duration_ms=run.duration_ms,
    )


def _inputs_hash(
    origins: dict[str, date], sales: dict[str, Sales], opportunities: Opportunities, tree: Hierarchy
) -> str:
    digest = hashlib.sha256(f"{ALGORITHM_VERSION}|{HORIZON}|{sorted(origins.items())}".encode())
    for granularity in sorted(sales):
        for name, arrays in (("h", sales[granularity].history), ("c", sales[granularity].current)):
            for rep_id in sorted(arrays):
                digest.update(f"{granularity}{name}{rep_id}".encode())
                digest.update(np.round(arrays[rep_id], 2).tobytes())
    for owner in sorted(opportunities.open_by_owner):
        for opp in sorted(opportunities.open_by_owner[owner], key=repr):
            digest.update(f"o{owner}{opp!r}".encode())
    for owner in sorted(opportunities.closed_by_owner):
        outcomes = sorted(
            (o.won, tuple(sorted(o.stages_seen))) for o in opportunities.closed_by_owner[owner]
        )
        digest.update(f"w{owner}{outcomes}".encode())
    digest.update(repr(sorted((k, v) for k, v in tree.parents.items() if v is not None)).encode())
    return digest.hexdigest()


async def _stored_history(session: AsyncSession, granularity: str, sales: Sales) -> dict[Key, Any]:
    """Every node's history as the last fit saw it (unchanged, by the inputs hash)."""
    length = periods_between(sales.start, sales.origin, granularity)
    out: dict[Key, Any] = {}
    for state in (
        await session.execute(
            select(ForecastSeriesState).where(ForecastSeriesState.granularity == granularity)
        )
    ).scalars():
        values = state.fit.get("history", [])
        if len(values) >= min(length, _CHART_HISTORY):
            padded = np.full(length, np.nan)  # older periods are unknown here: not scored
            padded[length - len(values[-length:]) :] = values[-length:]
            out[(state.scope_type, state.scope_id)] = padded
    return out


def _values(row: Computed) -> dict[str, Any]:
    return {name: getattr(row, name) for name in _VALUE_FIELDS}


async def store_rows(
    session: AsyncSession,
    run_id: str,
    granularity: str,
    origin: date,
    rows: list[Computed],
    now: datetime,
) -> int:
    columns = [getattr(Forecast, name) for name in _VALUE_FIELDS]
    existing = {
        (r.scope_type, r.scope_id, r.period_start): r
        for r in (
            await session.execute(
                select(
                    Forecast.id,
                    Forecast.scope_type,
                    Forecast.scope_id,
                    Forecast.period_start,
                    *columns,
                ).where(Forecast.granularity == granularity, Forecast.origin == origin)
            )
        ).all()
    }
    fresh: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for row in rows:
        values = _values(row)
        current = existing.get((row.key[0], row.key[1], row.period_start))
        if current is None:
            fresh.append(
                {
                    **values,
                    "id": new_id(),
                    "run_id": run_id,
                    "scope_type": row.key[0],
                    "scope_id": row.key[1],
                    "granularity": granularity,
                    "period_start": row.period_start,
                    "origin": origin,
                    "made_at": now,
                    "components": row.components,
                }
            )
        elif not all(_same(getattr(current, k), v) for k, v in values.items()):
            changed.append(
                {
                    **values,
                    "id": current.id,
                    "run_id": run_id,
                    "made_at": now,
                    "components": row.components,
                }
            )
    await insert_rows_async(session, _INSERT_FORECAST, fresh)
    if changed:
        await session.execute(update(Forecast), changed)
    return len(changed) + len(fresh)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.005)
    return bool(a == b)


def _moment(day: date) -> datetime:
    return datetime.combine(day, dtime(), tzinfo=UTC)


async def _score(
    session: AsyncSession,
    granularity: str,
    origin: date,
    start: date,
    history: dict[Key, Any],
    now: datetime,
) -> int:
    """Score every forecast of a closed period against what was booked; periods closed
    recently are re-scored, older ones only once."""
    rescore_from = add_periods(origin, -RESCORE_PERIODS, granularity)
    rows = (
        await session.execute(
            select(
                Forecast.id,
                Forecast.scope_type,
                Forecast.scope_id,
                Forecast.region_id,
                Forecast.period_start,
                Forecast.origin,
                Forecast.horizon,
                Forecast.method,
                Forecast.blend,
                Forecast.run_rate,
                Forecast.pipeline,
                Forecast.closed,
                Forecast.seasonal_naive,
                Forecast.mase_scale,
                ForecastScore.actual,
                ForecastScore.adjusted_value,
            )
            .outerjoin(ForecastScore, ForecastScore.forecast_id == Forecast.id)
            .where(
                Forecast.granularity == granularity,
                Forecast.period_start < origin,
                Forecast.period_start >= start,
                or_(ForecastScore.forecast_id.is_(None), Forecast.period_start >= rescore_from),
            )
        )
    ).all()
    if not rows:
        return 0
    adjustments: dict[tuple[str, str, date], list[tuple[datetime, float]]] = defaultdict(list)
    for a in (
        await session.execute(
            select(
                ForecastAdjustment.scope_type,
                ForecastAdjustment.scope_id,
                ForecastAdjustment.period_start,
                ForecastAdjustment.created_at,
                ForecastAdjustment.adjusted_value,
            )
            .where(
                ForecastAdjustment.granularity == granularity,
                ForecastAdjustment.period_start >= min(r.period_start for r in rows),
                ForecastAdjustment.period_start < origin,
            )
            .order_by(ForecastAdjustment.created_at)
        )
    ).all():
        adjustments[(a.scope_type, a.scope_id, a.period_start)].append(
            (a.created_at, a.adjusted_value)
        )
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for r in rows:
        values = history.get((r.scope_type, r.scope_id))
        if values is None:
            continue
        index = periods_between(start, r.period_start, granularity)
        if math.isnan(values[index]):
            continue
        actual = round(float(values[index]), 2)
        # The adjustment in force while this forecast was the current one.
        cutoff = _moment(
            min(period_end(r.origin, granularity), period_end(r.period_start, granularity))
        )
        adjusted = None
        for created_at, value in adjustments.get((r.scope_type, r.scope_id, r.period_start), []):
            if created_at < cutoff:
                adjusted = value
        if r.actual is not None and _same(r.actual, actual) and r.adjusted_value == adjusted:
            continue
        score = {
            "forecast_id": r.id,
            "actual": actual,
            "adjusted_value": adjusted,
            "scored_at": now,
        }
        if r.actual is None:
            inserts.append(
                {
                    **score,
                    "scope_type": r.scope_type,
                    "scope_id": r.scope_id,
                    "region_id": r.region_id,
                    "granularity": granularity,
                    "period_start": r.period_start,
                    "horizon": r.horizon,
                    "method": r.method,
                    "system_value": r.blend,
                    "run_rate": r.run_rate,
                    "pipeline_estimate": round(r.closed + r.pipeline, 2),
                    "seasonal_naive": r.seasonal_naive,
                    "mase_scale": r.mase_scale,
                }
            )
        else:
            updates.append(score)
    if inserts:
        await session.execute(insert(ForecastScore), inserts)
    if updates:
        await session.execute(update(ForecastScore), updates)
    return len(inserts) + len(updates)


async def _observe_stages(
    session: AsyncSession,
    open_ids: dict[str, str],
    observed: set[tuple[str, str]],
    now: datetime,
) -> None:
    missing = [
        {"opportunity_id": opp, "stage": stage, "first_seen_at": now}
        for opp, stage in open_ids.items()
        if (opp, stage) not in observed
    ]
    if not missing:
        return
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(StageObservation)
    await session.execute(statement.on_conflict_do_nothing(), missing)


# Adjustments ------------------------------------------------------------------------------


async def add_adjustment(
    session: AsyncSession,
    principal: Principal,
    forecast_id: str,
    *,
    value: float,
    reason: str,
    now: datetime | None = None,
) -> ForecastAdjustment:
    """Override the system forecast of one scope and period. Managers adjust their own region
    (and its territories and reps); admins anything. Out-of-scope forecasts are 404."""
    if principal.role not in (Role.MANAGER, Role.ADMIN) or principal.user_id is None:
        raise Forbidden("only managers and admins adjust forecasts")
    reason = reason.strip()
    if not reason:
        raise BadRequest("an adjustment needs a reason", field="reason")
    if not math.isfinite(value) or value < 0:
        raise BadRequest("the adjusted value must be a non-negative number", field="value")
    forecast = await session.get(Forecast, forecast_id)
    if forecast is None or not _may_adjust(principal, forecast):
        raise NotFound(f"no forecast {forecast_id}")
    adjustment = ForecastAdjustment(
        forecast_id=forecast.id,
        scope_type=forecast.scope_type,
        scope_id=forecast.scope_id,
        granularity=forecast.granularity,
        period_start=forecast.period_start,
        region_id=forecast.region_id,
        system_value=forecast.blend,
        adjusted_value=round(float(value), 2),
        reason=reason,
        user_id=principal.user_id,
        created_at=now or utcnow(),
    )
    session.add(adjustment)
    await audit(
        session,
        "forecast.adjusted",
        actor=principal,
        target_type="forecast",
        target_id=forecast.id,
        region_id=forecast.region_id,
        details={
            "scope": f"{forecast.scope_type}:{forecast.scope_id}",
            "period": forecast.period_start.isoformat(),
            "system_value": forecast.blend,
            "adjusted_value": adjustment.adjusted_value,
        },
    )
    await session.flush()
    return adjustment


def _may_adjust(principal: Principal, forecast: Forecast) -> bool:
    if principal.is_admin:
        return True
    return principal.region_id is not None and forecast.region_id == principal.region_id
