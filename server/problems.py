"""Every error leaves as RFC 9457 problem+json naming what was wrong (and, where one field is to
blame, which)."""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from server.errors import FieldlineError
from server.logging import CLIENT_DISCONNECTED, CLIENT_DISCONNECTED_STATUS
from sync.errors import InvalidValue

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "exception_handlers",
    "field_from_msgspec_message",
    "problem_response",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
logger = logging.getLogger("fieldline.errors")
_AT_PATH = re.compile(r"at `\$\.?([^`]*)`")
_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")
_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")
_MISSING_PARAMETER = re.compile(r"^Missing required \w+ parameter '([^']+)'")
_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    429: "rate-limited",
}


def problem_response(
    request: Request[Any, Any, Any],
    *,
    status: int,
    title: str,
    detail: str,
    slug: str | None = None,
    field: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": f"https://fieldline.dev/problems/{slug or _SLUGS.get(status, 'error')}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    if field:
        body["field"] = field
    if extra:
        body.update(extra)
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _on_fieldline_error(request: Request[Any, Any, Any], exc: FieldlineError) -> Response[Any]:
    if exc.status >= 500:
        logger.error("service error: %s", exc.detail)
    body = exc.problem(request.url.path)
    return Response(
        body, status_code=exc.status, media_type=PROBLEM_MEDIA_TYPE, headers=exc.headers
    )


def field_from_msgspec_message(message: str) -> str | None:
    """The dotted path of the field a msgspec error blames: ``lines[0].quantity`` from
    "Expected `int` >= 1 - at `$.lines[0].quantity`", ``zzz`` from "Object contains unknown
    field `zzz`", ``name`` from "Object missing required field `name`"."""
    at = _AT_PATH.search(message)
    path = at.group(1) if at else ""
    named = _UNKNOWN_FIELD.search(message) or _MISSING_FIELD.search(message)
    if named:
        return f"{path}.{named.group(1)}" if path else named.group(1)
    return path or None


_field_from_message = field_from_msgspec_message


def _on_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors: list[dict[str, Any]] = []
    if isinstance(exc.extra, list):
        errors = [e for e in exc.extra if isinstance(e, dict)]
    field = None
    detail = exc.detail or "invalid request"
    if errors:
        first = errors[0]
        message = str(first.get("message", ""))
        field = first.get("key") or _field_from_message(message)
        if first.get("source") == "body" or first.get("key") is None:
            field = _field_from_message(message) or field
        detail = message or detail
        if first.get("source") in ("query", "header", "cookie") and isinstance(field, str):
            field = _wire_name(request, field)
    elif exc.detail:
        missing = _MISSING_PARAMETER.match(exc.detail)
        field = missing.group(1) if missing else _field_from_message(exc.detail)
    return problem_response(
        request,
        status=400,
        title="Bad request",
        detail=detail,
        field=field,
        extra={"errors": errors} if errors else None,
    )


def _client_gone(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """The answer to a request whose client disconnected while it was read (Litestar raises a
    500 "client disconnected prematurely"): a line of log, no traceback, and status 499, which
    the request metrics count apart from server errors. Nobody receives the body."""
    if not request.scope.get(CLIENT_DISCONNECTED):
        return None
    logger.info(
        "client disconnected before its request was read",
        extra={"fields": {"method": request.method, "path": request.url.path}},
    )
    return problem_response(
        request,
        status=CLIENT_DISCONNECTED_STATUS,
        title="Client closed request",
        detail="the client disconnected before the request was read",
        slug="client-closed-request",
    )


def _payload_too_large_detail(request: Request[Any, Any, Any]) -> str:
    try:
        limit = request.route_handler.resolve_request_max_body_size()
    except Exception:  # not routed: no handler to ask
        limit = None
    if not limit:
        return "the request body is larger than the server takes"
    return (
        f"the request body is larger than the server takes ({limit} bytes, "
        "FIELDLINE_MAX_BODY_BYTES)"
    )


def _wire_name(request: Request[Any, Any, Any], parameter: str) -> str:
    """The name the client sent a parameter under (``from``), where Litestar's error names the
    handler's argument (``date_from``)."""
    try:
        definition = request.route_handler.parsed_fn_signature.parameters[parameter]
    except (KeyError, AttributeError):
        return parameter
    kwarg = definition.kwarg_definition
    aliases = (getattr(kwarg, kind, None) for kind in ("query", "header", "cookie"))
    return next((alias for alias in aliases if alias), parameter)


def _on_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500 and (gone := _client_gone(request)) is not None:
        return gone
    if status >= 500:
        logger.exception("unhandled HTTP error")
    title = {
        400: "Bad request",
        404: "Not found",
        405: "Method not allowed",
        413: "Payload too large",
        415: "Unsupported media type",
    }.get(status, "Error")
    too_large = isinstance(exc, RequestEntityTooLarge)
    detail = _payload_too_large_detail(request) if too_large else str(exc.detail)
    return problem_response(
        request,
        status=status,
        title=title,
        detail=detail,
        headers=exc.headers or None,
    )


def _on_unhandled(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if (gone := _client_gone(request)) is not None:
        return gone
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        request,
        status=HTTP_500_INTERNAL_SERVER_ERROR,
        title="Internal error",
        detail="the server failed to handle this request; it has been logged",
        slug="internal",
    )


def _on_invalid_value(request: Request[Any, Any, Any], exc: InvalidValue) -> Response[Any]:
    """A value the rulebook refuses (sync.constraints), caught where a REST service or any
    other writer stores it: the same reason, and the field, a sync push would answer."""
    return problem_response(
        request, status=exc.http_status, title="Invalid value", detail=exc.detail, field=exc.field
    )


def _on_recursion(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    # msgspec gives up on a body nested deeper than the interpreter's recursion limit (a JSON
    # or MessagePack array of arrays a few thousand deep) with this message, wherever the body
    # is decoded; any other recursion error is the server's own.
    if "while deserializing" not in str(exc):
        return _on_unhandled(request, exc)
    return problem_response(
        request,
        status=400,
        title="Bad request",
        detail="the request body nests lists or objects too deeply to be read",
    )


exception_handlers: dict[Any, Any] = {
    FieldlineError: _on_fieldline_error,
    InvalidValue: _on_invalid_value,
    ValidationException: _on_validation,
    HTTPException: _on_http_exception,
    RecursionError: _on_recursion,
    Exception: _on_unhandled,
}
