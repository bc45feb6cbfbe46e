"""``/api/v1/auth/*`` (login, refresh, logout, password) and ``/api/v1/api-keys`` (admin)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import service
from server.auth.guards import principal_of, requires_role, requires_user
from server.auth.models import Role
from server.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    LoginRequest,
    LoginResult,
    PasswordChange,
    RefreshRequest,
)
from server.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from server.rest import IdParam, ResourceController, to_out

__all__ = ["ApiKeyController", "AuthController", "client_ip"]


def client_ip(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


class AuthController(ResourceController):
    path = "/auth"
    tags = ("auth",)

    @post("/login", status_code=200, opt={"public": True}, summary="Log in from a device")
    async def login(
        self, request: Request[Any, Any, Any], state: State, db: AsyncSession, data: LoginRequest
    ) -> LoginResult:
        return await service.login(
            db,
            state.settings,
            username=data.username,
            password=data.password,
            device_name=data.device_name,
            device_id=data.device_id,
            ip=client_ip(request),
            app_version=data.app_version,
        )

    @post("/refresh", status_code=200, opt={"public": True}, summary="Rotate the refresh token")
    async def refresh(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db: AsyncSession,
        data: RefreshRequest,
    ) -> LoginResult:
        return await service.refresh(
            db, state.settings, refresh_token=data.refresh_token, ip=client_ip(request)
        )

    @post("/logout", status_code=204, guards=[requires_user], summary="End this device's session")
    async def logout(self, request: Request[Any, Any, Any], db: AsyncSession) -> None:
        await service.logout(db, principal_of(request), ip=client_ip(request))

    @post("/password", status_code=204, guards=[requires_user], summary="Change your password")
    async def change_password(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db: AsyncSession,
        data: PasswordChange,
    ) -> None:
        await service.change_password(
            db, state.settings, principal_of(request), data, ip=client_ip(request)
        )


class ApiKeyController(ResourceController):
    path = "/api-keys"
    tags = ("api keys",)
    guards = (requires_role(Role.ADMIN),)

    @post("/", summary="Create a back-office API key (the key is shown once)")
    async def create_key(
        self, request: Request[Any, Any, Any], db: AsyncSession, data: ApiKeyCreate
    ) -> ApiKeyCreated:
        return await service.create_api_key(db, principal_of(request), data)

    @get("/", summary="List API keys (never their key material)")
    async def list_keys(
        self, db: AsyncSession, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> Page[ApiKeyOut]:
        return await service.list_api_keys(db, limit=limit, cursor=cursor)

    @get("/{key_id:str}", summary="One API key")
    async def get_key(self, db: AsyncSession, key_id: IdParam) -> ApiKeyOut:
        return to_out(await service.get_api_key(db, key_id), ApiKeyOut)

    @post("/{key_id:str}/revoke", status_code=200, summary="Revoke an API key")
    async def revoke_key(
        self, request: Request[Any, Any, Any], db: AsyncSession, key_id: IdParam
    ) -> ApiKeyOut:
        api_key = await service.revoke_api_key(db, principal_of(request), key_id)
        return to_out(api_key, ApiKeyOut)
