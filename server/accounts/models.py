"""Customer accounts and their contacts (synced to the reps of the account's territory)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, SyncableMixin

__all__ = ["Account", "Contact"]


class Account(SyncableMixin, Base):
    __tablename__ = "accounts"
    __sync_entity__ = "account"

    name: Mapped[str] = mapped_column(String(200), index=True)
    segment: Mapped[str] = mapped_column(String(40), default="standard")
    address_line: Mapped[str | None] = mapped_column(String(200), default=None)
    city: Mapped[str | None] = mapped_column(String(120), default=None)
    postal_code: Mapped[str | None] = mapped_column(String(20), default=None)
    country: Mapped[str | None] = mapped_column(String(2), default=None)
    lat: Mapped[float | None] = mapped_column(default=None)
    lon: Mapped[float | None] = mapped_column(default=None)
    visit_radius_m: Mapped[float] = mapped_column(default=200.0)
    """A check-in within this distance of the account's coordinates is verified."""
    phone: Mapped[str | None] = mapped_column(String(40), default=None)
    email: Mapped[str | None] = mapped_column(String(200), default=None)
    notes: Mapped[str | None] = mapped_column(Text, default=None)
    territory_id: Mapped[str | None] = mapped_column(ForeignKey("territories.id"), index=True)
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None, index=True)


class Contact(SyncableMixin, Base):
    __tablename__ = "contacts"
    __sync_entity__ = "contact"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(100), default=None)
    phone: Mapped[str | None] = mapped_column(String(40), default=None)
    email: Mapped[str | None] = mapped_column(String(200), default=None)
    notes: Mapped[str | None] = mapped_column(Text, default=None)
