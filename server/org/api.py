"""``/api/v1/regions`` and ``/api/v1/territories``: read in scope, written by admins."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, patch, post
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import principal_of, requires_role
from server.auth.models import Role
from server.org import service
from server.org.schemas import (
    RegionCreate,
    RegionOut,
    RegionUpdate,
    TerritoryCreate,
    TerritoryOut,
    TerritoryUpdate,
)
from server.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from server.rest import IdParam, OptionalIdQuery, ResourceController, allows, to_out

__all__ = ["RegionController", "TerritoryController"]

_admin = [requires_role(Role.ADMIN)]


class RegionController(ResourceController):
    path = "/regions"
    tags = ("organisation",)
    guards = (allows(Role.REP, Role.MANAGER),)

    @get("/", summary="List regions in scope")
    async def list_regions(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[RegionOut]:
        return await service.list_regions(db, principal_of(request), limit=limit, cursor=cursor)

    @get("/{region_id:str}", summary="One region")
    async def get_region(
        self, request: Request[Any, Any, Any], db: AsyncSession, region_id: IdParam
    ) -> RegionOut:
        return to_out(await service.get_region(db, principal_of(request), region_id), RegionOut)

    @post("/", guards=_admin, summary="Create a region (admin)")
    async def create_region(
        self, request: Request[Any, Any, Any], db: AsyncSession, data: RegionCreate
    ) -> RegionOut:
        return to_out(await service.create_region(db, principal_of(request), data), RegionOut)

    @patch("/{region_id:str}", guards=_admin, summary="Change a region (admin)")
    async def update_region(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        region_id: IdParam,
        data: RegionUpdate,
    ) -> RegionOut:
        region = await service.update_region(db, principal_of(request), region_id, data)
        return to_out(region, RegionOut)


class TerritoryController(ResourceController):
    path = "/territories"
    tags = ("organisation",)
    guards = (allows(Role.REP, Role.MANAGER),)

    @get("/", summary="List territories in scope")
    async def list_territories(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        region_id: OptionalIdQuery = None,
    ) -> Page[TerritoryOut]:
        return await service.list_territories(
            db, principal_of(request), region_id=region_id, limit=limit, cursor=cursor
        )

    @get("/{territory_id:str}", summary="One territory")
    async def get_territory(
        self, request: Request[Any, Any, Any], db: AsyncSession, territory_id: IdParam
    ) -> TerritoryOut:
        territory = await service.get_territory(db, principal_of(request), territory_id)
        return to_out(territory, TerritoryOut)

    @post("/", guards=_admin, summary="Create a territory (admin)")
    async def create_territory(
        self, request: Request[Any, Any, Any], db: AsyncSession, data: TerritoryCreate
    ) -> TerritoryOut:
        territory = await service.create_territory(db, principal_of(request), data)
        return to_out(territory, TerritoryOut)

    @patch("/{territory_id:str}", guards=_admin, summary="Change a territory (admin)")
    async def update_territory(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        territory_id: IdParam,
        data: TerritoryUpdate,
    ) -> TerritoryOut:
        territory = await service.update_territory(db, principal_of(request), territory_id, data)
        return to_out(territory, TerritoryOut)
