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
from litestar.types import ASGIApp, Receive, Scope, Send

from server.errors import BadRequest

__all__ = ["ClientAddressMiddleware", "RefuseNulMiddleware", "forwarded_client"]

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
