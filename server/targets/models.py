"""Sales targets (quotas): one amount per scope (rep, territory or region) and calendar month.

A target is set by a manager for their region (or an admin), never synced to devices: it is the
yardstick the manager pages hold sales against, so it lives beside forecasts, not in sync."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, TimestampMixin
from sync.ids import new_id

__all__ = ["Target"]


class Target(TimestampMixin, Base):
    __tablename__ = "targets"
    __table_args__ = (UniqueConstraint("scope_type", "scope_id", "month"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    scope_type: Mapped[str] = mapped_column(String(12))
    """rep, territory or region."""
    scope_id: Mapped[str] = mapped_column(String(36))
    region_id: Mapped[str] = mapped_column(ForeignKey("regions.id"), index=True)
    """The region the scope belongs to: what a manager's reads and writes are scoped by."""
    month: Mapped[date] = mapped_column()
    """The first day of the calendar month."""
    amount: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    set_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
