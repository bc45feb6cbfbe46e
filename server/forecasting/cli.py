"""``fieldline forecast backtest`` and ``fieldline forecast recompute``."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from server.db.base import utcnow
from server.db.engine import create_engine, create_sessionmaker
from server.forecasting.backtest import BacktestResult, rolling_origin
from server.forecasting.inputs import load_hierarchy, load_opportunities, load_sales
from server.forecasting.periods import GRANULARITIES, period_of
from server.forecasting.pipeline import Calibration, ClosedOutcome, calibration
from server.forecasting.reconcile import aggregate
from server.forecasting.runrate import FORCEABLE
from server.forecasting.service import HISTORY_LENGTH, HORIZON, RunSummary, recompute
from server.forecasting.synthetic import monthly_histories
from server.settings import Settings

__all__ = ["register"]

LEVELS = ("rep", "territory", "region", "company")


def register(subparsers: Any) -> None:
    forecast = subparsers.add_parser("forecast", help="sales forecasts: backtest, recompute")
    verbs = forecast.add_subparsers(dest="forecast_command", required=True)

    backtest = verbs.add_parser(
        "backtest",
        help="rolling-origin backtest of the run-rate against seasonal naive, and the "
        "calibration of the pipeline's win rates",
        description="Fits the run-rate at each of the last origins of the monthly order history "
        "(accepted orders, at most 48 months before each) and scores the next periods: MASE, "
        "WAPE, sMAPE, bias, 80 %/95 % interval coverage and CPU seconds per series fit, per "
        "method and level, and each method's MASE relative to seasonal naive (below 1.0 beats "
        "it) — the figures of bench/forecast_accuracy.py, on this database. Then the win rates' "
        "Brier score and reliability by decile on the closed deals.",
    )
    backtest.add_argument("--level", choices=[*LEVELS, "all"], default="all")
    backtest.add_argument("--horizon", type=int, default=HORIZON)
    backtest.add_argument(
        "--min-train",
        type=int,
        help="periods of history before the first origin (default: 24, or 12 when the "
        "history is shorter than 24 + horizon)",
    )
    backtest.add_argument(
        "--methods",
        help=f"comma-separated, of auto,{','.join(FORCEABLE)} (default: auto,seasonal_naive)",
    )
    backtest.add_argument(
        "--origins", type=int, default=12, help="the latest origins to score (default 12)"
    )
    backtest.add_argument(
        "--synthetic",
        type=int,
        metavar="REPS",
        help="backtest synthetic histories of REPS reps instead of the database",
    )
    backtest.add_argument("--months", type=int, default=36, help="length of synthetic histories")
    backtest.add_argument("--json", action="store_true", help="print JSON instead of tables")
    backtest.set_defaults(func=_cmd_backtest)

    again = verbs.add_parser(
        "recompute", help="recompute every forecast now (incremental) and score closed periods"
    )
    again.add_argument("--granularity", choices=[*GRANULARITIES, "all"], default="all")
    again.set_defaults(func=_cmd_recompute)


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {"database_url": args.database_url} if getattr(args, "database_url", None) else {}
    return Settings.from_env(**overrides)


def _cmd_recompute(args: argparse.Namespace) -> int:
    settings = _settings(args)
    granularities = GRANULARITIES if args.granularity == "all" else (args.granularity,)

    async def main() -> RunSummary:
        engine = create_engine(settings.database_url, null_pool=True)
        try:
            async with create_sessionmaker(engine)() as session:
                summary = await recompute(
                    session, now=utcnow(), trigger="cli", granularities=granularities
                )
                await session.commit()
                return summary
        finally:
            await engine.dispose()

    summary = asyncio.run(main())
    print(
        f"forecasts recomputed for {summary.origin:%Y-%m}: {summary.series_total} series "
        f"({summary.series_refit} refitted, {summary.series_skipped} unchanged), "
        f"{summary.forecasts_written} forecasts written, {summary.scores_written} scores, "
        f"{summary.duration_ms} ms"
    )
    return 0


async def _database_series(settings: Settings) -> dict[str, dict[str, np.ndarray]]:
    """Monthly booked totals of every node of the hierarchy, up to the last complete month."""
    engine = create_engine(settings.database_url, null_pool=True)
    try:
        async with create_sessionmaker(engine)() as session:
            origin = period_of(utcnow(), "month")
            sales = (
                await load_sales(
                    session,
                    origins={"month": origin},
                    lengths={"month": HISTORY_LENGTH["month"]},
                    horizon=1,
                )
            )["month"]
            tree = await load_hierarchy(session, set(sales.history))
    finally:
        await engine.dispose()
    length = HISTORY_LENGTH["month"]
    empty = np.zeros(length)
    leaves = {k: sales.history.get(k[1], empty) if k[0] == "rep" else empty for k in tree.leaves}
    totals = aggregate(tree.parents, leaves)
    # Drop the months before anything was sold anywhere: they are not history, just padding.
    company = totals[("company", "company")]
    first = int(np.flatnonzero(company)[0]) if company.any() else length
    out: dict[str, dict[str, np.ndarray]] = {level: {} for level in LEVELS}
    for (level, scope_id), values in totals.items():
        out[level][scope_id] = values[first:]
    return out


async def _database_calibration(settings: Settings) -> Calibration:
    """The win rates' calibration on the closed deals of the database (``pipeline.calibration``:
    each month's deals predicted from earlier months only)."""
    engine = create_engine(settings.database_url, null_pool=True)
    try:
        async with create_sessionmaker(engine)() as session:
            opportunities = await load_opportunities(session)
            tree = await load_hierarchy(session, set(opportunities.closed_by_owner))
    finally:
        await engine.dispose()
    by_region: dict[str | None, list[ClosedOutcome]] = {}
    for owner, outcomes in opportunities.closed_by_owner.items():
        region = tree.region_of.get(("rep", owner))
        by_region.setdefault(region, []).extend(outcomes)
    return calibration(by_region)


