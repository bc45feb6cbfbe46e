"""What the back-office API takes and gives: msgspec Structs (money as decimal strings)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

__all__ = [
    "EVENTS",
    "AccountRef",
    "AckIn",
    "AttemptOut",
    "ConsumerOut",
    "DeliveryOut",
    "DeliveryPage",
    "FeedPage",
    "OrderLineOut",
    "OrderOut",
    "Pricing",
    "StatusIn",
    "StatusOut",
    "WebhookCreated",
    "WebhookEvent",
    "WebhookIn",
    "WebhookOut",
]

WebhookEvent = Literal["order.submitted", "order.status_changed", "ticket.opened", "lead.assigned"]
EVENTS: tuple[str, ...] = (
    "order.submitted",
    "order.status_changed",
    "ticket.opened",
    "lead.assigned",
)

BackofficeStatus = Literal["accepted", "rejected", "fulfilled", "invoiced", "cancelled"]
ConsumerName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._:-]+$")
]
Cursor = Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]


# msgspec passes these options on to subclasses, but type checkers do not see the inherited
# ``frozen``: each subclass repeats ``frozen=True`` so they agree with the runtime.
class _In(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class _Out(msgspec.Struct, frozen=True, kw_only=True):
    pass


class AccountRef(_Out, frozen=True):
    id: str
    name: str
    city: str | None
    postal_code: str | None


class Pricing(_Out, frozen=True):
    currency: str
    subtotal: Decimal
    discount_total: Decimal
    total: Decimal


class OrderLineOut(_Out, frozen=True):
    id: str
    line_no: int
    product_id: str
    sku: str | None
    product_name: str | None
    quantity: int
    unit_price: Decimal
    discount_pct: Decimal
    line_total: Decimal


class OrderOut(_Out, frozen=True):
    id: str
    status: str
    account: AccountRef | None
    rep_id: str
    submitted_at: datetime | None
    pricing: Pricing
    lines: list[OrderLineOut]
    notes: str | None = None
    status_reason: str | None = None
    erp_ref: str | None = None
    status_changed_at: datetime | None = None
    version: int = 0


class FeedPage(_Out, frozen=True):
    orders: list[OrderOut]
    cursor: str
    """Pass it back as ``after`` for the next page (also when ``orders`` is empty)."""
    more: bool


class AckIn(_In, frozen=True):
    consumer: ConsumerName
    cursor: Cursor


class ConsumerOut(_Out, frozen=True):
    consumer: str
    cursor: str
    acked_at: datetime


class StatusIn(_In, frozen=True):
    status: BackofficeStatus
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)] | None = None
    erp_ref: Annotated[str, msgspec.Meta(min_length=1, max_length=80)] | None = None


class StatusOut(_Out, frozen=True):
    id: str
    status: str
    status_reason: str | None
    erp_ref: str | None
    status_changed_at: datetime | None


class WebhookIn(_In, frozen=True):
    url: Annotated[str, msgspec.Meta(min_length=8, max_length=2000)]
    events: Annotated[list[WebhookEvent], msgspec.Meta(min_length=1)]
    secret: Annotated[str, msgspec.Meta(min_length=16, max_length=200)] | None = None
    """Omit it and the server generates one (returned once, in the answer)."""


class WebhookOut(_Out, frozen=True):
    id: str
    url: str
    events: list[str]
    active: bool
    created_by: str
    created_at: datetime


class WebhookCreated(WebhookOut, frozen=True):
    secret: str
    """Shown only now: keep it to verify the ``Fieldline-Signature`` header."""


class AttemptOut(_Out, frozen=True):
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(_Out, frozen=True):
    id: str
    subscription_id: str
    event: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    payload: dict[str, object]
    log: list[AttemptOut]


class DeliveryPage(_Out, frozen=True):
    deliveries: list[DeliveryOut]
    next: str | None
    """Pass it as ``before`` for older deliveries; None when there are none."""
