"""Service tickets opened against accounts, and their comment threads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, SyncableMixin

__all__ = ["Ticket", "TicketComment"]


class Ticket(SyncableMixin, Base):
    __tablename__ = "tickets"
    __sync_entity__ = "ticket"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    opened_by_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    assignee_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    category: Mapped[str] = mapped_column(String(40), default="service")
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    """open → in_progress ⇄ waiting → resolved → closed; resolved → open (sync.machines.TICKET)."""
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)


class TicketComment(SyncableMixin, Base):
    """Append-only: comments are never edited, so they never conflict."""

    __tablename__ = "ticket_comments"
    __sync_entity__ = "ticket_comment"

    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), index=True)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
