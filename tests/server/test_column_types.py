"""Timestamps are stored on SQLite as the text SQLAlchemy's DATETIME writes (so rows written
before and after compare and sort alike) and come back as aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite

from server.db.types import UTCDateTime

_DIALECT = sqlite.dialect()
_BERLIN = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 23, 16, 37, 42, 543540, tzinfo=UTC),
        datetime(2026, 11, 23, 16, 37, 42, tzinfo=UTC),
        datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(2026, 3, 29, 2, 30, tzinfo=_BERLIN),
    ],
)
def test_sqlite_stores_utc_text_in_sqlalchemys_own_format(value: datetime) -> None:
    ours = UTCDateTime().bind_processor(_DIALECT)
    reference = sqlite.DATETIME().bind_processor(_DIALECT)
    assert ours is not None and reference is not None
    expected = reference(value.astimezone(UTC).replace(tzinfo=None))
    assert ours(value) == expected
    stored = UTCDateTime().process_result_value(
        sqlite.DATETIME().result_processor(_DIALECT, None)(expected),  # type: ignore[misc]
        _DIALECT,
    )
    assert stored == value


def test_a_naive_datetime_is_refused() -> None:
    process = UTCDateTime().bind_processor(_DIALECT)
    assert process is not None
    with pytest.raises(ValueError, match="naive"):
        process(datetime(2026, 1, 1))


def test_none_stays_null() -> None:
    process = UTCDateTime().bind_processor(_DIALECT)
    assert process is not None
    assert process(None) is None
