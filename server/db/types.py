"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Dialect, Integer, LargeBinary, Numeric, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import DateTime, TypeDecorator, TypeEngine

__all__ = ["BigIntPK", "Bytes", "JSONValue", "Money", "UTCDateTime"]


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes everywhere; SQLite has no time zones, so we store naive UTC
    there and attach UTC on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # On SQLite the text is written here in one step, in the format SQLAlchemy's DATETIME
        # writes (and orders by): every change row, record and receipt carries timestamps, and
        # the two-step conversion cost more than the rest of a row's parameters. A push stamps
        # all its rows with one instant, so the last text made is kept for the next value that
        # is the same object (one tuple, so a reader on another thread sees a matching pair).
        last: tuple[datetime | None, str | None] = (None, None)

        def process(value: datetime | None) -> str | None:
            nonlocal last
            if value is None:
                return None
            seen, text = last
            if value is seen:
                return text
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            utc = value.astimezone(UTC) if value.utcoffset() else value
            text = utc.replace(tzinfo=None).isoformat(" ", "microseconds")
            last = (value, text)
            return text

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Bytes(TypeDecorator[bytes]):
    """Binary values handed to the driver as they are. Both drivers take ``bytes``; the generic
    type wraps every value in the DB-API's Binary first, which costs more than the rest of a
    row's parameters when thousands of rows go in one statement."""

    impl = LargeBinary
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


class Money(TypeDecorator[Decimal]):
    """Exact decimal money. PostgreSQL stores NUMERIC(14, 2); SQLite has no exact decimal, so the
    canonical text is stored there (SQLite's numeric affinity would turn it into a float)."""

    impl = Numeric(14, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(24))
        return dialect.type_descriptor(Numeric(14, 2, asdecimal=True))

    def process_bind_param(self, value: Decimal | int | str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        quantized = Decimal(value).quantize(Decimal("0.01"))
        return str(quantized) if dialect.name == "sqlite" else quantized

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)).quantize(Decimal("0.01"))


JSONValue = JSON().with_variant(JSONB(), "postgresql")
"""JSON on SQLite, JSONB on PostgreSQL."""


BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
"""A 64-bit autoincrement key; SQLite only autoincrements a column declared INTEGER."""
