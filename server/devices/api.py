"""``/api/v1/devices``: your devices (a manager: the region's; an admin: all), and revoking."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import principal_of
from server.auth.models import Role
from server.devices import service
from server.devices.schemas import DeviceOut
from server.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from server.rest import IdParam, OptionalIdQuery, ResourceController, allows, to_out

__all__ = ["DeviceController"]


class DeviceController(ResourceController):
    path = "/devices"
    tags = ("devices",)
    guards = (allows(Role.REP, Role.MANAGER),)

    @get("/", summary="List devices in scope")
    async def list_devices(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        user_id: OptionalIdQuery = None,
        revoked: bool | None = None,
    ) -> Page[DeviceOut]:
        return await service.list_devices(
            db, principal_of(request), user_id=user_id, revoked=revoked, limit=limit, cursor=cursor
        )

    @get("/{device_id:str}", summary="One device")
    async def get_device(
        self, request: Request[Any, Any, Any], db: AsyncSession, device_id: IdParam
    ) -> DeviceOut:
        return to_out(await service.get_device(db, principal_of(request), device_id), DeviceOut)

    @post("/{device_id:str}/revoke", status_code=200, summary="Revoke a device: its tokens stop")
    async def revoke_device(
        self, request: Request[Any, Any, Any], db: AsyncSession, device_id: IdParam
    ) -> DeviceOut:
        device = await service.revoke_device(db, principal_of(request), device_id)
        return to_out(device, DeviceOut)
