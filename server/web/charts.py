"""Charts drawn on the server as SVG geometry: forecast versus actual with intervals, and a map
of visit check-ins projected from their coordinates (no tile server, no script)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

__all__ = ["ForecastChart", "MapPoint", "PointMap", "forecast_chart", "point_map"]


@dataclass(frozen=True)
class SeriesPoint:
    period_start: date
    actual: float | None = None
    past_forecast: float | None = None
    forecast: float | None = None
    lower: float | None = None
    upper: float | None = None
    adjusted: float | None = None
    closed: float | None = None


@dataclass
class ForecastChart:
    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    actual_path: str = ""
    past_forecast_path: str = ""
    forecast_path: str = ""
    band_path: str = ""
    now_x: float | None = None
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    actual_dots: list[tuple[float, float, str]] = field(default_factory=list)
    forecast_dots: list[tuple[float, float, str]] = field(default_factory=list)
    adjusted_dots: list[tuple[float, float, str]] = field(default_factory=list)
    closed_bars: list[tuple[float, float, float, float, str]] = field(default_factory=list)
    empty: bool = False


def _nice_step(span: float, ticks: int = 4) -> float:
    raw = span / ticks
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for multiple in (1, 2, 2.5, 5, 10):
        if raw <= multiple * magnitude:
            return multiple * magnitude
    return 10 * magnitude


def _compact(value: float) -> str:
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            text = f"{value / limit:.1f}".rstrip("0").rstrip(".")
            return f"€{text}{suffix}"
    return f"€{value:.0f}"


def _path(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))


def forecast_chart(
    points: Sequence[SeriesPoint], *, width: int = 820, height: int = 300
) -> ForecastChart:
    chart = ForecastChart(width, height, left=64, top=16, right=width - 16, bottom=height - 34)
    values = [
        v
        for p in points
        for v in (p.actual, p.past_forecast, p.forecast, p.upper, p.adjusted, p.closed)
        if v is not None
    ]
    if not points or not values:
        chart.empty = True
        return chart
    step = _nice_step(max(values) or 1.0)
    top_value = math.ceil(max(values) / step) * step or step
    plot_w, plot_h = chart.right - chart.left, chart.bottom - chart.top
    slot = plot_w / len(points)

    def x(i: int) -> float:
        return chart.left + slot * (i + 0.5)

    def y(v: float) -> float:
        return chart.bottom - plot_h * (v / top_value)

    chart.y_ticks = [(y(k * step), _compact(k * step)) for k in range(int(top_value / step) + 1)]
    every = max(1, math.ceil(len(points) / 12))
    chart.x_labels = [
        (x(i), p.period_start.strftime("%b %y")) for i, p in enumerate(points) if i % every == 0
    ]
    actual = [(i, p) for i, p in enumerate(points) if p.actual is not None]
    chart.actual_path = _path([(x(i), y(p.actual or 0)) for i, p in actual])
    chart.actual_dots = [
        (x(i), y(p.actual or 0), f"{p.period_start:%b %Y} actual {_compact(p.actual or 0)}")
        for i, p in actual
    ]
    past = [(i, p) for i, p in enumerate(points) if p.past_forecast is not None]
    chart.past_forecast_path = _path([(x(i), y(p.past_forecast or 0)) for i, p in past])
    future = [(i, p) for i, p in enumerate(points) if p.forecast is not None]
    if future:
        # The forecast line starts from the last actual so the two read as one story.
        lead = [(x(actual[-1][0]), y(actual[-1][1].actual or 0))] if actual else []
        chart.forecast_path = _path(lead + [(x(i), y(p.forecast or 0)) for i, p in future])
        upper = [(x(i), y(p.upper if p.upper is not None else p.forecast or 0)) for i, p in future]
        lower = [(x(i), y(p.lower if p.lower is not None else p.forecast or 0)) for i, p in future]
        if len(future) == 1:
            (ux, uy), (lx, ly) = upper[0], lower[0]
            upper, lower = [(ux - 8, uy), (ux + 8, uy)], [(lx - 8, ly), (lx + 8, ly)]
        chart.band_path = _path(upper + lower[::-1]) + " Z"
        chart.now_x = x(future[0][0]) - slot / 2
        chart.forecast_dots = [
            (
                x(i),
                y(p.forecast or 0),
                f"{p.period_start:%b %Y} forecast {_compact(p.forecast or 0)} "
                f"(80%: {_compact(p.lower or 0)}–{_compact(p.upper or 0)})",
            )
            for i, p in future
        ]
        chart.adjusted_dots = [
            (x(i), y(p.adjusted), f"{p.period_start:%b %Y} adjusted to {_compact(p.adjusted)}")
            for i, p in future
            if p.adjusted is not None
        ]
        bar = min(slot * 0.5, 28)
        chart.closed_bars = [
            (
                x(i) - bar / 2,
                y(p.closed),
                bar,
                chart.bottom - y(p.closed),
                f"{p.period_start:%b %Y} closed so far {_compact(p.closed)}",
            )
            for i, p in future
            if p.closed
        ]
    return chart


@dataclass(frozen=True)
class MapPoint:
    lat: float
    lon: float
    kind: str
    """verified, flagged, unverified or account."""
    label: str


@dataclass
class PointMap:
    width: int
    height: int
    points: list[tuple[float, float, str, str]] = field(default_factory=list)
    scale_label: str = ""
    scale_px: float = 0.0
    empty: bool = False


def point_map(points: Sequence[MapPoint], *, width: int = 460, height: int = 320) -> PointMap:
    """Equirectangular projection around the points' centre (longitudes shrunk by the cosine
    of the latitude, so distances look right at city scale), with a scale bar."""
    result = PointMap(width, height)
    if not points:
        result.empty = True
        return result
    lat0 = sum(p.lat for p in points) / len(points)
    k = math.cos(math.radians(lat0))
    xs = [p.lon * k for p in points]
    ys = [p.lat for p in points]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 0.01)
    pad = 24
    scale = min((width - 2 * pad) / span, (height - 2 * pad) / span)
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    for p, px, py in zip(points, xs, ys, strict=True):
        result.points.append(
            (width / 2 + (px - cx) * scale, height / 2 - (py - cy) * scale, p.kind, p.label)
        )
    km_per_px = 111.32 / scale
    target = km_per_px * width / 4
    nice = _nice_step(target, 1)
    result.scale_px = nice / km_per_px
    result.scale_label = f"{nice:g} km"
    return result
