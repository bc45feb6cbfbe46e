"""Jinja templates of the manager pages, with the few filters they share."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from jinja2 import Environment
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from server.forecasting.periods import period_label
from server.forecasting.runrate import METHODS

__all__ = ["STATIC_DIR", "TEMPLATE_DIR", "template_config"]

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


def money(value: float | None, compact: bool = False) -> str:
    if value is None:
        return "–"
    if compact:
        for limit, suffix in ((1e6, "M"), (1e3, "k")):
            if abs(value) >= limit:
                return f"€{value / limit:.1f}{suffix}"
    return f"€{value:,.0f}"


def pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.1%}" if signed else f"{value:.1%}"


def num(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def month(value: date) -> str:
    return value.strftime("%b %Y")


def when(value: datetime | None) -> str:
    if value is None:
        return "–"
    return value.astimezone(UTC).strftime("%d %b %Y %H:%M")


def ago(value: datetime | None) -> str:
    if value is None:
        return "–"
    seconds = (datetime.now(UTC) - value).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def _configure(engine: JinjaTemplateEngine) -> None:
    env: Environment = engine.engine
    env.filters.update(money=money, pct=pct, num=num, month=month, when=when, ago=ago)
    env.filters["period"] = lambda start, granularity="month": period_label(start, granularity)
    env.globals["METHODS"] = METHODS


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(
        directory=TEMPLATE_DIR, engine=JinjaTemplateEngine, engine_callback=_configure
    )
