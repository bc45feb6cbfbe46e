"""``/api/v1/orders`` (with their lines). The back office reads here with ``orders:read``; its
status write-back lives under /api/v1/backoffice."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Request, get, patch, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import principal_of
from server.auth.models import Role
from server.orders import service
from server.orders.schemas import OrderCreate, OrderOut, OrderStatus, OrderUpdate
from server.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from server.rest import IdParam, OptionalIdQuery, ResourceController, allows, as_utc

__all__ = ["OrderController"]

_READ_SCOPES = ("orders:read", "orders:write")


class OrderController(ResourceController):
    path = "/orders"
    tags = ("orders",)

    @get("/", guards=[allows(Role.REP, Role.MANAGER, scopes=_READ_SCOPES)], summary="List orders")
    async def list_orders(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        status: Annotated[OrderStatus | None, Parameter(required=False)] = None,
        account_id: OptionalIdQuery = None,
        rep_id: OptionalIdQuery = None,
        submitted_after: Annotated[
            datetime | None, Parameter(required=False, description="ISO 8601; UTC if no offset")
        ] = None,
        submitted_before: Annotated[datetime | None, Parameter(required=False)] = None,
    ) -> Page[OrderOut]:
        return await service.list_orders(
            db,
            principal_of(request),
            status=status,
            account_id=account_id,
            rep_id=rep_id,
            submitted_after=as_utc(submitted_after),
            submitted_before=as_utc(submitted_before),
            limit=limit,
            cursor=cursor,
        )

    @get(
        "/{order_id:str}",
        guards=[allows(Role.REP, Role.MANAGER, scopes=_READ_SCOPES)],
        summary="One order with its lines",
    )
    async def get_order(
        self, request: Request[Any, Any, Any], db: AsyncSession, order_id: IdParam
    ) -> OrderOut:
        return await service.get_order(db, principal_of(request), order_id)

    @post("/", guards=[allows(Role.REP)], summary="Take an order (priced by the server)")
    async def create_order(
        self, request: Request[Any, Any, Any], db: AsyncSession, data: OrderCreate
    ) -> OrderOut:
        return await service.create_order(db, principal_of(request), data)

    @patch(
        "/{order_id:str}",
        guards=[allows(Role.REP, Role.MANAGER)],
        summary="Change a draft, or move an order's status",
    )
    async def update_order(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        order_id: IdParam,
        data: OrderUpdate,
    ) -> OrderOut:
        return await service.update_order(db, principal_of(request), order_id, data)
