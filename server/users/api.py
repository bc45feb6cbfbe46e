"""``/api/v1/users``: everyone sees the users in their scope; only admins create and change."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, patch, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import principal_of, requires_role
from server.auth.models import Role
from server.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from server.rest import IdParam, OptionalIdQuery, ResourceController, allows, to_out
from server.users import service
from server.users.schemas import RoleName, UserCreate, UserOut, UserUpdate

__all__ = ["UserController"]

_admin = [requires_role(Role.ADMIN)]


class UserController(ResourceController):
    path = "/users"
    tags = ("users",)
    guards = (allows(Role.REP, Role.MANAGER),)

    @get("/", summary="List users in scope")
    async def list_users(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        role: Annotated[RoleName | None, Parameter(required=False)] = None,
        region_id: OptionalIdQuery = None,
        territory_id: OptionalIdQuery = None,
        q: Annotated[str | None, Parameter(required=False, max_length=100)] = None,
        active: bool | None = None,
    ) -> Page[UserOut]:
        return await service.list_users(
            db,
            principal_of(request),
            role=role,
            region_id=region_id,
            territory_id=territory_id,
            q=q,
            active=active,
            limit=limit,
            cursor=cursor,
        )

    @get("/{user_id:str}", summary="One user")
    async def get_user(
        self, request: Request[Any, Any, Any], db: AsyncSession, user_id: IdParam
    ) -> UserOut:
        return to_out(await service.get_user(db, principal_of(request), user_id), UserOut)

    @post("/", guards=_admin, summary="Create a user (admin)")
    async def create_user(
        self, request: Request[Any, Any, Any], db: AsyncSession, data: UserCreate
    ) -> UserOut:
        user = await service.create_user(db, data, actor=principal_of(request))
        return to_out(user, UserOut)

    @patch("/{user_id:str}", guards=_admin, summary="Change a user (admin)")
    async def update_user(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        user_id: IdParam,
        data: UserUpdate,
    ) -> UserOut:
        user = await service.update_user(db, principal_of(request), user_id, data)
        return to_out(user, UserOut)
