"""Charts drawn on the server as SVG geometry: forecast versus actual with intervals, and a map
of visit check-ins projected from their coordinates (no tile server, no script)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

__all__ = [
    "BarChart",
    "ForecastChart",
    "MapPoint",
    "PaceChart",
    "PointMap",
    "bar_chart",
    "forecast_chart",
    "pace_chart",
    "point_map",
]

Label = Callable[[float], str]
DateLabel = Callable[[date], str]


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


def _month_label(day: date) -> str:
    return day.strftime("%b %y")


def forecast_chart(
    points: Sequence[SeriesPoint],
    *,
    width: int = 820,
    height: int = 300,
    money: Label = _compact,
    month: DateLabel = _month_label,
) -> ForecastChart:
    """``money`` and ``month`` write the axis and tooltip text in the viewer's locale. A narrow
    chart (for a phone) keeps its text at a readable size by drawing fewer labels."""
    chart = ForecastChart(width, height, left=76, top=16, right=width - 16, bottom=height - 34)
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

    chart.y_ticks = [(y(k * step), money(k * step)) for k in range(int(top_value / step) + 1)]
    every = max(1, math.ceil(len(points) / (12 if width >= 600 else 5)))
    chart.x_labels = [(x(i), month(p.period_start)) for i, p in enumerate(points) if i % every == 0]
    actual = [(i, p) for i, p in enumerate(points) if p.actual is not None]
    chart.actual_path = _path([(x(i), y(p.actual or 0)) for i, p in actual])
    chart.actual_dots = [
        (x(i), y(p.actual or 0), f"{month(p.period_start)} actual {money(p.actual or 0)}")
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
                f"{month(p.period_start)} forecast {money(p.forecast or 0)} "
                f"(80%: {money(p.lower or 0)}–{money(p.upper or 0)})",
            )
            for i, p in future
        ]
        chart.adjusted_dots = [
            (x(i), y(p.adjusted), f"{month(p.period_start)} adjusted to {money(p.adjusted)}")
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
                f"{month(p.period_start)} closed so far {money(p.closed)}",
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


@dataclass
class PaceChart:
    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    actual_path: str = ""
    expected_path: str = ""
    """Expected to date, then on to the month's end (dashed)."""
    target_y: float | None = None
    target_label: str = ""
    today_x: float | None = None
    end_dot: tuple[float, float, str] | None = None
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    empty: bool = False


def pace_chart(
    days: Sequence[date],
    actual: Sequence[float],
    expected: Sequence[float] | None,
    target: float | None,
    *,
    money: Label = _compact,
    day_label: DateLabel = lambda d: f"{d.day}",
    width: int = 560,
    height: int = 240,
) -> PaceChart:
    """Sales so far this month, summed day by day, against the expected-to-date curve that
    climbs to the target over the month's working days (flat over weekends).

    ``days`` is every day of the month; ``actual`` the running total for the days gone (shorter
    than ``days`` until the month is over); ``expected`` the expected running total for every
    day of the month (None without a target)."""
    chart = PaceChart(width, height, left=76, top=14, right=width - 12, bottom=height - 30)
    top_value = max([*actual, *(expected or []), target or 0.0, 0.0])
    if not days or top_value <= 0:
        chart.empty = True
        return chart
    step = _nice_step(top_value, 4)
    top_value = math.ceil(top_value / step) * step or step
    plot_w, plot_h = chart.right - chart.left, chart.bottom - chart.top
    n = len(days)

    def x(i: float) -> float:
        return chart.left + plot_w * (i + 1) / n

    def y(v: float) -> float:
        return chart.bottom - plot_h * (v / top_value)

    chart.y_ticks = [(y(k * step), money(k * step)) for k in range(int(top_value / step) + 1)]
    every = 7 if width >= 400 else 10
    chart.x_labels = [(x(i), day_label(d)) for i, d in enumerate(days) if i % every == 0]
    if actual:
        chart.actual_path = _path(
            [(chart.left, y(0))] + [(x(i), y(v)) for i, v in enumerate(actual)]
        )
        chart.today_x = x(len(actual) - 1)
        chart.end_dot = (x(len(actual) - 1), y(actual[-1]), money(actual[-1]))
    if expected:
        chart.expected_path = _path(
            [(chart.left, y(0))] + [(x(i), y(v)) for i, v in enumerate(expected)]
        )
    if target:
        chart.target_y = y(target)
        chart.target_label = money(target)
    return chart


@dataclass
class BarChart:
    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    series: list[str]
    bars: list[tuple[float, float, float, float, str, str]] = field(default_factory=list)
    """x, y, width, height, series name (for its colour class), tooltip."""
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    empty: bool = False


def bar_chart(
    labels: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    value: Label = lambda v: f"{v:g}",
    width: int = 560,
    height: int = 220,
    label_every: int = 1,
    min_step: float = 0.0,
) -> BarChart:
    """Stacked vertical bars: one bar per label, one segment per series (in order, bottom up)."""
    chart = BarChart(
        width, height, left=76, top=12, right=width - 10, bottom=height - 30, series=list(series)
    )
    totals = [sum(s[i] for s in series.values()) for i in range(len(labels))]
    if not labels or not totals or max(totals) <= 0:
        chart.empty = True
        return chart
    # Counts step by whole numbers at least: "0, 0, 1, 1, 1" is no axis.
    step = max(_nice_step(max(totals), 4), min_step)
    top_value = math.ceil(max(totals) / step) * step or step
    plot_w, plot_h = chart.right - chart.left, chart.bottom - chart.top
    slot = plot_w / len(labels)
    bar = max(2.0, min(slot * 0.7, 36))

    def y(v: float) -> float:
        return chart.bottom - plot_h * (v / top_value)

    chart.y_ticks = [(y(k * step), value(k * step)) for k in range(int(top_value / step) + 1)]
    for i, label in enumerate(labels):
        cx = chart.left + slot * (i + 0.5)
        if i % label_every == 0:
            chart.x_labels.append((cx, label))
        base = 0.0
        for name, values in series.items():
            v = values[i]
            if v <= 0:
                continue
            chart.bars.append(
                (
                    cx - bar / 2,
                    y(base + v),
                    bar,
                    y(base) - y(base + v),
                    name,
                    f"{label}: {name} {value(v)}",
                )
            )
            base += v
    return chart
