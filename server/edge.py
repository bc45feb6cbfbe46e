"""Refusals every request gets before any handler sees it.

A NUL character (U+0000) has no place in a path or a query parameter: no id, cursor, date,
enum or search text holds one, and PostgreSQL refuses it in any text it is given, so a NUL that
reached a query failed the request with a 500 on PostgreSQL and quietly matched nothing on
SQLite. It is refused here, once, with a 400 naming the parameter, on both stores alike.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from server.errors import BadRequest

__all__ = ["RefuseNulMiddleware"]


class RefuseNulMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        query: bytes = scope.get("query_string", b"")
        # The server hands over the path decoded and the query string as sent: a NUL is "%00"
        # there, or a raw byte from a client that skipped the encoding.
        if b"%00" in query or b"\x00" in query:
            raise BadRequest("a query parameter holds a NUL character", field=_holding_nul(query))
        if "\x00" in scope["path"]:
            raise BadRequest("the path holds a NUL character", field="path")
        await next_app(scope, receive, send)


def _holding_nul(query: bytes) -> str | None:
    """The name of the first query parameter whose name or value holds a NUL."""
    text = query.decode("latin-1")
    for name, value in parse_qsl(text, keep_blank_values=True, encoding="latin-1"):
        if "\x00" in name:
            return name.replace("\x00", "\\0")
        if "\x00" in value:
            return name
    return None
