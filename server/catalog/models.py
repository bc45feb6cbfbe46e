"""The product catalogue and price lists (synced to every rep device, read-only there)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, SyncableMixin
from server.db.types import Money

__all__ = ["Price", "PriceList", "Product"]


class Product(SyncableMixin, Base):
    __tablename__ = "products"
    __sync_entity__ = "product"

    sku: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(80), index=True)
    product_line: Mapped[str] = mapped_column(String(80), index=True)
    unit: Mapped[str] = mapped_column(String(20), default="each")
    list_price: Mapped[Decimal] = mapped_column(Money)
    active: Mapped[bool] = mapped_column(default=True)


class PriceList(SyncableMixin, Base):
    __tablename__ = "price_lists"
    __sync_entity__ = "price_list"

    name: Mapped[str] = mapped_column(String(120), unique=True)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")


class Price(SyncableMixin, Base):
    __tablename__ = "prices"
    __sync_entity__ = "price"
    __table_args__ = (UniqueConstraint("price_list_id", "product_id"),)

    price_list_id: Mapped[str] = mapped_column(ForeignKey("price_lists.id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    unit_price: Mapped[Decimal] = mapped_column(Money)
