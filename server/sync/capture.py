"""Change capture: every ORM write of a syncable record becomes change-log rows, in the same
transaction, whatever code path made it (a device push, a manager's PATCH, the back office's
status write-back, the lead engine).

Theory of operation
-------------------
``before_flush`` bumps the version of each changed record and stamps the changed fields with the
server's hybrid logical clock — unless the writer set ``version`` itself (the push path does: it
knows the device's clocks and has merged them).

``after_flush`` then, for every new or changed record:
  1. serialises its synced fields (the wire form devices store);
  2. computes its scope keys and compares them with the keys stored for it in ``sync_records``;
     if they differ, the old audience gets an ``evict`` row first (and children whose scope
     follows this record — an account's contacts and tickets — are evicted and re-announced);
  3. appends an ``upsert`` (or ``delete``) row with the new keys and any business event;
  4. upserts the record's current state into ``sync_records`` (what bootstrap reads).
Rows are inserted with Core statements on the flush's connection, so they commit or roll back
with the change itself: a pull can never see half of a client transaction.
On PostgreSQL every row also records ``pg_current_xact_id()`` for the snapshot cursor
(server/sync/log.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Insert, bindparam, event, insert, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.orm.attributes import get_history

from server.db import statistics
from server.db.base import SyncableMixin, utcnow
from server.db.direct import insert_rows
from server.sync.entities import synced_columns, table_of, wire_record
from server.sync.models import ChangeLog, SyncRecord
from server.sync.scope import SCOPE_CHILDREN, ScopeKeys, ScopeResolver
from server.sync.sums import Held, record_deltas, write_deltas
from server.sync.writers import install as install_writers
from server.sync.writers import stamp_server_write
from sync.codec import encode_change_msgpack
from sync.rules import RULES, check_fields, check_record

__all__ = [
    "capture_created",
    "install",
    "log_insert",
    "origin_device",
    "upsert_records",
    "write_changes",
]

_installed = False
ORIGIN_KEY = "fieldline.origin_device"
CREATED_KEY = "fieldline.created_unlogged"


def install() -> None:
    """Attach the hooks to every ORM session of the process (idempotent)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "before_flush", _before_flush)
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "after_soft_rollback", _forget_deferred)
    install_writers()
    _installed = True


def origin_device(session: Session, device_id: str | None) -> None:
    """Name the device whose push causes the writes of this session (kept on change rows)."""
    session.info[ORIGIN_KEY] = device_id


def _changed_fields(obj: SyncableMixin, entity: str) -> list[str]:
    return [name for name in synced_columns(entity) if get_history(obj, name).has_changes()]


def _before_flush(session: Session, _ctx: UOWTransaction, _instances: Any) -> None:
    # Stamps are set here, on the object, rather than by column defaults: with several rows in
    # one executemany the ORM can hand an object another row's default, and the change log
    # must carry exactly what the table holds.
    now = utcnow()
    # A device push checked every value as it merged, naming the mutation that broke a rule;
    # every other writer (REST, the back office, managers' pages, jobs) is held to the same
    # rulebook here, the one path all their writes take.
    checked = session.info.get(ORIGIN_KEY) is None
    for obj in session.new:
        if isinstance(obj, SyncableMixin):
            if obj.created_at is None:
                obj.created_at = now
            if obj.updated_at is None:
                obj.updated_at = obj.created_at
            if checked:
                _check(obj, synced_columns(obj.__sync_entity__))
    for obj in session.dirty:
        if not isinstance(obj, SyncableMixin) or not session.is_modified(obj):
            continue
        obj.updated_at = now
        if get_history(obj, "version").has_changes():
            continue  # the writer merged clocks itself (device push)
        entity = type(obj).__sync_entity__
        changed = _changed_fields(obj, entity)
        if checked:
            _check(obj, changed)
        deleting = get_history(obj, "deleted_at").has_changes()
        if not changed and not deleting:
            continue
        obj.version = (obj.version or 0) + 1
        obj.field_clocks = stamp_server_write(session, obj, entity, changed, deleting)


def _check(obj: SyncableMixin, names: Iterable[str]) -> None:
    """Raises ``InvalidValue`` unless the record's written values keep its entity's rules."""
    entity = obj.__sync_entity__
    state = obj.__dict__
    check_fields(entity, {name: state.get(name) for name in names if name in state})
    check_record(entity, state)


def _event_for(entity: str, obj: Any, is_new: bool) -> str | None:
    """The first business event the entity declares (``EntityRules.events``) that this write
    raises."""
    for raised in RULES[entity].events:
        if (is_new and not raised.created) or (not is_new and not raised.changed):
            continue
        if raised.field is None:
            return raised.name
        value = getattr(obj, raised.field)
        if value is None or value == raised.unless:
            continue
        if raised.value is not None and value != raised.value:
            continue
        if not is_new:
            history = get_history(obj, raised.field)
            if not history.has_changes() or (history.deleted and history.deleted[0] == value):
                continue
        return raised.name
    return None


