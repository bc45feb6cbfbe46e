"""Server-side sync state: the change log devices pull from, the current-state index a new device
bootstraps from, push receipts (idempotency), the quarantine of refused mutations and the
conflict log.

Every change row carries the scope keys that decide who receives it (territory, user, region,
public, or one device), computed once when the change is written (server/sync/scope.py), so a
pull is one indexed range scan with no joins.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, utcnow
from server.db.types import BigIntPK, Bytes, JSONValue

__all__ = [
    "ChangeLog",
    "ConflictRecord",
    "DeviceSyncState",
    "PushReceipt",
    "QuarantinedMutation",
    "SyncMeta",
    "SyncRecord",
]


class ChangeLog(Base):
    __tablename__ = "sync_change_log"
    __table_args__ = (
        Index("ix_sync_change_log_territory_seq", "territory_id", "seq"),
        Index("ix_sync_change_log_user_seq", "user_id", "seq"),
        Index("ix_sync_change_log_region_seq", "region_id", "seq"),
        Index("ix_sync_change_log_public_seq", "public", "seq"),
        Index("ix_sync_change_log_device_seq", "device_id", "seq"),
        Index("ix_sync_change_log_txid", "txid"),
        Index("ix_sync_change_log_entity_seq", "entity", "seq"),
        Index("ix_sync_change_log_event_seq", "event", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    txid: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """PostgreSQL: the writing transaction's id (pg_current_xact_id), for snapshot cursors."""
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    entity: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[str] = mapped_column(String(64))
    op: Mapped[str] = mapped_column(String(10))
    """upsert, delete, evict, conflict."""
    version: Mapped[int] = mapped_column(default=0)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    territory_id: Mapped[str | None] = mapped_column(String(36), default=None)
    user_id: Mapped[str | None] = mapped_column(String(36), default=None)
    region_id: Mapped[str | None] = mapped_column(String(36), default=None)
    public: Mapped[bool] = mapped_column(default=False)
    device_id: Mapped[str | None] = mapped_column(String(36), default=None)
    """Set for rows meant for one device only (conflict notices)."""
    origin_device_id: Mapped[str | None] = mapped_column(String(36), default=None)
    event: Mapped[str | None] = mapped_column(String(40), default=None)
    """A business event this change carries (``order.submitted``, ``order.status_changed``,
    ``ticket.opened``, ``lead.assigned``): the back-office feed and webhooks read these."""


def _byte_ordered(length: int) -> Any:
    return String(length).with_variant(String(length, collation="C"), "postgresql")


class SyncRecord(Base):
    """The current synced state of every record with its scope keys: what bootstrap snapshots
    and scope checksums read. Maintained in the same transaction as the change log."""

    __tablename__ = "sync_records"
    __table_args__ = (
        Index("ix_sync_records_territory", "territory_id", "entity", "record_id"),
        Index("ix_sync_records_user", "user_id", "entity", "record_id"),
        Index("ix_sync_records_region", "region_id", "entity", "record_id"),
        Index("ix_sync_records_public", "public", "entity", "record_id"),
    )

    # Byte order on PostgreSQL whatever the database's collation: bootstrap pages are ordered
    # by these and merged across scope branches in Python (server/sync/log.py, read_branches).
    entity: Mapped[str] = mapped_column(_byte_ordered(40), primary_key=True)
    record_id: Mapped[str] = mapped_column(_byte_ordered(64), primary_key=True)
    version: Mapped[int] = mapped_column(default=0)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    territory_id: Mapped[str | None] = mapped_column(String(36), default=None)
    user_id: Mapped[str | None] = mapped_column(String(36), default=None)
    region_id: Mapped[str | None] = mapped_column(String(36), default=None)
    public: Mapped[bool] = mapped_column(default=False)
    deleted: Mapped[bool] = mapped_column(default=False)
    packed: Mapped[bytes | None] = mapped_column(Bytes, default=None)
    """The record as a MessagePack pull item, encoded when written: a MessagePack bootstrap page
    is these bytes side by side, with nothing decoded or encoded per record. NULL when deleted,
    and on rows indexed before the column existed (bootstrap encodes those from ``data``)."""


class PushReceipt(Base):
    """The answer given to (device, seq): a resent mutation gets it again instead of a second
    effect."""

    __tablename__ = "sync_push_receipts"

    device_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tx: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column()
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class QuarantinedMutation(Base):
    __tablename__ = "sync_quarantine"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    device_id: Mapped[str] = mapped_column(String(36), index=True)
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    region_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    tx: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[str] = mapped_column(String(64))
    mutation: Mapped[dict[str, Any]] = mapped_column()
    reason: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)


class ConflictRecord(Base):
    __tablename__ = "sync_conflicts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    entity: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[str] = mapped_column(String(64), index=True)
    field: Mapped[str] = mapped_column(String(60))
    kept: Mapped[Any] = mapped_column(JSONValue, nullable=True)
    discarded: Mapped[Any] = mapped_column(JSONValue, nullable=True)
    kept_hlc: Mapped[str | None] = mapped_column(String(120), default=None)
    discarded_hlc: Mapped[str | None] = mapped_column(String(120), default=None)
    kept_origin: Mapped[str | None] = mapped_column(String(36), default=None)
    discarded_origin: Mapped[str | None] = mapped_column(String(36), default=None)
    rule: Mapped[str] = mapped_column(String(40))
    loser_user_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    region_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)


class DeviceSyncState(Base):
    """What the server knows of each device's sync health (shown on the manager pages)."""

    __tablename__ = "sync_device_state"

    device_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    last_push_at: Mapped[datetime | None] = mapped_column(default=None)
    last_pull_at: Mapped[datetime | None] = mapped_column(default=None)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    pending: Mapped[int | None] = mapped_column(default=None)
    """Unsent outbox mutations the device reported at its last sync."""
    oldest_pending_at: Mapped[datetime | None] = mapped_column(default=None)
    rejected: Mapped[int] = mapped_column(default=0)


class SyncMeta(Base):
    """Small key/value facts about the log, e.g. the compaction horizon."""

    __tablename__ = "sync_meta"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
