"""Attachment metadata: the synced record. The bytes live in the blob store (``blobs.py``),
named by the digest this record carries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, SyncableMixin

__all__ = ["Attachment"]


class Attachment(SyncableMixin, Base):
    __tablename__ = "attachments"
    __sync_entity__ = "attachment"

    # No foreign key on owner_id: it names a visit, a ticket or an order (owner_entity says
    # which); the sync push and REST check it exists and is in the caller's reach.
    owner_entity: Mapped[str] = mapped_column(String(20))
    owner_id: Mapped[str] = mapped_column(String(36), index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    byte_size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    captured_at: Mapped[datetime] = mapped_column()
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
