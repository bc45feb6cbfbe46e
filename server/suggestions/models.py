"""Suggestions: what else an account might buy, learned from order history (docs/suggestions.md).
Synced read-only to the reps of the account's territory; a tombstoned one stays in the table,
so the order lines taken from it can still be counted as acceptances."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, SyncableMixin

__all__ = ["Suggestion"]


class Suggestion(SyncableMixin, Base):
    __tablename__ = "suggestions"
    __sync_entity__ = "suggestion"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    kind: Mapped[str] = mapped_column(String(20))
    """``cross_sell`` (bought together with what the account buys) or ``up_sell`` (the higher
    tier of a product it buys)."""
    rank: Mapped[int] = mapped_column(default=1)
    score: Mapped[float] = mapped_column(default=0.0)
    """The rule's confidence: the share of accounts buying ``because_product_id`` that also buy
    ``product_id``."""
    support: Mapped[int] = mapped_column(default=0)
    """Accounts that buy both."""
    lift: Mapped[float] = mapped_column(default=0.0)
    because_product_id: Mapped[str | None] = mapped_column(ForeignKey("products.id"), default=None)
    reason: Mapped[str] = mapped_column(String(300))
    computed_at: Mapped[datetime] = mapped_column()
