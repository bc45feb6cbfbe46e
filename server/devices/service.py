"""Devices: listing the ones in scope and revoking a lost or stolen one."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.service import record as audit
from server.auth.models import Device, User
from server.auth.principal import Principal
from server.auth.service import end_device_sessions
from server.db.base import utcnow
from server.devices.schemas import DeviceOut
from server.pagination import Page, paginate
from server.rest import to_out
from server.scoping import get_visible, scoped_select

__all__ = ["get_device", "list_devices", "revoke_device"]


async def list_devices(
    session: AsyncSession,
    principal: Principal,
    *,
    user_id: str | None,
    revoked: bool | None,
    limit: int,
    cursor: str | None,
) -> Page[DeviceOut]:
    stmt = scoped_select(principal, Device)
    if user_id:
        stmt = stmt.where(Device.user_id == user_id)
    if revoked is not None:
        stmt = stmt.where(
            Device.revoked_at.is_not(None) if revoked else Device.revoked_at.is_(None)
        )
    return await paginate(
        session, stmt, key=Device.id, limit=limit, cursor=cursor, out=lambda d: to_out(d, DeviceOut)
    )


async def get_device(session: AsyncSession, principal: Principal, device_id: str) -> Device:
    return await get_visible(session, principal, Device, device_id)


async def revoke_device(session: AsyncSession, principal: Principal, device_id: str) -> Device:
    """Revoked at once: the middleware checks every request against the device row, so the
    device's access tokens fail from the next request on and its refresh token is gone."""
    device = await get_visible(session, principal, Device, device_id, for_update=True)
    if device.revoked_at is not None:
        return device
    device.revoked_at = utcnow()
    end_device_sessions(device)
    owner = await session.get(User, device.user_id)
    await audit(
        session,
        "device.revoked",
        actor=principal,
        target_type="device",
        target_id=device.id,
        region_id=owner.region_id if owner else None,
        details={"device_name": device.name, "owner_id": device.user_id},
    )
    await session.flush()
    return device
