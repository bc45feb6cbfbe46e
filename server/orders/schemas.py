"""Order bodies. The server prices every order: clients send products, quantities and
discounts, never prices or totals (a device's own total may come along as ``client_total``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec

from server.rest import Id, Money, Percent

__all__ = ["OrderCreate", "OrderLineIn", "OrderLineOut", "OrderOut", "OrderStatus", "OrderUpdate"]

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType

OrderStatus = Literal[
    "draft", "submitted", "accepted", "rejected", "fulfilled", "invoiced", "cancelled"
]
Notes = Annotated[str, msgspec.Meta(max_length=10_000)]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=100_000)]
LineNo = Annotated[int, msgspec.Meta(ge=1, le=10_000)]


class OrderLineIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    product_id: Id
    quantity: Quantity
    discount_pct: Percent = "0"
    line_no: LineNo | None = None
    """Defaults to the line's position (1, 2, 3…). In a PATCH, a line with the line_no of an
    existing line replaces it."""
    suggestion_id: Id | None = None
    """The account's cross-sell suggestion the line was taken from (it must be for this product
    and the order's account; one the nightly job has withdrawn since is still accepted). Written
    once: a PATCH that replaces a line keeps the suggestion it already names."""


class OrderLineOut(msgspec.Struct, kw_only=True):
    id: str
    line_no: int
    product_id: str
    quantity: int
    unit_price: Decimal
    discount_pct: Decimal
    line_total: Decimal
    suggestion_id: str | None = None


class OrderOut(msgspec.Struct, kw_only=True):
    id: str
    account_id: str
    rep_id: str
    price_list_id: str | None
    status: str
    currency: str
    subtotal: Decimal
    discount_total: Decimal
    total: Decimal
    client_total: Decimal | None
    repricing: dict[str, Any] | None
    notes: str | None
    submitted_at: datetime | None
    status_changed_at: datetime | None
    status_reason: str | None
    erp_ref: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    lines: list[OrderLineOut] = []


class OrderCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: Id | None = None
    account_id: Id
    rep_id: Id | None = None
    """Whose order: a rep's own by default; an admin must name the rep."""
    price_list_id: Id | None = None
    """Defaults to the price list of the rep's region."""
    status: OrderStatus = "draft"
    """Created as a draft or straight away submitted; the machine refuses others."""
    notes: Notes | None = None
    lines: Annotated[list[OrderLineIn], msgspec.Meta(max_length=500)] = []
    client_total: Money | None = None
    """The total the client computed; kept for comparison, never used as the total."""


class OrderUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    status: OrderStatus | Unset = UNSET
    status_reason: Annotated[str, msgspec.Meta(max_length=500)] | Unset | None = UNSET
    notes: Notes | Unset | None = UNSET
    price_list_id: Id | Unset = UNSET
    """Drafts only."""
    lines: Annotated[list[OrderLineIn], msgspec.Meta(max_length=500)] | Unset = UNSET
    """Drafts only: each line is added, or replaces the line with its line_no."""
