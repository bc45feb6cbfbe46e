"""Database plumbing: one declarative base, portable column types, the engine and sessions."""

from server.db.base import Base, SyncableMixin, TimestampMixin, utcnow
from server.db.engine import create_engine, create_sessionmaker
from server.db.types import JSONValue, Money, UTCDateTime

__all__ = [
    "Base",
    "JSONValue",
    "Money",
    "SyncableMixin",
    "TimestampMixin",
    "UTCDateTime",
    "create_engine",
    "create_sessionmaker",
    "utcnow",
]
