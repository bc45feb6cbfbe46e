"""Logging: every logger of the process — Fieldline's, uvicorn's, httpx's, APScheduler's,
Alembic's, SQLAlchemy's, warnings — writes one JSON line per record to stderr, through one
handler configured once (``configure_logging``, the standard library's ``dictConfig``).

Two filters sit on that handler, so no record reaches the stream without them:

* ``ContextFilter`` adds the process's HLC node (which replica wrote the line) and the id of the
  request being served (``X-Request-ID``: the caller's, when it is a sane token, else a new one,
  echoed in the response), kept in a context variable that follows the request's task.
* ``RedactFilter`` renders the message and removes what must never be written down: URL query
  strings (pull cursors, one-time keys, webhook tokens), credentials in URLs, bearer and basic
  credentials, JWTs, refresh tokens and API keys, and ``password=``/``token: …``-style pairs;
  structured fields whose name says secret are blanked whole; tracebacks are rendered and
  redacted too.

Request lines hold method, path (never the query string), status, duration, actor and request
id; headers and bodies are never logged.
"""

from __future__ import annotations

import logging
import logging.config
import re
import secrets
import time
from contextvars import ContextVar
from typing import Any

import msgspec
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from server.metrics import METRICS
from server.sync.clock import server_clock

__all__ = [
    "CLIENT_DISCONNECTED",
    "CLIENT_DISCONNECTED_STATUS",
    "REQUEST_ID_HEADER",
    "ContextFilter",
    "JsonFormatter",
    "RedactFilter",
    "RequestLogMiddleware",
    "configure_logging",
    "redact",
    "request_id",
]

CLIENT_DISCONNECTED = "fieldline.client_disconnected"
"""Set in a request's ASGI scope once the client has gone (the server said ``http.disconnect``
while the request was being read): what fails after that is the network, not the server."""
CLIENT_DISCONNECTED_STATUS = 499
"""The status such a request is recorded with (nginx's "client closed request"); nobody reads
the answer."""
REQUEST_ID_HEADER = "x-request-id"

logger = logging.getLogger("fieldline.request")
_encoder = msgspec.json.Encoder()
request_id: ContextVar[str | None] = ContextVar("fieldline_request_id", default=None)
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

REDACTED = "[redacted]"
_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*://"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # user:password@ in any URL (database URLs in an error, say).
    (re.compile(rf"({_SCHEME}[^\s/:@\"'<>]*):[^\s/@\"'<>]+@"), rf"\1:{REDACTED}@"),
    # A query string after a URL or an absolute path.
    (
        re.compile(rf"((?:{_SCHEME}[^\s?#\"'<>]*)|(?<![\w/.])/[^\s?#\"'<>]*)\?[^\s#\"'<>]+"),
        rf"\1?{REDACTED}",
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {REDACTED}"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"\bfl[kr]_[A-Za-z0-9_.-]+"), REDACTED),
    (
        re.compile(
            r"(?i)([\"']?\b(?:password|passwd|secret|secret_key|token|access_token|"
            r"refresh_token|api_key|x-api-key|authorization|cookie)\b[\"']?\s*[:=]\s*)"
            r"(\"[^\"]*\"|'[^']*'|[^\s,;}&]+)"
        ),
        rf"\1{REDACTED}",
    ),
)
_SECRET_FIELD = re.compile(r"(?i)password|secret|token|authorization|api_key|cookie|credential")


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(key: str, value: Any) -> Any:
    if _SECRET_FIELD.search(key):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    return value


class RedactFilter(logging.Filter):
    """Renders each record's message (and traceback) once, redacted; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {k: _redact_value(k, v) for k, v in fields.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.node = server_clock.node
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "node": getattr(record, "node", None),
        }
        rid = getattr(record, "request_id", None)
        if rid is not None:
            payload["request_id"] = rid
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            payload.update(extra)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exc"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        return _encoder.encode(payload).decode()


# Libraries that log every request or statement at INFO/DEBUG with URLs and parameters are held
# at WARNING; the rest keep their INFO lines, as JSON.
_LIBRARY_LEVELS = {
    "httpx": "WARNING",
    "httpcore": "WARNING",
    "sqlalchemy": "WARNING",
    "aiosqlite": "WARNING",
    "asyncio": "WARNING",
    "apscheduler.executors": "WARNING",
}


def configure_logging(level: str) -> None:
    """Route every logger through the one JSON handler on the root (idempotent)."""
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {
                "context": {"()": ContextFilter},
                "redact": {"()": RedactFilter},
            },
            "formatters": {"json": {"()": JsonFormatter}},
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "stream": "ext://sys.stderr",
                    "formatter": "json",
                    "filters": ["context", "redact"],
                }
            },
            "root": {"level": level.upper(), "handlers": ["stderr"]},
            "loggers": {
                # Their own handlers (uvicorn's plain-text defaults, Alembic's fileConfig) go:
                # records propagate to the root's.
                **{
                    name: {"handlers": [], "propagate": True}
                    for name in (
                        "fieldline",
                        "uvicorn",
                        "uvicorn.error",
                        "uvicorn.access",
                        "alembic",
                        "apscheduler",
                    )
                },
                **{
                    name: {"level": floor, "handlers": [], "propagate": True}
                    for name, floor in _LIBRARY_LEVELS.items()
                },
            },
        }
    )
    logging.captureWarnings(True)


class RequestLogMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, *, log_requests: bool = True) -> None:
        self.log_requests = log_requests

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        start = time.perf_counter()
        status = 500
        rid = _incoming_request_id(scope) or secrets.token_hex(8)
        reset = request_id.set(rid)

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (REQUEST_ID_HEADER.encode(), rid.encode()),
                ]
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
            request_id.reset(reset)


def _incoming_request_id(scope: Scope) -> str | None:
    """The caller's (or an outer proxy's) request id, when it is a short plain token: anything
    else could forge log structure or carry a secret, and is replaced."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _SANE_ID.match(text) else None
    return None