def _synthetic_series(reps: int, months: int) -> dict[str, dict[str, np.ndarray]]:
    histories = monthly_histories(reps, months)
    per_rep = {f"rep-{i}": h for i, h in enumerate(histories)}
    regions: dict[str, np.ndarray] = {}
    for i, h in enumerate(histories):
        key = f"region-{i % 10}"
        regions[key] = regions.get(key, np.zeros(months)) + h
    return {
        "rep": per_rep,
        "territory": {},
        "region": regions,
        "company": {"company": np.sum(histories, axis=0)},
    }


def _cmd_backtest(args: argparse.Namespace) -> int:
    if args.synthetic:
        series = _synthetic_series(args.synthetic, args.months)
        source = f"synthetic ({args.synthetic} reps × {args.months} months)"
    else:
        series = asyncio.run(_database_series(_settings(args)))
        months = max((v.size for v in series["company"].values()), default=0)
        source = f"database ({months} months of accepted orders)"
    methods = tuple(args.methods.split(",")) if args.methods else ("auto", "seasonal_naive")
    unknown = [m for m in methods if m != "auto" and m not in FORCEABLE]
    if unknown:
        print(f"fieldline forecast backtest: unknown method(s): {', '.join(unknown)}")
        return 2
    levels = LEVELS if args.level == "all" else (args.level,)
    results: dict[str, BacktestResult] = {}
    for level in levels:
        data = series.get(level) or {}
        length = max((v.size for v in data.values()), default=0)
        min_train = args.min_train or (24 if length >= 24 + args.horizon else 12)
        if not data or length <= min_train:
            continue
        results[level] = rolling_origin(
            data,
            season=12,
            horizon=args.horizon,
            min_train=min_train,
            methods=methods,
            last_origins=args.origins,
            window=HISTORY_LENGTH["month"],
            workers=1,
        )
    if not results:
        print(
            "fieldline forecast backtest: not enough history for a backtest "
            "(needs more than 12 months of accepted orders; load `fieldline demo` or use "
            "--synthetic)"
        )
        return 1
    calibrated = None if args.synthetic else asyncio.run(_database_calibration(_settings(args)))
    if args.json:
        report: dict[str, Any] = {
            "source": source,
            "levels": {k: _as_json(v) for k, v in results.items()},
        }
        if calibrated is not None:
            report["win_rate_calibration"] = _calibration_json(calibrated)
        print(json.dumps(report))
        return 0
    _print_tables(source, results)
    if calibrated is not None:
        _print_calibration(calibrated)
    return 0


