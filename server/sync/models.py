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

from sqlalchemy import BigInteger, Index, String, Text, text
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
    "SyncScopeSum",
]


def partial_index(name: str, *columns: str, where: str) -> Index:
    """An index holding only the rows that can match a scope branch: most change rows leave most
    scope keys empty (a contact's change has a territory and a region, no user, no device, and is
    not public), and every index entry is written by the push that adds the row. Each predicate
    is one that the pull's own conditions imply, so both stores still choose the index:
    ``key = ?`` implies ``key IS NOT NULL``, and ``public IS true`` is written exactly as the
    query writes it. The public indexes leave out the ``public`` column itself: ``IS true`` is
    not a condition an index can seek on, so the predicate fixes it instead."""
    public = where == "public"
    sqlite_where = text("public IS 1") if public else text(f"{where} IS NOT NULL")
    postgresql_where = text("public IS true") if public else text(f"{where} IS NOT NULL")
    return Index(name, *columns, sqlite_where=sqlite_where, postgresql_where=postgresql_where)


_SCOPE_KEYS = ("territory_id", "user_id", "region_id", "public", "device_id")


def _branch_indexes() -> tuple[Index, ...]:
    """The change log's scope-branch indexes: each ordered the way its store's cursor moves.

    SQLite's cursor is a sequence number, so a pull seeks to ``(key, seq)`` and reads on.
    PostgreSQL's cursor is a window of transactions (server/sync/log.py), so a pull seeks to
    ``(key, txid)`` over the window's transaction ids: with ``(key, seq)`` every new window
    started at the branch's first retained row, and an incremental pull cost the branch's whole
    history rather than what changed (migration 0008)."""
    out: list[Index] = []
    for key in _SCOPE_KEYS:
        short = key.removesuffix("_id")
        lead = () if key == "public" else (key,)
        out.append(
            partial_index(f"ix_sync_change_log_{short}_seq", *lead, "seq", where=key).ddl_if(
                dialect="sqlite"
            )
        )
        out.append(
            partial_index(f"ix_sync_change_log_{short}_txid", *lead, "txid", where=key).ddl_if(
                dialect="postgresql"
            )
        )
    return tuple(out)


class ChangeLog(Base):
    __tablename__ = "sync_change_log"
    __table_args__ = (
        *_branch_indexes(),
        partial_index("ix_sync_change_log_txid", "txid", where="txid"),
        Index("ix_sync_change_log_entity_seq", "entity", "seq"),
        partial_index("ix_sync_change_log_event_seq", "event", "seq", where="event"),
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
        partial_index(
            "ix_sync_records_territory", "territory_id", "entity", "record_id", where="territory_id"
        ),
        partial_index("ix_sync_records_user", "user_id", "entity", "record_id", where="user_id"),
        partial_index(
            "ix_sync_records_region", "region_id", "entity", "record_id", where="region_id"
        ),
        partial_index("ix_sync_records_public", "entity", "record_id", where="public"),
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


class SyncScopeSum(Base):
    """A part of the scope checksums (sync/checksum.py), kept as records are written: the count
    and XOR digest of the live records of one entity that carry one combination of scope keys.
    A caller's checksum for an entity is the sum of the counts and the XOR of the digests of the
    rows its scope matches, read with the same predicate as ``sync_records`` (each combination
    is one row's worth of keys, so a record on two of a caller's branches is still counted
    once). A sync then reads a few numbers instead of hashing the scope.

    Writers only append rows (a delta per combination touched by a flush), so concurrent
    pushes never wait on each other here and a rolled-back savepoint takes its deltas with it;
    a job folds the deltas into one row per combination (server/sync/sums.py)."""

    __tablename__ = "sync_scope_sums"
    __table_args__ = (
        partial_index("ix_sync_scope_sums_territory", "territory_id", where="territory_id"),
        partial_index("ix_sync_scope_sums_user", "user_id", where="user_id"),
        partial_index("ix_sync_scope_sums_region", "region_id", where="region_id"),
        partial_index("ix_sync_scope_sums_public", "entity", where="public"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(40))
    territory_id: Mapped[str | None] = mapped_column(String(36), default=None)
    user_id: Mapped[str | None] = mapped_column(String(36), default=None)
    region_id: Mapped[str | None] = mapped_column(String(36), default=None)
    public: Mapped[bool] = mapped_column(default=False)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    digest: Mapped[int] = mapped_column(BigInteger, default=0)
    """The XOR of the records' terms as a signed 64-bit integer (both stores' BIGINT)."""


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
