"""Rebuilding the sync index (``sync_records``) from the tables.

Normal writes keep the index current through change capture. Bulk loads that bypass the ORM
(the demo data set, an import) call ``reindex_all`` afterwards; it recomputes every record's wire
form and scope keys with the same code capture uses, so the two can never disagree. On
PostgreSQL it then refreshes the table's planner statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from server.sync.capture import upsert_records
from server.sync.entities import syncable_models, table_of, wire_record
from server.sync.scope import PARENTS, ScopeResolver
from server.sync.sums import rebuild
from sync.rules import RULES

__all__ = ["reindex_all"]

_CHUNK = 2000
# Parents before children, so a child's scope can be read from its (indexed) parent: the
# rulebook declares each area's parents ahead of their children.
_ORDER = tuple(RULES)


async def reindex_all(session: AsyncSession) -> int:
    """Recompute ``sync_records`` for every syncable record; returns how many were indexed.
    Does not write change-log rows: devices bootstrap from the index, and history before a bulk
    load is not something a device has to replay."""
    return await session.run_sync(_reindex)


def _reindex(session: Session) -> int:
    models = syncable_models()
    assert set(_ORDER) == set(models), "every syncable entity must have a place in _ORDER"
    resolver = ScopeResolver(session)
    conn = session.connection()
    total = 0
    for entity in _ORDER:
        table = table_of(models[entity])
        last = ""
        while True:
            # Core rows, not ORM objects: a bulk rebuild needs values, not identity tracking.
            chunk = conn.execute(
                select(table).where(table.c.id > last).order_by(table.c.id).limit(_CHUNK)
            ).all()
            if not chunk:
                break
            resolver.preloaded = _parents(conn, entity, chunk)
            records: list[dict[str, Any]] = []
            for row in chunk:
                deleted = row.deleted_at is not None
                keys = resolver.keys(entity, row)
                records.append(
                    {
                        "entity": entity,
                        "record_id": row.id,
                        "version": row.version,
                        "data": {} if deleted else wire_record(row, entity),
                        "deleted": deleted,
                        **keys.as_columns(),
                    }
                )
            upsert_records(conn, records, None)
            total += len(records)
            last = chunk[-1].id
    rebuild(conn)
    if conn.dialect.name == "postgresql":
        # The planner's statistics still describe the table before the load until autovacuum
        # gets to it: it then takes a 50,000-record scope for a few rows and sorts each bootstrap
        # page on disk (53 ms a page against 4 ms with fresh statistics). SQLite's planner needs
        # no statistics for these queries.
        conn.execute(text("ANALYZE sync_records"))
        conn.execute(text("ANALYZE sync_scope_sums"))
    return total


def _parents(conn: Any, entity: str, chunk: Sequence[Any]) -> dict[tuple[type[Any], str], Any]:
    """The chunk's parents (and theirs), one query per batch of ids, keyed as the resolver looks
    them up."""
    found: dict[tuple[type[Any], str], Any] = {}
    for model, fk in PARENTS.get(entity, ()):
        ids = list({getattr(row, fk) for row in chunk if getattr(row, fk) is not None})
        parents: list[Any] = []
        table = table_of(model)
        for start in range(0, len(ids), 900):
            batch = ids[start : start + 900]
            parents.extend(conn.execute(select(table).where(table.c.id.in_(batch))).all())
        found.update({(model, row.id): row for row in parents})
        found.update(_parents(conn, model.__sync_entity__, parents))
    return found