def _calibration_json(result: Calibration) -> dict[str, Any]:
    return {
        "deals": result.deals,
        "brier": result.brier,
        "brier_base_rate": result.brier_base_rate,
        "deciles": result.deciles,
    }


def _print_calibration(result: Calibration) -> None:
    console = Console()
    if not result.deals:
        console.print("Win rates: no closed deals to measure them on.")
        return
    console.print(
        f"[bold]Win rates[/] on {result.deals} closed deals, each month predicted from earlier "
        f"months: Brier {_fmt(result.brier)} (the running base rate: "
        f"{_fmt(result.brier_base_rate)}; lower is better)"
    )
    table = Table(title="reliability by decile of predicted win probability", title_justify="left")
    for header in ("decile", "predicted", "won", "deals"):
        table.add_column(header, justify="right")
    for i, d in enumerate(result.deciles, start=1):
        table.add_row(str(i), f"{d['predicted']:.1%}", f"{d['won']:.1%}", str(int(d["deals"])))
    console.print(table)


def _as_json(result: BacktestResult) -> dict[str, Any]:
    return {
        "series": result.series,
        "origins": result.origins,
        "horizon": result.horizon,
        "scored_points": result.forecasts,
        "methods": {
            m.method: {
                "mase": m.metrics.mase,
                "wape": m.metrics.wape,
                "smape": m.smape,
                "bias": m.metrics.bias,
                "coverage_80": m.coverage_80,
                "coverage_95": m.coverage_95,
                "coverage_by_horizon": {
                    str(h): {"80": c80, "95": c95}
                    for h, (c80, c95) in m.coverage_by_horizon.items()
                },
                "cpu_s_per_series": m.cpu_s_per_series,
                "mase_vs_seasonal_naive": m.mase_vs_seasonal_naive,
                "wape_vs_seasonal_naive": m.wape_vs_seasonal_naive,
                "used": m.used,
            }
            for m in result.methods
        },
    }


def _fmt(value: float | None, pattern: str = "{:.3f}") -> str:
    return "–" if value is None else pattern.format(value)


def _print_tables(source: str, results: dict[str, BacktestResult]) -> None:
    console = Console()
    console.print(f"[bold]Rolling-origin backtest[/] of run-rate methods — {source}")
    for level, result in results.items():
        table = Table(
            title=f"{level}: {result.series} series, {result.origins} origins, "
            f"horizon {result.horizon}, {result.forecasts} scored points",
            title_justify="left",
        )
        headers = (
            "method",
            "MASE",
            "WAPE",
            "sMAPE",
            "bias",
            "cover 80%",
            "cover 95%",
            "CPU s/series",
            "MASE vs seasonal naive",
            "ran as",
        )
        for header in headers:
            table.add_column(header, justify="left" if header in ("method", "ran as") else "right")
        for m in sorted(
            result.methods, key=lambda s: (s.metrics.mase is None, s.metrics.mase or 0)
        ):
            used = ", ".join(
                f"{k} {v}" for k, v in sorted(m.used.items(), key=lambda kv: -kv[1])[:3]
            )
            table.add_row(
                m.method,
                _fmt(m.metrics.mase),
                _fmt(m.metrics.wape, "{:.1%}"),
                _fmt(m.smape, "{:.1%}"),
                _fmt(m.metrics.bias, "{:+.1%}"),
                _fmt(m.coverage_80, "{:.0%}"),
                _fmt(m.coverage_95, "{:.0%}"),
                _fmt(m.cpu_s_per_series, "{:.3f}"),
                _fmt(m.mase_vs_seasonal_naive),
                used,
            )
        console.print(table)
