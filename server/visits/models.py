"""Customer visits: planned, checked in with a GPS fix, checked out with an outcome."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, SyncableMixin

__all__ = ["Visit", "VisitNote"]


class Visit(SyncableMixin, Base):
    __tablename__ = "visits"
    __sync_entity__ = "visit"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    rep_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="planned")
    """planned → in_progress → completed, or cancelled (sync.machines.VISIT)."""
    planned_for: Mapped[date | None] = mapped_column(default=None, index=True)
    route_position: Mapped[int | None] = mapped_column(default=None)
    purpose: Mapped[str | None] = mapped_column(String(200), default=None)
    check_in_at: Mapped[datetime | None] = mapped_column(default=None)
    check_in_lat: Mapped[float | None] = mapped_column(default=None)
    check_in_lon: Mapped[float | None] = mapped_column(default=None)
    check_in_accuracy_m: Mapped[float | None] = mapped_column(default=None)
    check_out_at: Mapped[datetime | None] = mapped_column(default=None)
    outcome: Mapped[str | None] = mapped_column(String(40), default=None)
    notes: Mapped[str | None] = mapped_column(Text, default=None)
    duration_s: Mapped[int | None] = mapped_column(default=None)
    # Verification: computed by the server from the fix and the account's coordinates; what a
    # device sends for these is recomputed, never trusted.
    distance_m: Mapped[float | None] = mapped_column(default=None)
    verified: Mapped[bool] = mapped_column(default=False)
    verification_score: Mapped[float | None] = mapped_column(default=None)
    flags: Mapped[list[str]] = mapped_column(default=list)


class VisitNote(SyncableMixin, Base):
    """Notes taken during a visit: append-only, so two devices never conflict over them."""

    __tablename__ = "visit_notes"
    __sync_entity__ = "visit_note"

    visit_id: Mapped[str] = mapped_column(ForeignKey("visits.id"), index=True)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
