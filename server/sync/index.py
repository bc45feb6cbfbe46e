"""Rebuilding the sync index (``sync_records``) from the tables.

Normal writes keep the index current through change capture. Bulk loads that bypass the ORM
(the demo data set, an import) call ``reindex_all`` afterwards; it recomputes every record's wire
form and scope keys with the same code capture uses, so the two can never disagree.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from server.sync.capture import upsert_records
from server.sync.entities import syncable_models, wire_record
from server.sync.scope import PARENTS, ScopeResolver

__all__ = ["reindex_all"]

_CHUNK = 2000
# Parents before children, so a child's scope can be read from its (indexed) parent.
_ORDER = (
    "product",
    "price_list",
    "price",
    "account",
    "contact",
    "visit",
    "visit_note",
    "order",
    "order_line",
    "ticket",
    "ticket_comment",
    "lead",
    "opportunity",
)


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
        model = models[entity]
        last = ""
        while True:
            chunk = list(
                session.execute(
                    select(model).where(model.id > last).order_by(model.id).limit(_CHUNK)
                ).scalars()
            )
            if not chunk:
                break
            keep_alive = _prefetch_parents(session, entity, chunk)
            records: list[dict[str, Any]] = []
            for obj in chunk:
                deleted = obj.deleted_at is not None
                keys = resolver.keys(entity, obj)
                records.append(
                    {
                        "entity": entity,
                        "record_id": obj.id,
                        "version": obj.version,
                        "data": {} if deleted else wire_record(obj),
                        "deleted": deleted,
                        **keys.as_columns(),
                    }
                )
            upsert_records(conn, records)
            total += len(records)
            last = chunk[-1].id
            del keep_alive
            session.expunge_all()
    return total


def _prefetch_parents(session: Session, entity: str, chunk: list[Any]) -> list[Any]:
    """Load the chunk's parents (and theirs) in one query per batch, so the resolver finds them
    in the identity map instead of issuing a query per child. Returns them to keep them
    referenced while the chunk is indexed."""
    loaded: list[Any] = []
    for model, fk in PARENTS.get(entity, ()):
        ids = list({getattr(obj, fk) for obj in chunk if getattr(obj, fk) is not None})
        parents: list[Any] = []
        for start in range(0, len(ids), 900):
            batch = ids[start : start + 900]
            parents.extend(session.execute(select(model).where(model.id.in_(batch))).scalars())
        loaded.extend(parents)
        loaded.extend(_prefetch_parents(session, model.__sync_entity__, parents))
    return loaded
