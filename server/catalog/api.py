"""``/api/v1/products`` and ``/api/v1/price-lists`` (with their prices)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, patch, post, put
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import principal_of, requires_role
from server.auth.models import Role
from server.catalog import service
from server.catalog.schemas import (
    PriceListCreate,
    PriceListDetail,
    PriceListOut,
    PriceListUpdate,
    PriceOut,
    PriceSet,
    ProductCreate,
    ProductOut,
    ProductUpdate,
)
from server.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from server.rest import IdParam, OptionalIdQuery, ResourceController, allows, to_out

__all__ = ["PriceListController", "ProductController"]

_admin = [requires_role(Role.ADMIN)]
Label = Annotated[str | None, Parameter(required=False, max_length=80)]


class ProductController(ResourceController):
    path = "/products"
    tags = ("catalogue",)
    guards = (allows(Role.REP, Role.MANAGER),)

    @get("/", summary="List products")
    async def list_products(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        category: Label = None,
        product_line: Label = None,
        active: bool | None = None,
        q: Annotated[str | None, Parameter(required=False, max_length=100)] = None,
    ) -> Page[ProductOut]:
        return await service.list_products(
            db,
            principal_of(request),
            category=category,
            product_line=product_line,
            active=active,
            q=q,
            limit=limit,
            cursor=cursor,
        )

    @get("/{product_id:str}", summary="One product")
    async def get_product(
        self, request: Request[Any, Any, Any], db: AsyncSession, product_id: IdParam
    ) -> ProductOut:
        product = await service.get_product(db, principal_of(request), product_id)
        return to_out(product, ProductOut)

    @post("/", guards=_admin, summary="Create a product (admin)")
    async def create_product(
        self, request: Request[Any, Any, Any], db: AsyncSession, data: ProductCreate
    ) -> ProductOut:
        product = await service.create_product(db, principal_of(request), data)
        return to_out(product, ProductOut)

    @patch("/{product_id:str}", guards=_admin, summary="Change a product (admin)")
    async def update_product(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        product_id: IdParam,
        data: ProductUpdate,
    ) -> ProductOut:
        product = await service.update_product(db, principal_of(request), product_id, data)
        return to_out(product, ProductOut)


class PriceListController(ResourceController):
    path = "/price-lists"
    tags = ("catalogue",)
    guards = (allows(Role.REP, Role.MANAGER),)

    @get("/", summary="List price lists")
    async def list_price_lists(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[PriceListOut]:
        return await service.list_price_lists(db, principal_of(request), limit=limit, cursor=cursor)

    @get("/{price_list_id:str}", summary="One price list with all its prices")
    async def get_price_list(
        self, request: Request[Any, Any, Any], db: AsyncSession, price_list_id: IdParam
    ) -> PriceListDetail:
        return await service.get_price_list(db, principal_of(request), price_list_id)

    @post("/", guards=_admin, summary="Create a price list (admin)")
    async def create_price_list(
        self, request: Request[Any, Any, Any], db: AsyncSession, data: PriceListCreate
    ) -> PriceListOut:
        price_list = await service.create_price_list(db, principal_of(request), data)
        return to_out(price_list, PriceListOut)

    @patch("/{price_list_id:str}", guards=_admin, summary="Change a price list (admin)")
    async def update_price_list(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        price_list_id: IdParam,
        data: PriceListUpdate,
    ) -> PriceListOut:
        price_list = await service.update_price_list(db, principal_of(request), price_list_id, data)
        return to_out(price_list, PriceListOut)

    @get("/{price_list_id:str}/prices", summary="The prices of a price list, paged")
    async def list_prices(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        price_list_id: IdParam,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        product_id: OptionalIdQuery = None,
    ) -> Page[PriceOut]:
        return await service.list_prices(
            db,
            principal_of(request),
            price_list_id,
            product_id=product_id,
            limit=limit,
            cursor=cursor,
        )

    @put(
        "/{price_list_id:str}/prices/{product_id:str}",
        guards=_admin,
        summary="Set a product's price on the list (admin; 201 when new)",
    )
    async def set_price(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        price_list_id: IdParam,
        product_id: IdParam,
        data: PriceSet,
    ) -> Response[PriceOut]:
        price, created = await service.set_price(
            db, principal_of(request), price_list_id, product_id, data
        )
        return Response(to_out(price, PriceOut), status_code=201 if created else 200)
