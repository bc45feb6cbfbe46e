"""The catalogue: every caller reads it, only admins change it."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.principal import Principal
from server.catalog.models import Price, PriceList, Product
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
from server.errors import Conflict
from server.pagination import Page, paginate
from server.rest import apply_patch, claim_id, to_decimal, to_out
from server.scoping import get_visible, scoped_select

__all__ = [
    "create_price_list",
    "create_product",
    "get_price_list",
    "get_product",
    "list_price_lists",
    "list_prices",
    "list_products",
    "set_price",
    "update_price_list",
    "update_product",
]


async def list_products(
    session: AsyncSession,
    principal: Principal,
    *,
    category: str | None,
    product_line: str | None,
    active: bool | None,
    q: str | None,
    limit: int,
    cursor: str | None,
) -> Page[ProductOut]:
    stmt = scoped_select(principal, Product)
    if category:
        stmt = stmt.where(Product.category == category)
    if product_line:
        stmt = stmt.where(Product.product_line == product_line)
    if active is not None:
        stmt = stmt.where(Product.active.is_(active))
    if q:
        stmt = stmt.where(
            or_(
                Product.name.icontains(q, autoescape=True),
                Product.sku.icontains(q, autoescape=True),
            )
        )
    return await paginate(
        session,
        stmt,
        key=Product.id,
        limit=limit,
        cursor=cursor,
        out=lambda p: to_out(p, ProductOut),
    )


async def get_product(session: AsyncSession, principal: Principal, product_id: str) -> Product:
    return await get_visible(session, principal, Product, product_id)


async def _check_sku(session: AsyncSession, sku: str) -> None:
    if await session.scalar(select(Product.id).where(Product.sku == sku)) is not None:
        raise Conflict(f"SKU {sku!r} is taken", field="sku")


async def create_product(
    session: AsyncSession, principal: Principal, data: ProductCreate
) -> Product:
    await _check_sku(session, data.sku)
    fields: dict[str, Any] = msgspec.structs.asdict(data)
    fields.update(
        id=await claim_id(session, Product, data.id), list_price=to_decimal(data.list_price)
    )
    product = Product(**fields)
    session.add(product)
    await session.flush()
    return product


async def update_product(
    session: AsyncSession, principal: Principal, product_id: str, patch: ProductUpdate
) -> Product:
    product = await get_visible(session, principal, Product, product_id, for_update=True)
    if patch.sku is not msgspec.UNSET and patch.sku != product.sku:
        await _check_sku(session, patch.sku)
    if patch.list_price is not msgspec.UNSET:
        patch = msgspec.structs.replace(patch, list_price=to_decimal(patch.list_price))
    apply_patch(product, patch)
    await session.flush()
    return product


async def list_price_lists(
    session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None
) -> Page[PriceListOut]:
    return await paginate(
        session,
        scoped_select(principal, PriceList),
        key=PriceList.id,
        limit=limit,
        cursor=cursor,
        out=lambda p: to_out(p, PriceListOut),
    )


async def get_price_list(
    session: AsyncSession, principal: Principal, price_list_id: str
) -> PriceListDetail:
    price_list = await get_visible(session, principal, PriceList, price_list_id)
    prices = (
        await session.execute(
            scoped_select(principal, Price)
            .where(Price.price_list_id == price_list.id)
            .order_by(Price.id)
        )
    ).scalars()
    out = to_out(price_list, PriceListOut)
    return PriceListDetail(
        **msgspec.structs.asdict(out), prices=[to_out(p, PriceOut) for p in prices]
    )


async def _check_name(session: AsyncSession, name: str) -> None:
    if await session.scalar(select(PriceList.id).where(PriceList.name == name)) is not None:
        raise Conflict(f"a price list named {name!r} exists", field="name")


async def create_price_list(
    session: AsyncSession, principal: Principal, data: PriceListCreate
) -> PriceList:
    await _check_name(session, data.name)
    price_list = PriceList(
        id=await claim_id(session, PriceList, data.id), name=data.name, currency=data.currency
    )
    session.add(price_list)
    await session.flush()
    return price_list


async def update_price_list(
    session: AsyncSession, principal: Principal, price_list_id: str, patch: PriceListUpdate
) -> PriceList:
    price_list = await get_visible(session, principal, PriceList, price_list_id, for_update=True)
    if patch.name is not msgspec.UNSET and patch.name != price_list.name:
        await _check_name(session, patch.name)
    apply_patch(price_list, patch)
    await session.flush()
    return price_list


async def list_prices(
    session: AsyncSession,
    principal: Principal,
    price_list_id: str,
    *,
    product_id: str | None,
    limit: int,
    cursor: str | None,
) -> Page[PriceOut]:
    await get_visible(session, principal, PriceList, price_list_id)
    stmt = scoped_select(principal, Price).where(Price.price_list_id == price_list_id)
    if product_id:
        stmt = stmt.where(Price.product_id == product_id)
    return await paginate(
        session, stmt, key=Price.id, limit=limit, cursor=cursor, out=lambda p: to_out(p, PriceOut)
    )


async def set_price(
    session: AsyncSession,
    principal: Principal,
    price_list_id: str,
    product_id: str,
    data: PriceSet,
) -> tuple[Price, bool]:
    """Create or change the product's price on the list; returns (price, created)."""
    await get_visible(session, principal, PriceList, price_list_id)
    await get_visible(session, principal, Product, product_id, field="product_id")
    price = (
        await session.execute(
            select(Price)
            .where(Price.price_list_id == price_list_id, Price.product_id == product_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    created = price is None
    if price is None:
        price = Price(
            price_list_id=price_list_id,
            product_id=product_id,
            unit_price=to_decimal(data.unit_price),
        )
        session.add(price)
    else:
        price.unit_price = to_decimal(data.unit_price)
    await session.flush()
    return price, created
