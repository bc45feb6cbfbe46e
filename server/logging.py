"""Structured request logging: one JSON line per request, never a secret.

Only method, path (no query string: pull cursors and one-time keys live there), status, duration
and the authenticated actor are logged; headers and bodies never are.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import msgspec
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from server.metrics import METRICS

__all__ = [
    "CLIENT_DISCONNECTED",
    "CLIENT_DISCONNECTED_STATUS",
    "RequestLogMiddleware",
    "configure_logging",
]

CLIENT_DISCONNECTED = "fieldline.client_disconnected"
"""Set in a request's ASGI scope once the client has gone (the server said ``http.disconnect``
while the request was being read): what fails after that is the network, not the server."""
CLIENT_DISCONNECTED_STATUS = 499
"""The status such a request is recorded with (nginx's "client closed request"); nobody reads
the answer."""

logger = logging.getLogger("fieldline.request")
_encoder = msgspec.json.Encoder()


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            payload.update(extra)
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return _encoder.encode(payload).decode()


def configure_logging(level: str) -> None:
    root = logging.getLogger("fieldline")
    if any(getattr(h, "_fieldline", False) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter())
    handler._fieldline = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


class RequestLogMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, *, log_requests: bool = True) -> None:
        self.log_requests = log_requests

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        async def watch() -> ReceiveMessage:
            # A client that goes mid-upload (a phone losing its network) makes reading the body
            # fail; the mark lets the error handlers tell that from a failure of the server.
            message = await receive()
            if message["type"] == "http.disconnect":
                scope[CLIENT_DISCONNECTED] = True  # type: ignore[literal-required]
            return message

        try:
            await next_app(scope, watch, capture)
        finally:
            elapsed = time.perf_counter() - start
            # The route template, not the path: ids must not explode the label set.
            route = str(scope.get("path_template") or "unmatched")
            method = str(scope.get("method"))
            METRICS.observe_request(method, route, status, elapsed)
            if scope.get(CLIENT_DISCONNECTED):
                METRICS.observe_disconnect(method, route)
            if self.log_requests:
                user = scope.get("user")
                logger.info(
                    "request",
                    extra={
                        "fields": {
                            "method": scope.get("method"),
                            "path": scope.get("path"),
                            "status": status,
                            "ms": round(elapsed * 1000, 1),
                            "actor": getattr(user, "actor", None),
                        }
                    },
                )
