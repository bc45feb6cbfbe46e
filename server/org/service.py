"""Regions and territories: visible to the people in them, created and changed by admins."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.service import record as audit
from server.auth.principal import Principal
from server.catalog.models import PriceList
from server.errors import BadRequest, Conflict, NotFound
from server.org.models import Region, Territory
from server.org.schemas import (
    RegionCreate,
    RegionOut,
    RegionUpdate,
    TerritoryCreate,
    TerritoryOut,
    TerritoryUpdate,
)
from server.pagination import Page, paginate
from server.rest import apply_patch, changed_values, to_out
from server.scoping import get_visible, scoped_select

__all__ = [
    "create_region",
    "create_territory",
    "get_region",
    "get_territory",
    "list_regions",
    "list_territories",
    "update_region",
    "update_territory",
]


async def list_regions(
    session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None
) -> Page[RegionOut]:
    return await paginate(
        session,
        scoped_select(principal, Region),
        key=Region.id,
        limit=limit,
        cursor=cursor,
        out=lambda r: to_out(r, RegionOut),
    )


async def get_region(session: AsyncSession, principal: Principal, region_id: str) -> Region:
    return await get_visible(session, principal, Region, region_id)


def _check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequest(f"unknown time zone {name!r}", field="timezone") from None


async def _check_unique_code(
    session: AsyncSession, model: type[Region | Territory], code: str
) -> None:
    if await session.scalar(select(model.id).where(model.code == code)) is not None:
        raise Conflict(f"code {code!r} is taken", field="code")


async def _check_price_list(session: AsyncSession, price_list_id: str | None) -> None:
    if price_list_id is not None and await session.get(PriceList, price_list_id) is None:
        raise NotFound(f"no price list with id {price_list_id}", field="price_list_id")


async def create_region(session: AsyncSession, principal: Principal, data: RegionCreate) -> Region:
    _check_timezone(data.timezone)
    await _check_unique_code(session, Region, data.code)
    await _check_price_list(session, data.price_list_id)
    region = Region(**msgspec.structs.asdict(data))
    session.add(region)
    await session.flush()
    await audit(
        session,
        "region.created",
        actor=principal,
        target_type="region",
        target_id=region.id,
        region_id=region.id,
        details={"code": region.code},
    )
    return region


async def update_region(
    session: AsyncSession, principal: Principal, region_id: str, patch: RegionUpdate
) -> Region:
    region = await get_visible(session, principal, Region, region_id, for_update=True)
    if patch.timezone is not msgspec.UNSET:
        _check_timezone(patch.timezone)
    if patch.code is not msgspec.UNSET and patch.code != region.code:
        await _check_unique_code(session, Region, patch.code)
    if patch.price_list_id is not msgspec.UNSET:
        await _check_price_list(session, patch.price_list_id)
    changed = apply_patch(region, patch)
    await session.flush()
    if changed:
        await audit(
            session,
            "region.updated",
            actor=principal,
            target_type="region",
            target_id=region.id,
            region_id=region.id,
            details={"fields": sorted(changed)},
        )
    return region


async def list_territories(
    session: AsyncSession,
    principal: Principal,
    *,
    region_id: str | None,
    limit: int,
    cursor: str | None,
) -> Page[TerritoryOut]:
    stmt = scoped_select(principal, Territory)
    if region_id:
        stmt = stmt.where(Territory.region_id == region_id)
    return await paginate(
        session,
        stmt,
        key=Territory.id,
        limit=limit,
        cursor=cursor,
        out=lambda t: to_out(t, TerritoryOut),
    )


async def get_territory(
    session: AsyncSession, principal: Principal, territory_id: str
) -> Territory:
    return await get_visible(session, principal, Territory, territory_id)


async def create_territory(
    session: AsyncSession, principal: Principal, data: TerritoryCreate
) -> Territory:
    await get_visible(session, principal, Region, data.region_id, field="region_id")
    await _check_unique_code(session, Territory, data.code)
    territory = Territory(**msgspec.structs.asdict(data))
    session.add(territory)
    await session.flush()
    await audit(
        session,
        "territory.created",
        actor=principal,
        target_type="territory",
        target_id=territory.id,
        region_id=territory.region_id,
        details={"code": territory.code},
    )
    return territory


async def update_territory(
    session: AsyncSession, principal: Principal, territory_id: str, patch: TerritoryUpdate
) -> Territory:
    territory = await get_visible(session, principal, Territory, territory_id, for_update=True)
    if patch.region_id is not msgspec.UNSET:
        await get_visible(session, principal, Region, patch.region_id, field="region_id")
    if patch.code is not msgspec.UNSET and patch.code != territory.code:
        await _check_unique_code(session, Territory, patch.code)
    changed = apply_patch(territory, patch)
    await session.flush()
    if changed:
        await audit(
            session,
            "territory.updated",
            actor=principal,
            target_type="territory",
            target_id=territory.id,
            region_id=territory.region_id,
            details={"fields": sorted(changed_values(patch))},
        )
    return territory