def _after_flush(session: Session, _ctx: UOWTransaction) -> None:
    created = session.info.pop(CREATED_KEY, None)
    if created is not None:
        # Records the caller inserted itself, left for this flush (``defer_created``): their
        # change rows go out with the flushed records', in one write.
        objects, loaded, at = created
        resolver = _preloaded(session, objects, loaded)
        changed = [(obj, type(obj).__sync_entity__, True) for obj in objects]
        changed += _flushed(session)
        write_changes(session, changed, resolver, at)
        return
    write_changes(session, _flushed(session))


def _flushed(session: Session) -> list[tuple[SyncableMixin, str, bool]]:
    changed: list[tuple[SyncableMixin, str, bool]] = []
    for obj in session.new:
        if isinstance(obj, SyncableMixin):
            changed.append((obj, type(obj).__sync_entity__, True))
    for obj in session.dirty:
        if not isinstance(obj, SyncableMixin) or obj in session.new:
            continue
        entity = type(obj).__sync_entity__
        if get_history(obj, "version").has_changes():
            changed.append((obj, entity, False))
    return changed


def capture_created(
    session: Session,
    objects: list[SyncableMixin],
    loaded: list[SyncableMixin],
    at: datetime,
) -> None:
    """Change rows for records the caller inserted itself with Core statements (the push path's
    new records, server/sync/push.py), exactly as a flush would have written them. Parents among
    ``objects`` and ``loaded`` (records the caller already holds) are found without a query.
    ``at``: when the caller wrote them."""
    write_changes(
        session,
        [(obj, type(obj).__sync_entity__, True) for obj in objects],
        _preloaded(session, objects, loaded),
        at,
    )


def defer_created(
    session: Session,
    objects: list[SyncableMixin],
    loaded: list[SyncableMixin],
    at: datetime,
) -> None:
    """As ``capture_created``, but written by the session's next flush together with the
    records it flushes (a push that also updates records: one set of change-log, record-state
    and scope-sum statements instead of two). The caller must flush before it commits."""
    session.info[CREATED_KEY] = (objects, loaded, at)


def _forget_deferred(session: Session, _previous: object) -> None:
    # The records ``defer_created`` left were inserted in the transaction being rolled back:
    # a later flush (the push's careful retry) must not log them.
    session.info.pop(CREATED_KEY, None)


def write_deferred(session: Session) -> None:
    """Change rows ``defer_created`` left that no flush has written yet (a flush with nothing to
    write does not run its hooks)."""
    created = session.info.pop(CREATED_KEY, None)
    if created is not None:
        capture_created(session, *created)


def _preloaded(
    session: Session, objects: list[SyncableMixin], loaded: list[SyncableMixin]
) -> ScopeResolver:
    resolver = ScopeResolver(session)
    for obj in (*loaded, *objects):
        resolver.preloaded[(type(obj), obj.id)] = obj
    return resolver


def write_changes(
    session: Session,
    changed: list[tuple[SyncableMixin, str, bool]],
    resolver: ScopeResolver | None = None,
    at: datetime | None = None,
) -> None:
    """Change-log rows and ``sync_records`` state for ``changed`` records, (object, entity, is
    new), on the session's connection, stamped ``at`` (default: now)."""
    if not changed:
        return
    conn = session.connection()
    resolver = resolver or ScopeResolver(session)
    stored = _held(conn, [(entity, obj.id) for obj, entity, is_new in changed if not is_new])
    origin = session.info.get(ORIGIN_KEY)
    at = at or utcnow()  # one instant for all rows: its text form is then made once
    log_rows: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []

    for obj, entity, is_new in changed:
        keys = resolver.keys(entity, obj)
        held = stored.get((entity, obj.id))
        before = held.keys if held is not None else None
        deleted = obj.deleted_at is not None
        moved = False
        if before is not None and before != keys:
            moved = True
            log_rows.append(_row(at, entity, obj.id, "evict", obj.version, {}, before, origin))
        data = {} if deleted else wire_record(obj)
        row = _row(
            at, entity, obj.id, "delete" if deleted else "upsert", obj.version, data, keys, origin
        )
        row["event"] = _event_for(entity, obj, is_new)
        log_rows.append(row)
        records.append(_record(entity, obj.id, obj.version, data, keys, deleted))
        if moved:
            _reannounce_children(
                session, conn, resolver, entity, obj, log_rows, records, stored, origin, at
            )

    insert_rows(conn, log_insert(conn.dialect.name), log_rows)
    upsert_records(conn, records, stored)
    written = Counter(table_of(type(obj)).name for obj, _entity, _is_new in changed)
    written.update({"sync_change_log": len(log_rows), "sync_records": len(records)})
    statistics.note_written(conn.engine.url.database, written.items())


@cache
def log_insert(dialect: str) -> Insert:
    """The statement every change-log row is written with: on PostgreSQL it also records the
    writing transaction's id, which the snapshot cursor needs (server/sync/log.py)."""
    stmt = insert(table_of(ChangeLog))
    if dialect == "postgresql":
        stmt = stmt.values(txid=literal_column("pg_current_xact_id()::text::bigint"))
    return stmt


