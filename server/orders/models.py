"""Orders taken in the field, their lines, and the back office's verdict on them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, SyncableMixin
from server.db.types import Money

__all__ = ["Order", "OrderLine"]


class Order(SyncableMixin, Base):
    __tablename__ = "orders"
    __sync_entity__ = "order"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    rep_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    price_list_id: Mapped[str | None] = mapped_column(ForeignKey("price_lists.id"), default=None)
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    """draft → submitted → accepted → fulfilled → invoiced; or rejected / cancelled
    (sync.machines.ORDER)."""
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    subtotal: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    discount_total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    client_total: Mapped[Decimal | None] = mapped_column(Money, default=None)
    """The total the device computed offline; differs from ``total`` when the server re-priced."""
    repricing: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    """When prices changed while the rep was offline: old and new total and per-line prices."""
    notes: Mapped[str | None] = mapped_column(Text, default=None)
    submitted_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    status_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    status_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    erp_ref: Mapped[str | None] = mapped_column(String(80), default=None)


class OrderLine(SyncableMixin, Base):
    __tablename__ = "order_lines"
    __sync_entity__ = "order_line"

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    line_no: Mapped[int] = mapped_column(default=1)
    quantity: Mapped[int] = mapped_column(default=1)
    unit_price: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    discount_pct: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    line_total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    suggestion_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    """The suggestion the rep took the line from. No foreign key: suggestions are replaced as
    the job relearns, and the line keeps the id (acceptance is counted from it)."""
