"""Guards as small functions: ``guards=[requires_role(Role.MANAGER, Role.ADMIN)]``.

Guards are coroutines: Litestar runs a plain-function guard in a worker thread, and every API
request passes two of them, so the thread hand-offs cost more than the checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from server.auth.models import Role
from server.auth.principal import Principal
from server.errors import Forbidden, Unauthorized

__all__ = ["Guard", "principal_of", "requires_role", "requires_scope", "requires_user"]

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    user = connection.scope.get("user")
    if not isinstance(user, Principal):
        raise Unauthorized("authentication required: send 'Authorization: Bearer <token>'")
    return user


async def requires_user(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """A person logged in on a device (not an API key)."""
    if principal_of(connection).user_id is None:
        raise Forbidden("this endpoint needs a user login, not an API key")


def requires_role(*roles: Role) -> Guard:
    allowed = frozenset(roles) | {Role.ADMIN}

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = principal_of(connection)
        if principal.role not in allowed:
            raise Forbidden(
                f"role '{principal.role}' may not do this; needs one of "
                + ", ".join(sorted(r.value for r in allowed))
            )

    return guard


def requires_scope(scope: str) -> Guard:
    """An API key must carry ``scope``; a logged-in admin passes."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = principal_of(connection)
        if principal.is_admin or scope in principal.scopes:
            return
        raise Forbidden(f"this needs the '{scope}' scope", extra={"required_scope": scope})

    return guard
