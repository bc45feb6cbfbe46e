"""``/api/v1/opportunities``."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, patch, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import principal_of
from server.auth.models import Role
from server.opportunities import service
from server.opportunities.schemas import (
    OpportunityCreate,
    OpportunityOut,
    OpportunityUpdate,
    Stage,
)
from server.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from server.rest import IdParam, OptionalIdQuery, ResourceController, allows, to_out

__all__ = ["OpportunityController"]


class OpportunityController(ResourceController):
    path = "/opportunities"
    tags = ("opportunities",)
    guards = (allows(Role.REP, Role.MANAGER),)

    @get("/", summary="List opportunities in scope")
    async def list_opportunities(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        stage: Annotated[Stage | None, Parameter(required=False)] = None,
        owner_id: OptionalIdQuery = None,
        account_id: OptionalIdQuery = None,
    ) -> Page[OpportunityOut]:
        return await service.list_opportunities(
            db,
            principal_of(request),
            stage=stage,
            owner_id=owner_id,
            account_id=account_id,
            limit=limit,
            cursor=cursor,
        )

    @get("/{opportunity_id:str}", summary="One opportunity")
    async def get_opportunity(
        self, request: Request[Any, Any, Any], db: AsyncSession, opportunity_id: IdParam
    ) -> OpportunityOut:
        opportunity = await service.get_opportunity(db, principal_of(request), opportunity_id)
        return to_out(opportunity, OpportunityOut)

    @post("/", summary="Open an opportunity")
    async def create_opportunity(
        self, request: Request[Any, Any, Any], db: AsyncSession, data: OpportunityCreate
    ) -> OpportunityOut:
        opportunity = await service.create_opportunity(db, principal_of(request), data)
        return to_out(opportunity, OpportunityOut)

    @patch("/{opportunity_id:str}", summary="Change an opportunity, move its stage")
    async def update_opportunity(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        opportunity_id: IdParam,
        data: OpportunityUpdate,
    ) -> OpportunityOut:
        opportunity = await service.update_opportunity(
            db, principal_of(request), opportunity_id, data
        )
        return to_out(opportunity, OpportunityOut)
