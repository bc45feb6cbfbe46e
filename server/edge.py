"""What every request goes through before any handler sees it: who the client really is, and
refusals of what no handler should see.

Client address. Behind a proxy the TCP peer is the proxy; the caller's address arrives in
``X-Forwarded-For``, a header any client can also write. It is believed only from a peer listed
in ``FIELDLINE_TRUSTED_PROXIES``, and then read from the right: each trusted proxy appends the
address it saw, so the right-most entry that is not itself a trusted proxy is the first address
no one we trust vouches past — the client. Entries to its left were written by the client and
are ignored (taking the left-most, as uvicorn's ``proxy_headers`` used to here, let a caller
choose its own address for the login rate limit and the audit log). ``X-Forwarded-Proto`` from a
trusted peer sets the request's scheme, which decides ``Secure`` cookies and HSTS. The result is
written into the ASGI scope, so ``request.client`` is right for every reader at once.

A NUL character (U+0000) has no place in a path or a query parameter: no id, cursor, date,
enum or search text holds one, and PostgreSQL refuses it in any text it is given, so a NUL that
reached a query failed the request with a 500 on PostgreSQL and quietly matched nothing on
SQLite. It is refused here, once, with a 400 naming the parameter, on both stores alike.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from functools import cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any, cast
from urllib.parse import parse_qsl

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import BadRequest

__all__ = [
    "API_CSP",
    "DOCS_CSP",
    "ClientAddressMiddleware",
    "RefuseNulMiddleware",
    "forwarded_client",
    "security_headers",
]

API_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
"""For everything the server answers, the manager pages included: their scripts and styles
are files served from /manager/static (no CDN, no inline script); inline ``style`` attributes
draw the charts' bars, hence 'unsafe-inline' for styles only. No page may be framed."""
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'"
)
"""The API reference under /schema: Swagger UI's files are served by the app itself
(server/web/apidocs.py), so nothing may come from another host; the page starts the viewer with
an inline script and the viewer styles inline, hence 'unsafe-inline' here (the page holds no
user input, only the OpenAPI document). No page may be framed."""

Network = IPv4Network | IPv6Network


class ClientAddressMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        # Read per request from the app's settings, which a test may replace between lifespans.
        trusted: tuple[Network, ...] = scope["app"].state.settings.trusted_proxy_networks
        peer = scope.get("client")
        if trusted and peer is not None and _within(peer[0], trusted):
            forwarded_for: list[str] = []
            proto: str | None = None
            for name, value in scope["headers"]:
                if name == b"x-forwarded-for":
                    forwarded_for.extend(value.decode("latin-1").split(","))
                elif name == b"x-forwarded-proto":
                    proto = value.decode("latin-1").split(",")[-1].strip().lower()
            client = forwarded_client(forwarded_for, trusted)
            if client is not None:
                scope["client"] = (client, 0)
            if proto in ("http", "https"):
                _own(scope)["scheme"] = proto
        await next_app(scope, receive, send)


async def security_headers(message: Message, scope: Scope) -> None:
    """Headers every response carries, unless its handler set them: nosniff, no framing, a
    content security policy, no referrer leaving the site, and HSTS on https (the scheme the
    client used, which a trusted proxy's ``X-Forwarded-Proto`` tells). A ``before_send`` hook
    rather than a middleware: Litestar answers unknown paths before any middleware runs, and
    those answers need the headers too."""
    if message["type"] != "http.response.start":
        return
    extra = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (
            b"content-security-policy",
            (DOCS_CSP if scope["path"].startswith("/schema") else API_CSP).encode(),
        ),
    ]
    max_age = scope["app"].state.settings.hsts_max_age_s
    if scope.get("scheme") == "https" and max_age > 0:
        extra.append((b"strict-transport-security", f"max-age={max_age}".encode()))
    headers = list(message.get("headers", ()))
    present = {name.lower() for name, _ in headers}
    headers.extend(item for item in extra if item[0] not in present)
    message["headers"] = headers


def _own(scope: Scope) -> MutableMapping[str, Any]:
    # Litestar's scope TypedDicts make ``scheme`` read-only in spirit; ASGI lets middleware set it.
    return cast("MutableMapping[str, Any]", scope)


def forwarded_client(entries: list[str], trusted: tuple[Network, ...]) -> str | None:
    """The client address in ``X-Forwarded-For`` entries appended by trusted proxies: the
    right-most one that is not a trusted proxy itself (the left-most, when all are). None when
    there is no entry, or the one found is not an address (the peer is then kept)."""
    found: str | None = None
    for entry in reversed(entries):
        address = _address(entry)
        if address is None:
            return None
        found = str(address)
        if not any(address in network for network in trusted):
            return found
    return found


@cache
def _address(entry: str) -> IPv4Address | IPv6Address | None:
    text = entry.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "192.0.2.1:443"
        text = text.split(":", 1)[0]
    try:
        return ip_address(text)
    except ValueError:
        return None


def _within(host: str, trusted: tuple[Network, ...]) -> bool:
    address = _address(host)
    return address is not None and any(address in network for network in trusted)


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
