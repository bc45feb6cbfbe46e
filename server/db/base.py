"""The one declarative base (with a constraint naming convention Alembic can rely on) and the
mixins every syncable record shares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from server.db.types import JSONValue, UTCDateTime
from sync.ids import new_id

__all__ = ["Base", "SyncableMixin", "TimestampMixin", "utcnow"]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONValue,
        list[Any]: JSONValue,
        list[str]: JSONValue,
        list[int]: JSONValue,
    }


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SyncableMixin(TimestampMixin):
    """A record devices replicate: a client-generatable UUIDv7 id, a version bumped on every
    change, per-field hybrid-logical-clock stamps for field-level last-writer-wins, and a
    tombstone instead of a hard delete (so a late update can be told it lost to a delete)."""

    __sync_entity__: ClassVar[str]
    """The entity name on the wire (``sync.rules`` is keyed by it)."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    version: Mapped[int] = mapped_column(default=1)
    field_clocks: Mapped[dict[str, Any]] = mapped_column(default=dict)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    origin_device_id: Mapped[str | None] = mapped_column(String(36), default=None)
