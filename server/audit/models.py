"""The audit log: security events and manual decisions, append-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, utcnow
from server.db.types import BigIntPK

__all__ = ["AuditEntry"]


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_action_at", "action", "at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(60))
    """Dotted event name, e.g. ``auth.login_failed``, ``device.revoked``, ``lead.reassigned``."""
    actor_user_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    actor_api_key_id: Mapped[str | None] = mapped_column(String(36), default=None)
    device_id: Mapped[str | None] = mapped_column(String(36), default=None)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    target_type: Mapped[str | None] = mapped_column(String(40), default=None)
    target_id: Mapped[str | None] = mapped_column(String(64), default=None)
    region_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
