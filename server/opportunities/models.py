"""Sales opportunities: the pipeline the forecast weighs by stage."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, SyncableMixin
from server.db.types import Money

__all__ = ["STAGES", "Opportunity"]

STAGES = ("prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost")


class Opportunity(SyncableMixin, Base):
    __tablename__ = "opportunities"
    __sync_entity__ = "opportunity"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    stage: Mapped[str] = mapped_column(String(20), default="prospecting", index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    close_date: Mapped[date] = mapped_column(index=True)
    forecast_category: Mapped[str | None] = mapped_column(String(20), default=None)
    """Rep's call: commit, best_case or pipeline (None: derived from the stage)."""
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
