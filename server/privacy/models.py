"""Consent histories (synced, append-only) and the register of erased data subjects."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, SyncableMixin, utcnow

__all__ = ["ConsentMixin", "ContactConsent", "ErasedSubject", "LeadConsent"]


class ConsentMixin:
    """The columns every consent decision has (sync/rules/_privacy.py declares them)."""

    purpose: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    recorded_at: Mapped[datetime] = mapped_column()
    recorded_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    """Empty for a decision no person recorded (a withdrawal by erasure keeps its admin in the
    audit log instead)."""
    source: Mapped[str] = mapped_column(String(20))


class ContactConsent(ConsentMixin, SyncableMixin, Base):
    __tablename__ = "contact_consents"
    __sync_entity__ = "contact_consent"

    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"), index=True)


class LeadConsent(ConsentMixin, SyncableMixin, Base):
    __tablename__ = "lead_consents"
    __sync_entity__ = "lead_consent"

    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.id"), index=True)


class ErasedSubject(Base):
    """One row per erased data subject: makes an erasure idempotent and answers "was this
    person erased, when, by whom". It holds no erased value."""

    __tablename__ = "privacy_erasures"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(default=utcnow)
    erased_by_id: Mapped[str | None] = mapped_column(String(36), default=None)
    records: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Entity → how many of its records the erasure blanked."""
