"""``/api/v1/visits`` and their notes."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from litestar import Request, get, patch, post
from litestar.datastructures import State
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import principal_of
from server.auth.models import Role
from server.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from server.rest import IdParam, OptionalIdQuery, ResourceController, allows, to_out
from server.visits import service
from server.visits.schemas import (
    VisitCreate,
    VisitNoteCreate,
    VisitNoteOut,
    VisitOut,
    VisitStatus,
    VisitUpdate,
)

__all__ = ["VisitController"]


class VisitController(ResourceController):
    path = "/visits"
    tags = ("visits",)
    guards = (allows(Role.REP, Role.MANAGER),)

    @get("/", summary="List visits in scope")
    async def list_visits(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        rep_id: OptionalIdQuery = None,
        account_id: OptionalIdQuery = None,
        on: Annotated[
            date | None,
            Parameter(query="date", required=False, description="planned for this day"),
        ] = None,
        status: Annotated[VisitStatus | None, Parameter(required=False)] = None,
    ) -> Page[VisitOut]:
        return await service.list_visits(
            db,
            principal_of(request),
            rep_id=rep_id,
            account_id=account_id,
            on=on,
            status=status,
            limit=limit,
            cursor=cursor,
        )

    @get("/{visit_id:str}", summary="One visit")
    async def get_visit(
        self, request: Request[Any, Any, Any], db: AsyncSession, visit_id: IdParam
    ) -> VisitOut:
        return to_out(await service.get_visit(db, principal_of(request), visit_id), VisitOut)

    @post("/", summary="Plan a visit, or start one (check in)")
    async def create_visit(
        self, request: Request[Any, Any, Any], state: State, db: AsyncSession, data: VisitCreate
    ) -> VisitOut:
        visit = await service.create_visit(db, state.settings, principal_of(request), data)
        return to_out(visit, VisitOut)

    @patch("/{visit_id:str}", summary="Change a visit: check in, check out, cancel, edit")
    async def update_visit(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db: AsyncSession,
        visit_id: IdParam,
        data: VisitUpdate,
    ) -> VisitOut:
        visit = await service.update_visit(
            db, state.settings, principal_of(request), visit_id, data
        )
        return to_out(visit, VisitOut)

    @get("/{visit_id:str}/notes", summary="A visit's notes")
    async def list_notes(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        visit_id: IdParam,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[VisitNoteOut]:
        return await service.list_notes(
            db, principal_of(request), visit_id, limit=limit, cursor=cursor
        )

    @post("/{visit_id:str}/notes", summary="Add a note to a visit (notes are never edited)")
    async def add_note(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        visit_id: IdParam,
        data: VisitNoteCreate,
    ) -> VisitNoteOut:
        note = await service.add_note(db, principal_of(request), visit_id, data)
        return to_out(note, VisitNoteOut)
