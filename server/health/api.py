"""Liveness and readiness probes for the proxy and the orchestrator."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.datastructures import State
from litestar.response import Response
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE
from sqlalchemy import text

from server import __version__

__all__ = ["HealthController"]


class HealthController(Controller):
    path = "/health"
    tags = ("health",)

    @get("/live", summary="The process is up", opt={"public": True})
    async def live(self) -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @get("/ready", summary="The process can reach its database", opt={"public": True})
    async def ready(self, state: State) -> Response[dict[str, Any]]:
        try:
            async with state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # any driver error means "not ready"
            return Response(
                {"status": "unavailable", "database": type(exc).__name__},
                status_code=HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response({"status": "ok", "database": state.engine.dialect.name})
