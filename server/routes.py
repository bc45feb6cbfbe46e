"""Every route handler the app serves, by area. One line per area: add yours here."""

from __future__ import annotations

from typing import Any

from server.health.api import HealthController

__all__ = ["api_handlers", "root_handlers"]


def api_handlers() -> list[Any]:
    """Handlers mounted under /api/v1 (authentication required unless opt={"public": True})."""
    return []


def root_handlers() -> list[Any]:
    """Handlers mounted at the root: probes, manager pages, static assets."""
    return [HealthController]
