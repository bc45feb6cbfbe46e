"""Product, price list and price bodies. Amounts travel as decimal strings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import msgspec

from server.rest import Id, Money

__all__ = [
    "PriceListCreate",
    "PriceListDetail",
    "PriceListOut",
    "PriceListUpdate",
    "PriceOut",
    "PriceSet",
    "ProductCreate",
    "ProductOut",
    "ProductUpdate",
]

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType

Sku = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,40}$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
Unit = Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217")]


class ProductOut(msgspec.Struct, kw_only=True):
    id: str
    sku: str
    name: str
    category: str
    product_line: str
    unit: str
    list_price: Decimal
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class ProductCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: Id | None = None
    sku: Sku
    name: Name
    category: Label
    product_line: Label
    unit: Unit = "each"
    list_price: Money
    active: bool = True


class ProductUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    sku: Sku | Unset = UNSET
    name: Name | Unset = UNSET
    category: Label | Unset = UNSET
    product_line: Label | Unset = UNSET
    unit: Unit | Unset = UNSET
    list_price: Money | Unset = UNSET
    active: bool | Unset = UNSET


class PriceOut(msgspec.Struct, kw_only=True):
    id: str
    price_list_id: str
    product_id: str
    unit_price: Decimal
    version: int
    updated_at: datetime


class PriceListOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    currency: str
    version: int
    created_at: datetime
    updated_at: datetime


class PriceListDetail(PriceListOut, kw_only=True):
    prices: list[PriceOut]


class PriceListCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: Id | None = None
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
    currency: Currency = "EUR"


class PriceListUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=120)] | Unset = UNSET
    currency: Currency | Unset = UNSET


class PriceSet(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    unit_price: Money
