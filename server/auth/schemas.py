"""Request and response bodies of the auth endpoints and API-key management."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

__all__ = [
    "API_KEY_SCOPES",
    "MIN_PASSWORD_LENGTH",
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyOut",
    "ApiKeyScope",
    "LoginRequest",
    "LoginResult",
    "LoginUser",
    "PasswordChange",
    "RefreshRequest",
]

MIN_PASSWORD_LENGTH = 10

ApiKeyScope = Literal[
    "orders:read", "orders:write", "tickets:read", "tickets:write", "leads:write", "webhooks:manage"
]
API_KEY_SCOPES: tuple[str, ...] = ApiKeyScope.__args__  # type: ignore[attr-defined]


class _Input(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


_NO_NUL = "^[^\x00]*$"
"""Text that is looked up or stored: PostgreSQL refuses a NUL in it (a password is neither)."""


class LoginRequest(_Input):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=80, pattern=_NO_NUL)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    device_name: Annotated[str, msgspec.Meta(min_length=1, max_length=120, pattern=_NO_NUL)]
    device_id: Annotated[str, msgspec.Meta(max_length=64, pattern=_NO_NUL)] | None = None
    """A device this user logged in from before (reused if not revoked)."""
    app_version: Annotated[str, msgspec.Meta(max_length=40, pattern=_NO_NUL)] | None = None


class RefreshRequest(_Input):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=512, pattern=_NO_NUL)]


class PasswordChange(_Input):
    current_password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    new_password: Annotated[str, msgspec.Meta(min_length=MIN_PASSWORD_LENGTH, max_length=1024)]


class LoginUser(msgspec.Struct, kw_only=True):
    id: str
    username: str
    full_name: str
    role: str
    region_id: str | None
    territory_id: str | None
    price_list_id: str | None = None
    """The price list the user's region sells from (what a device prices offline orders with)."""


class LoginResult(msgspec.Struct, kw_only=True):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_at: datetime
    """When the access token expires (ISO 8601, UTC); refresh before then."""
    device_id: str
    user: LoginUser


class ApiKeyCreate(_Input):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=120, pattern=_NO_NUL)]
    scopes: Annotated[list[ApiKeyScope], msgspec.Meta(min_length=1)]


class ApiKeyCreated(msgspec.Struct, kw_only=True):
    id: str
    name: str
    key: str
    """The full key. Shown this once: only its digest is stored."""
    prefix: str
    scopes: list[str]


class ApiKeyOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    created_by_id: str | None
    last_used_at: datetime | None
    revoked_at: datetime | None
