"""Leads: prospects arriving from the API, imports and the field, assigned to reps."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, SyncableMixin

__all__ = ["Lead"]


class Lead(SyncableMixin, Base):
    __tablename__ = "leads"
    __sync_entity__ = "lead"

    company: Mapped[str] = mapped_column(String(200), index=True)
    contact_name: Mapped[str | None] = mapped_column(String(200), default=None)
    email: Mapped[str | None] = mapped_column(String(200), default=None)
    phone: Mapped[str | None] = mapped_column(String(40), default=None)
    address_line: Mapped[str | None] = mapped_column(String(200), default=None)
    city: Mapped[str | None] = mapped_column(String(120), default=None)
    postal_code: Mapped[str | None] = mapped_column(String(20), default=None)
    country: Mapped[str | None] = mapped_column(String(2), default=None)
    lat: Mapped[float | None] = mapped_column(default=None)
    lon: Mapped[float | None] = mapped_column(default=None)
    notes: Mapped[str | None] = mapped_column(Text, default=None)
    source: Mapped[str] = mapped_column(String(20), default="api")
    """api, import, field."""
    product_line: Mapped[str | None] = mapped_column(String(80), default=None)
    language: Mapped[str | None] = mapped_column(String(10), default=None)
    region_id: Mapped[str | None] = mapped_column(ForeignKey("regions.id"), default=None, index=True)
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    """new → assigned → contacted → qualified → converted, or disqualified."""
    captured_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    # Server-owned: a device can never set who a lead belongs to.
    assignee_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id"), default=None, index=True
    )
    assigned_at: Mapped[datetime | None] = mapped_column(default=None)
    assignment_kind: Mapped[str | None] = mapped_column(String(20), default=None)
    """auto, manual, sla_reroute."""
    unassigned_reason: Mapped[str | None] = mapped_column(String(40), default=None)
    first_touch_due_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    contacted_at: Mapped[datetime | None] = mapped_column(default=None)
