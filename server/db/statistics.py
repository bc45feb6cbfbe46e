"""Planner statistics on PostgreSQL, kept fresh by the server itself after bulk writes.

The planner plans from what ``ANALYZE`` last saw of a table (``pg_class.reltuples`` and the
column statistics). A fresh database that devices push 50,000 records into still looks empty to
it until autovacuum analyzes the tables (a minute at best; never, where an operator turned it
off): measured on the development machine, bootstrapping 100,000 sync records took 18–20 s
before statistics and 4.2–4.9 s after. So every writer counts the rows it writes per table
(``note_written``), and once a process has written ``analyze_after_rows`` rows since it last
looked, the request that crossed the line schedules ``refresh`` after its answer: tables whose
written rows reach a tenth of what the planner believes they hold (autovacuum's own rule) are
analyzed. Several server processes each count their own writes; analyzing a table twice is
harmless.

SQLite needs none of this: its planner follows fixed heuristics the indexes were designed for
(docs/operations.md)."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable

from sqlalchemy import bindparam, column, select, table, text
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["due", "note_written", "refresh"]

logger = logging.getLogger("fieldline.db.statistics")

_written: dict[str | None, Counter[str]] = {}
"""Per database (a test run opens many), rows written per table since last analyzed here."""
_checked: dict[str | None, int] = {}
"""Per database, the rows written as of the last look: a look comes every ``after_rows`` rows,
not on every request once a large table needs a tenth of its size."""
_lock = threading.Lock()
_refreshing: set[str | None] = set()

# What the planner believes each table holds (reltuples is -1 for a table never analyzed).
_PG_CLASS = table("pg_class", column("relname"), column("reltuples"), column("relkind"))
_BELIEVED = select(_PG_CLASS.c.relname, _PG_CLASS.c.reltuples).where(
    _PG_CLASS.c.relname.in_(bindparam("names", expanding=True)), _PG_CLASS.c.relkind == "r"
)
STALE_SHARE = 0.1


def note_written(database: str | None, rows: Iterable[tuple[str, int]]) -> None:
    """``(table, rows written)`` pairs into ``database``, from any writer."""
    with _lock:
        counts = _written.setdefault(database, Counter())
        for name, count in rows:
            counts[name] += count


def due(engine: AsyncEngine, after_rows: int) -> bool:
    """Whether this process has written enough into the engine's database since it last looked
    to look again."""
    database = engine.url.database
    counts = _written.get(database)
    return (
        database not in _refreshing
        and counts is not None
        and counts.total() - _checked.get(database, 0) >= after_rows
    )


async def refresh(engine: AsyncEngine, after_rows: int) -> list[str]:
    """Analyze the tables this process wrote a tenth of (or ``after_rows``, whichever is more)
    since they were last analyzed here; returns their names. Nothing on SQLite."""
    database = engine.url.database
    if engine.dialect.name != "postgresql" or database in _refreshing:
        return []
    with _lock:
        written = dict(_written.get(database, {}))
    if not written:
        return []
    _refreshing.add(database)
    try:
        async with engine.connect() as conn:
            believed = {
                name: max(float(tuples), 0.0)
                for name, tuples in await conn.execute(_BELIEVED, {"names": sorted(written)})
            }
            stale = [
                name
                for name, rows in written.items()
                if name in believed and rows >= max(after_rows, STALE_SHARE * believed[name])
            ]
            quote = conn.dialect.identifier_preparer.quote
            for name in stale:
                await conn.execute(text(f"ANALYZE {quote(name)}"))
            await conn.commit()
    except Exception:
        # Statistics are an optimisation: a failure here must never reach a request.
        logger.exception("refreshing planner statistics failed")
        with _lock:  # look again after as many rows more, not on the next request
            _checked[database] = _written.get(database, Counter()).total()
        return []
    finally:
        _refreshing.discard(database)
    with _lock:
        counts = _written.setdefault(database, Counter())
        for name in stale:
            counts[name] -= written[name]
            if counts[name] <= 0:
                del counts[name]
        _checked[database] = counts.total()
    if stale:
        logger.info("planner statistics refreshed after bulk writes: %s", ", ".join(stale))
    return stale
