"""Authentication: turns a bearer token, session cookie or API key into a ``Principal``.

Every request re-checks the device (not revoked, token generation current) and the user (still
active) in the database, so revoking a lost tablet stops its tokens at once rather than when they
expire. Requests without credentials pass through unauthenticated; the guards decide.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy import bindparam, select, update

from server.auth.models import ApiKey, Device, Role, User
from server.auth.principal import Principal
from server.auth.tokens import decode_access_token, digest
from server.db.base import utcnow
from server.db.session import release_request_connection, request_connection
from server.errors import Unauthorized
from server.org.models import Territory

__all__ = ["SESSION_COOKIE", "AuthMiddleware", "authenticate_token"]

SESSION_COOKIE = "fieldline_session"
_API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)


class AuthMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)
    # Handlers that check a credential of their own (``/metrics``' scrape token) are left alone:
    # their bearer is no user token.
    exclude_opt_key = "own_credentials"

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        try:
            await self._handle(scope, receive, send, next_app)
        finally:
            # Normally the request's session gave it back already (server/db/session.py).
            await release_request_connection(scope)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        headers = Headers.from_scope(scope)
        state = scope["litestar_app"].state
        principal: Principal | None = None
        authorization = headers.get("authorization")
        api_key = headers.get("x-api-key")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized("Authorization header must be 'Bearer <token>'")
            principal = await authenticate_token(state, token.strip(), scope)
        elif api_key:
            principal = await _authenticate_api_key(state, api_key.strip())
        else:
            cookie = _cookie(headers.get("cookie"), SESSION_COOKIE)
            if cookie:
                try:
                    principal = await authenticate_token(state, cookie, scope)
                except Unauthorized:
                    principal = None  # a stale page cookie just means "log in again"
        if principal is not None:
            scope["user"] = principal
        await next_app(scope, receive, send)


def _cookie(raw: str | None, name: str) -> str | None:
    if not raw:
        return None
    for part in raw.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


# Built once: this runs on every request, and building and hashing the statement cost as much
# as running it. Columns, not entities, for the same reason.
_PRINCIPAL_ROW = (
    select(
        User.role,
        User.username,
        User.active,
        User.region_id,
        User.territory_id,
        Territory.region_id.label("territory_region_id"),
        Device.revoked_at,
        Device.token_generation,
    )
    .join(Device, Device.user_id == User.id)
    .outerjoin(Territory, Territory.id == User.territory_id)
    .where(Device.id == bindparam("device_id"), User.id == bindparam("user_id"))
)


async def authenticate_token(state: Any, token: str, scope: Any) -> Principal:
    """``scope``: the request's, whose connection (PostgreSQL) the read then uses."""
    claims = decode_access_token(token, secret=state.settings.secret_key)
    row = await state.lookup.first(
        _PRINCIPAL_ROW,
        {"device_id": claims.device_id, "user_id": claims.user_id},
        await request_connection(state, scope),
    )
    if row is None:
        raise Unauthorized("token refers to an unknown device")
    if row.revoked_at is not None:
        raise Unauthorized("this device has been revoked; log in again")
    if row.token_generation != claims.generation:
        raise Unauthorized("token no longer valid (logged out or refreshed elsewhere)")
    if not row.active:
        raise Unauthorized("user is deactivated")
    return Principal(
        role=Role(row.role),
        user_id=claims.user_id,
        username=row.username,
        device_id=claims.device_id,
        region_id=row.region_id,
        territory_id=row.territory_id,
        territory_region_id=row.territory_region_id,
    )


async def _authenticate_api_key(state: Any, key: str) -> Principal:
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != "flk":
        raise Unauthorized("malformed API key")
    async with state.sessionmaker() as session:
        api_key = (
            await session.execute(select(ApiKey).where(ApiKey.prefix == parts[1]))
        ).scalar_one_or_none()
        if api_key is None or api_key.key_hash != digest(key):
            raise Unauthorized("unknown API key")
        if api_key.revoked_at is not None:
            raise Unauthorized("this API key has been revoked")
        now = utcnow()
        if api_key.last_used_at is None or now - api_key.last_used_at > _API_KEY_TOUCH_INTERVAL:
            await session.execute(
                update(ApiKey).where(ApiKey.id == api_key.id).values(last_used_at=now)
            )
            await session.commit()
    return Principal(role=Role.BACKOFFICE, api_key_id=api_key.id, scopes=frozenset(api_key.scopes))
