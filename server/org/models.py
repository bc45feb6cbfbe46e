"""Regions and the sales territories inside them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, TimestampMixin
from sync.ids import new_id

__all__ = ["Region", "Territory"]


class Region(TimestampMixin, Base):
    __tablename__ = "regions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(60), default="UTC")
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    price_list_id: Mapped[str | None] = mapped_column(
        ForeignKey("price_lists.id", use_alter=True), default=None
    )
    """The price list reps of this region sell from."""


class Territory(TimestampMixin, Base):
    __tablename__ = "territories"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    region_id: Mapped[str] = mapped_column(ForeignKey("regions.id"), index=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    center_lat: Mapped[float | None] = mapped_column(default=None)
    center_lon: Mapped[float | None] = mapped_column(default=None)
    boundary: Mapped[list[Any] | None] = mapped_column(default=None)
    """Polygon as a list of [lat, lon] vertices; a point inside it belongs to the territory."""
