"""Jinja templates of the manager pages, with the filters they share. The filters format by the
request's ``Formatter`` (locale and time zone), found in the template context as ``fmt``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from server.forecasting.periods import period_label
from server.forecasting.runrate import METHODS
from server.web.formatting import LOCALES, Formatter, formatter_for

__all__ = ["DEFAULT_FORMATTER", "STATIC_DIR", "TEMPLATE_DIR", "template_config"]

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
DEFAULT_FORMATTER = formatter_for("en", "UTC")


def _fmt(context: Context) -> Formatter:
    found = context.get("fmt")
    return found if isinstance(found, Formatter) else DEFAULT_FORMATTER


def _filter(name: str) -> Callable[..., str]:
    @pass_context
    def apply(context: Context, value: Any, *args: Any) -> str:
        result: str = getattr(_fmt(context), name)(value, *args)
        return result

    return apply


_FILTERS = (
    "money",
    "pct",
    "num",
    "count",
    "distance",
    "when",
    "day",
    "short_day",
    "month",
    "ago",
    "duration",
)


def _configure(engine: JinjaTemplateEngine) -> None:
    env: Environment = engine.engine
    env.filters.update({name: _filter(name) for name in _FILTERS})
    env.filters["period"] = lambda start, granularity="month": period_label(start, granularity)
    env.globals["METHODS"] = METHODS
    env.globals["LOCALES"] = LOCALES


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(
        directory=TEMPLATE_DIR, engine=JinjaTemplateEngine, engine_callback=_configure
    )