def _row(
    at: datetime,
    entity: str,
    record_id: str,
    op: str,
    version: int,
    data: dict[str, Any],
    keys: ScopeKeys,
    origin: str | None,
) -> dict[str, Any]:
    return {
        "at": at,
        "entity": entity,
        "record_id": record_id,
        "op": op,
        "version": version,
        "data": data,
        "device_id": None,
        "origin_device_id": origin,
        "event": None,
        **keys.as_columns(),
    }


def _record(
    entity: str, record_id: str, version: int, data: dict[str, Any], keys: ScopeKeys, deleted: bool
) -> dict[str, Any]:
    return {
        "entity": entity,
        "record_id": record_id,
        "version": version,
        "data": data,
        "deleted": deleted,
        **keys.as_columns(),
    }


def _held(conn: Any, ids: list[tuple[str, str]]) -> dict[tuple[str, str], Held]:
    """What ``sync_records`` holds for these records now (those it has)."""
    found: dict[tuple[str, str], Held] = {}
    by_entity: dict[str, list[str]] = {}
    for entity, record_id in ids:
        by_entity.setdefault(entity, []).append(record_id)
    # One entity at a time: SQLite reads "(entity, record_id) IN (pairs)" by scanning the whole
    # table (tens of milliseconds a push on the demo world), "entity = ? AND record_id IN"
    # by seeking the primary key.
    for entity, record_ids in by_entity.items():
        for start in range(0, len(record_ids), 500):
            rows = conn.execute(_HELD, {"entity": entity, "ids": record_ids[start : start + 500]})
            for record_id, territory, user, region, public, version, deleted in rows:
                keys = ScopeKeys(territory, user, region, bool(public))
                found[(entity, record_id)] = Held(keys, version, bool(deleted))
    return found


_RECORDS = SyncRecord.__table__
_HELD = select(
    _RECORDS.c.record_id,
    _RECORDS.c.territory_id,
    _RECORDS.c.user_id,
    _RECORDS.c.region_id,
    _RECORDS.c.public,
    _RECORDS.c.version,
    _RECORDS.c.deleted,
).where(
    _RECORDS.c.entity == bindparam("entity"),
    _RECORDS.c.record_id.in_(bindparam("ids", expanding=True)),
)


def _reannounce_children(
    session: Session,
    conn: Any,
    resolver: ScopeResolver,
    entity: str,
    parent: Any,
    log_rows: list[dict[str, Any]],
    records: list[dict[str, Any]],
    held: dict[tuple[str, str], Held],
    origin: str | None,
    at: datetime,
) -> None:
    """When a parent moves scope, its children move with it: the old audience is told to evict
    them, the new one receives them whole (and grandchildren follow through the same rule)."""
    for model, fk in SCOPE_CHILDREN.get(entity, ()):
        children = session.execute(
            select(model).where(getattr(model, fk) == parent.id, model.deleted_at.is_(None))
        ).scalars()
        child_list = list(children)
        if not child_list:
            continue
        child_entity = model.__sync_entity__
        stored = _held(conn, [(child_entity, c.id) for c in child_list])
        held.update(stored)
        for child in child_list:
            keys = resolver.keys(child_entity, child)
            found = stored.get((child_entity, child.id))
            before = found.keys if found is not None else None
            if before == keys:
                continue
            if before is not None:
                log_rows.append(
                    _row(at, child_entity, child.id, "evict", child.version, {}, before, origin)
                )
            data = wire_record(child)
            log_rows.append(
                _row(at, child_entity, child.id, "upsert", child.version, data, keys, origin)
            )
            records.append(_record(child_entity, child.id, child.version, data, keys, False))
            _reannounce_children(
                session, conn, resolver, child_entity, child, log_rows, records, held, origin, at
            )


def upsert_records(
    conn: Any, records: list[dict[str, Any]], held: dict[tuple[str, str], Held] | None
) -> None:
    """Write ``records`` into ``sync_records``. ``held`` is what it held for them before (a
    record missing from it had no row): the scope checksums are moved by the difference in the
    same transaction. ``None`` leaves the sums alone, for a rebuild that recomputes them after.
    """
    # Several writes to one record in one flush (rare) must leave the last one.
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        latest[(record["entity"], record["record_id"])] = record
    for record in latest.values():
        record["packed"] = (
            None
            if record["deleted"]
            else encode_change_msgpack(
                record["entity"], record["record_id"], record["version"], record["data"]
            )
        )
    insert_rows(conn, _upsert_statement(conn.dialect.name), list(latest.values()))
    if held is not None:
        write_deltas(conn, record_deltas(latest.values(), held))


@cache
def _upsert_statement(dialect_name: str) -> Any:
    table = SyncRecord.__table__
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c.entity, table.c.record_id],
        set_={
            name: stmt.excluded[name]
            for name in (
                "version",
                "data",
                "territory_id",
                "user_id",
                "region_id",
                "public",
                "deleted",
                "packed",
            )
        },
    )
