"""Local records: the server's state of each record with the device's pending edits on top.

Theory of operation (the rebase, after Replicache)
--------------------------------------------------
A record row keeps two states. ``base`` is the last state the server told us (or NULL when the
server has never seen the record); ``data`` is what the app reads: the base with every pending
outbox mutation for the record re-applied in sequence order. When nothing is pending, ``data``
*is* the server state and ``base`` is left NULL to save space (``dirty`` = 0).

* A local write updates ``data`` and appends a mutation (client_sdk/outbox.py).
* A pulled change replaces the base; ``data`` is recomputed by replaying the pending mutations
  over it, so a field the rep changed and has not pushed keeps the rep's value until the server
  has answered for it, while every other field takes the server's value.
* A push answer removes the mutation from the pending set and folds what the server accepted
  into the base, so the record does not flicker back to its old value between the push and the
  pull that brings the new version. What is folded is what the server decided: the values the
  device sent for fields a device decides (``lww``, ``write_once``, ``state_machine`` in
  sync/rules.py; for a merge, their resolved values) and the values the answer itself carries
  (``Applied.fields``: prices, totals, verification, creation defaults, a line number moved off
  a taken one). The device's own guesses of ``computed`` and ``server_owned`` fields are never
  folded: the server ignores them, and folding them would show them as the server's until some
  later change of the record happened to be pulled (forever, after a no-op).
* A device never claims a version it has not seen. The base is labelled with the answer's
  version only when nothing but this device's own mutations can lie between the version it
  holds and that one: the answer's version is the held one plus the number of this device's
  answers for the record in the push (the server answers each with the record's version after
  the batch), or, for a record created here, at most that number (nobody else can write a
  record inside the push that creates it), or equal to the version held (a no-op). Otherwise
  the base keeps the version it had, with the device's own accepted values on it so nothing
  flickers; the next edit then carries that older ``base_version``, the server sees the writes
  in between as concurrent and logs any conflict, and the pull brings the new version. (One
  blind spot remains: a mutation the server applies as a no-op while another device wrote the
  record is indistinguishable, from the answer alone, from one that moved the version.)
* A rejected mutation is dropped from the overlay: the record shows the server's state again
  and the refused values stay listed with their reason (``client.rejected()``). A record the
  server never had, whose creation was refused, stays visible and is marked ``rejected`` so the
  rep can amend and resubmit it.
* A pulled change older than what we already hold (the version we folded from a push answer) is
  ignored; versions only grow on the server.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import msgspec

from client_sdk.store import Store, dumps, loads
from sync.rules import RULES, Policy, erased_value

__all__ = ["ENVELOPE", "REF_FIELDS", "Record", "RecordStore", "decided_by_device", "ref_of"]

ENVELOPE = ("id", "version", "created_at", "updated_at")
REF_FIELDS = {
    "order_line": "order_id",
    "price": "product_id",
    "visit_note": "visit_id",
    "ticket_comment": "ticket_id",
    "contact_consent": "contact_id",
    "lead_consent": "lead_id",
    "contact": "account_id",
    "visit": "account_id",
    "order": "account_id",
    "ticket": "account_id",
    "opportunity": "account_id",
    "suggestion": "account_id",
}
"""The field each entity is indexed by locally (the ``ref`` column)."""


def ref_of(entity: str, data: dict[str, Any]) -> str | None:
    name = REF_FIELDS.get(entity)
    value = data.get(name) if name else None
    return None if value is None else str(value)


_DEVICE_DECIDES = frozenset({Policy.LWW, Policy.WRITE_ONCE, Policy.STATE_MACHINE})


def decided_by_device(entity: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The values among ``fields`` of fields a device decides (``lww``, ``write_once``,
    ``state_machine`` in sync/rules.py): what the server keeps as the device sent it when it
    applies the mutation. ``computed`` and ``server_owned`` fields, and names outside the rules
    table, are left out: whatever the device sent for them is not what the server holds."""
    rules = RULES.get(entity)
    if rules is None:
        return {}
    table = rules.fields
    return {
        name: value
        for name, value in fields.items()
        if (rule := table.get(name)) is not None and rule.policy in _DEVICE_DECIDES
    }


class Record(msgspec.Struct, frozen=True, kw_only=True):
    entity: str
    id: str
    version: int
    fields: dict[str, Any]
    on_server: bool
    pending: bool
    """Has local edits the server has not answered yet."""
    rejected: bool = False
    """Created on this device and refused by the server: kept so it can be amended."""

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]


def _record(row: sqlite3.Row) -> Record:
    return Record(
        entity=row["entity"],
        id=row["id"],
        version=row["version"],
        fields=loads(row["data"]),
        on_server=bool(row["on_server"]),
        pending=bool(row["dirty"]),
        rejected=bool(row["rejected"]),
    )


_VISIBLE = "local_deleted = 0"

_UPSERT_SETTLED = (
    "INSERT INTO records (entity, id, version, data, base, on_server, dirty, "
    "local_deleted, rejected, ref) VALUES (?, ?, ?, ?, NULL, 1, 0, 0, 0, ?) "
    "ON CONFLICT (entity, id) DO UPDATE SET version = excluded.version, "
    "data = excluded.data, base = NULL, on_server = 1, dirty = 0, local_deleted = 0, "
    "rejected = 0, ref = excluded.ref"
)
_UPSERT_OVERLAID = (
    "INSERT INTO records (entity, id, version, data, base, on_server, dirty, "
    "local_deleted, rejected, ref) VALUES (?, ?, ?, ?, ?, 1, 1, ?, 0, ?) "
    "ON CONFLICT (entity, id) DO UPDATE SET version = excluded.version, "
    "data = excluded.data, base = excluded.base, on_server = 1, dirty = 1, "
    "local_deleted = excluded.local_deleted, rejected = 0, ref = excluded.ref"
)
_KEYS_PER_QUERY = 900  # parameters, under SQLite's 999 in its oldest builds

Key = tuple[str, str]
Row = sqlite3.Row | Mapping[str, Any]


class _Folding:
    """The record rows and pending mutations a push answer touches, read in a few queries and
    written back in a few ``executemany`` calls: folding 6,000 answers one statement at a time
    ran 30,000 statements, half the device's time in a push. Reads see every write made before
    them (the rows are kept as written); writes reach SQLite in the order they were made."""

    __slots__ = ("pending", "rows", "writes")

    def __init__(self) -> None:
        self.rows: dict[Key, dict[str, Any] | None] = {}
        self.pending: dict[Key, list[Row]] = {}
        self.writes: list[tuple[str, tuple[Any, ...]]] = []


class RecordStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._folding: _Folding | None = None

    @contextmanager
    def folding(self, keys: Iterable[Key]) -> Iterator[None]:
        """Within the caller's transaction: fold answers for the records ``keys`` against rows
        read once, and write the results when the block ends (nothing is written if it
        raises: the caller's transaction rolls back anyway)."""
        folding = _Folding()
        by_entity: dict[str, set[str]] = {}
        for entity, record_id in keys:
            by_entity.setdefault(entity, set()).add(record_id)
        # One entity at a time, so each read seeks the primary key and the pending index
        # ((entity, id) IN a list of pairs would scan the whole table).
        for entity, ids in by_entity.items():
            wanted = sorted(ids)
            for start in range(0, len(wanted), _KEYS_PER_QUERY):
                chunk = wanted[start : start + _KEYS_PER_QUERY]
                marks = ", ".join("?" * len(chunk))
                for record_id in chunk:
                    folding.rows[(entity, record_id)] = None
                    folding.pending[(entity, record_id)] = []
                for row in self.store.all(
                    f"SELECT * FROM records WHERE entity = ? AND id IN ({marks})",
                    (entity, *chunk),
                ):
                    folding.rows[(entity, row["id"])] = dict(row)
                for row in self.store.all(
                    # Named: without statistics SQLite picks the state index and reads every
                    # pending mutation for each chunk (20,000 of them at the start of a push).
                    "SELECT seq, entity, record_id, op, fields FROM outbox "
                    "INDEXED BY ix_outbox_pending_record "
                    f"WHERE state = 'pending' AND entity = ? AND record_id IN ({marks}) "
                    "ORDER BY seq",
                    (entity, *chunk),
                ):
                    folding.pending[(entity, row["record_id"])].append(row)
        self._folding = folding
        try:
            yield
        finally:
            self._folding = None
        writes = folding.writes
        start = 0
        while start < len(writes):
            sql = writes[start][0]
            end = start
            while end < len(writes) and writes[end][0] == sql:
                end += 1
            self.store.conn.executemany(sql, [params for _, params in writes[start:end]])
            start = end

    def settled(self, entity: str, record_id: str, seq: int) -> None:
        """The outbox answered mutation ``seq`` of the record: it is no longer pending."""
        if self._folding is not None:
            pending = self._folding.pending.get((entity, record_id))
            if pending is not None:
                pending[:] = [m for m in pending if m["seq"] != seq]

    def _row(self, entity: str, record_id: str) -> Row | None:
        folding = self._folding
        if folding is not None and (entity, record_id) in folding.rows:
            return folding.rows[(entity, record_id)]
        return self.store.one(
            "SELECT * FROM records WHERE entity = ? AND id = ?", (entity, record_id)
        )

    def _write(
        self, sql: str, params: tuple[Any, ...], key: Key, row: dict[str, Any] | None
    ) -> None:
        """Run ``sql``, or keep it for the end of the folding; ``row`` is the record's row as
        the statement leaves it."""
        folding = self._folding
        if folding is None or key not in folding.rows:
            self.store.execute(sql, params)
            return
        folding.writes.append((sql, params))
        folding.rows[key] = row

    # Reads -------------------------------------------------------------------------------------
    def get(self, entity: str, record_id: str) -> Record | None:
        row = self.store.one(
            f"SELECT * FROM records WHERE entity = ? AND id = ? AND {_VISIBLE}", (entity, record_id)
        )
        return None if row is None else _record(row)

    def all(self, entity: str) -> list[Record]:
        rows = self.store.all(
            f"SELECT * FROM records WHERE entity = ? AND {_VISIBLE} ORDER BY id", (entity,)
        )
        return [_record(r) for r in rows]

    def where(self, entity: str, **equals: Any) -> list[Record]:
        """Records of ``entity`` whose fields equal the given values (``account_id`` is indexed)."""
        sql = f"SELECT * FROM records WHERE entity = ? AND {_VISIBLE}"
        params: list[Any] = [entity]
        ref_name = REF_FIELDS.get(entity)
        if ref_name in equals and equals[ref_name] is not None:
            sql += " AND ref = ?"
            params.append(str(equals[ref_name]))
        for name, value in equals.items():
            if not name.isidentifier():
                raise ValueError(f"not a field name: {name!r}")
            if value is None:
                sql += f" AND json_extract(data, '$.{name}') IS NULL"
            else:
                sql += f" AND json_extract(data, '$.{name}') = ?"
                params.append(value)
        rows = self.store.all(sql + " ORDER BY id", tuple(params))
        return [_record(r) for r in rows]

    def count(self, entity: str | None = None) -> int:
        if entity is None:
            return int(self.store.scalar(f"SELECT count(*) FROM records WHERE {_VISIBLE}"))
        return int(
            self.store.scalar(
                f"SELECT count(*) FROM records WHERE entity = ? AND {_VISIBLE}", (entity,)
            )
        )

    def server_versions(self, entity: str) -> Iterator[tuple[str, int]]:
        """(id, version) of the server's records as this device holds them (for checksums)."""
        cursor = self.store.execute(
            "SELECT id, version FROM records WHERE entity = ? AND on_server = 1", (entity,)
        )
        for row in cursor:
            yield row[0], row[1]

    def server_state(self, entity: str, record_id: str) -> dict[str, Any] | None:
        row = self.store.one(
            "SELECT data, base, dirty, on_server FROM records WHERE entity = ? AND id = ?",
            (entity, record_id),
        )
        if row is None or not row["on_server"]:
            return None
        state: dict[str, Any] = loads(row["base"] if row["dirty"] else row["data"])
        return state

    # Local writes (called by the outbox inside its transaction) -----------------------------
    def write_local(self, entity: str, record_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Apply a local upsert to the visible state; returns the new visible fields."""
        row = self.store.one(
            "SELECT * FROM records WHERE entity = ? AND id = ?", (entity, record_id)
        )
        if row is None:
            data = {"id": record_id, **fields}
            self.store.execute(
                "INSERT INTO records (entity, id, version, data, base, on_server, dirty, ref) "
                "VALUES (?, ?, 0, ?, NULL, 0, 1, ?)",
                (entity, record_id, dumps(data), ref_of(entity, data)),
            )
            return data
        data = loads(row["data"])
        data.update(fields)
        base = row["base"] if row["dirty"] else (row["data"] if row["on_server"] else None)
        self.store.execute(
            "UPDATE records SET data = ?, base = ?, dirty = 1, local_deleted = 0, rejected = 0, "
            "ref = ? WHERE entity = ? AND id = ?",
            (dumps(data), base, ref_of(entity, data), entity, record_id),
        )
        return dict(data)

    def delete_local(self, entity: str, record_id: str) -> None:
        row = self.store.one(
            "SELECT * FROM records WHERE entity = ? AND id = ?", (entity, record_id)
        )
        if row is None:
            return
        base = row["base"] if row["dirty"] else (row["data"] if row["on_server"] else None)
        self.store.execute(
            "UPDATE records SET base = ?, dirty = 1, local_deleted = 1 WHERE entity = ? AND id = ?",
            (base, entity, record_id),
        )

    # Server state (pull pages and push answers) ---------------------------------------------
    def pending_records(self) -> set[tuple[str, str]]:
        rows = self.store.all(
            "SELECT DISTINCT entity, record_id FROM outbox WHERE state = 'pending'"
        )
        return {(r[0], r[1]) for r in rows}

    def apply_server(
        self,
        entity: str,
        record_id: str,
        version: int,
        fields: dict[str, Any],
        *,
        pending: bool,
    ) -> bool:
        """Store the server's state of a record and re-apply pending edits; False when ignored
        because we already hold a newer version."""
        row = self.store.one(
            "SELECT version, on_server FROM records WHERE entity = ? AND id = ?",
            (entity, record_id),
        )
        if row is not None and row["on_server"] and row["version"] > version:
            return False
        if not pending:
            self.store.execute(
                _UPSERT_SETTLED, (entity, record_id, version, dumps(fields), ref_of(entity, fields))
            )
            return True
        self._rebase(entity, record_id, fields, version)
        return True

    def apply_server_many(self, rows: Iterable[tuple[str, str, int, str, str | None]]) -> None:
        """Bulk path for records with nothing pending: (entity, id, version, data JSON, ref)."""
        self.store.conn.executemany(
            "INSERT INTO records (entity, id, version, data, base, on_server, dirty, "
            "local_deleted, rejected, ref) VALUES (?, ?, ?, ?, NULL, 1, 0, 0, 0, ?) "
            "ON CONFLICT (entity, id) DO UPDATE SET version = excluded.version, "
            "data = excluded.data, base = NULL, on_server = 1, dirty = 0, local_deleted = 0, "
            "rejected = 0, ref = excluded.ref "
            "WHERE excluded.version >= records.version OR records.on_server = 0",
            rows,
        )

    def remove_server(self, entity: str, record_id: str, *, pending: bool) -> None:
        """The server deleted the record or it left our scope. Pending edits stay in the outbox
        (the server will answer them, usually with a rejection the rep can read); the record
        itself disappears, since the server no longer has a state for it that we may show."""
        del pending
        self._write(
            "DELETE FROM records WHERE entity = ? AND id = ?",
            (entity, record_id),
            (entity, record_id),
            None,
        )

    def forget_personal(self, entity: str, record_id: str) -> None:
        """The server deleted a record holding personal data (an erasure deletes its subject's
        records, docs/privacy.md): no personal value of it stays on the device. Answered
        mutations keep their reason and the names of the fields they changed, with erased
        values; conflict notices about its personal fields lose both values. Pending mutations
        are left to their answer (a refusal, which is scrubbed the same way)."""
        rules = RULES.get(entity)
        if rules is None or not rules.personal_fields:
            return
        blank = {name: erased_value(rules.fields[name]) for name in rules.personal_fields}

        def scrub(text: str | None) -> str | None:
            if text is None:
                return None
            values = loads(text)
            if not isinstance(values, dict):
                return text
            return dumps({k: blank.get(k, v) for k, v in values.items()})

        for row in self.store.all(
            "SELECT seq, fields, current FROM outbox "
            "WHERE entity = ? AND record_id = ? AND state != 'pending'",
            (entity, record_id),
        ):
            self.store.execute(
                "UPDATE outbox SET fields = ?, current = ? WHERE seq = ?",
                (scrub(row["fields"]) or "{}", scrub(row["current"]), row["seq"]),
            )
        marks = ", ".join("?" * len(blank))
        self.store.execute(
            "UPDATE conflicts SET kept = 'null', discarded = 'null' "
            f"WHERE entity = ? AND record_id = ? AND field IN ({marks})",
            (entity, record_id, *blank),
        )

    def fold_answer(
        self,
        entity: str,
        record_id: str,
        version: int,
        accepted: dict[str, Any],
        *,
        decided: Mapping[str, Any] | None = None,
        answers: int = 1,
    ) -> None:
        """A push answer for one mutation of the record, which is no longer pending.

        ``accepted``: the device's own values the server took (fields a device decides, see
        ``decided_by_device``; for a merge, their resolved values). ``decided``: the values the
        server decided for the record (``Applied.fields``; a merge's resolutions of computed
        fields). ``answers``: how many answers of this push name the record at ``version`` (the
        server answers every mutation of a record in a batch with its version after the batch).

        The base takes ``version`` only when nothing but this device's own writes can lie
        between the version held and it (see the module docstring); otherwise it keeps the
        version it has, with ``accepted`` on it, and the pull brings the rest. The overlay is
        then recomputed from the remaining pending mutations."""
        row = self._row(entity, record_id)
        if row is None:
            return
        if row["on_server"]:
            held: int = row["version"]
            seen: dict[str, Any] = loads(row["base"] if row["dirty"] else row["data"])
            if version < held:
                # A pull already brought a newer state; only the overlay needs recomputing.
                self._rebase(entity, record_id, seen, held)
                return
            seen.update(accepted)
            if version not in (held, held + answers):
                # Someone else may have written in between: keep the version this device has
                # seen, so its next edit names it and the server can tell what was concurrent.
                self._rebase(entity, record_id, seen, held)
                return
            seen.update(decided or {})
            if "version" in seen:
                seen["version"] = version
            self._rebase(entity, record_id, seen, version)
            return
        if not 1 <= version <= answers:
            # Created here, but the answer cannot be this device's creation alone (a receipt of
            # a larger batch, or a version 0 for a receipt long gone): the record stays this
            # device's own until the pull brings the server's state.
            dirty = 1 if self._pending_mutations(entity, record_id) else 0
            self._write(
                "UPDATE records SET dirty = ?, rejected = 0 WHERE entity = ? AND id = ?",
                (dirty, entity, record_id),
                (entity, record_id),
                {**row, "dirty": dirty, "rejected": 0},
            )
            return
        # First acknowledgement of a record created here: of the visible state (minus any later
        # pending edit, re-applied below), the fields a device decides are the server's too;
        # the computed and server-owned ones are the server's to say (``decided``).
        visible = self._without_pending(entity, record_id, loads(row["data"]))
        server = {"id": record_id, **decided_by_device(entity, visible)}
        server.update(accepted)
        server.update(decided or {})
        self._rebase(entity, record_id, server, version)

    def drop_overlay(self, entity: str, record_id: str) -> None:
        """A mutation was refused: show the server's state with the remaining pending edits."""
        row = self._row(entity, record_id)
        if row is None:
            return
        if not row["on_server"]:
            remaining = 1 if self._pending_mutations(entity, record_id) else 0
            # Never on the server: keep what the rep captured, marked so it can be amended.
            self._write(
                "UPDATE records SET rejected = ?, dirty = ?, local_deleted = 0 "
                "WHERE entity = ? AND id = ?",
                (1 - remaining, remaining, entity, record_id),
                (entity, record_id),
                {**row, "rejected": 1 - remaining, "dirty": remaining, "local_deleted": 0},
            )
            return
        server = loads(row["base"] if row["dirty"] else row["data"])
        self._rebase(entity, record_id, server, row["version"])

    # Internals ---------------------------------------------------------------------------------
    def _pending_mutations(self, entity: str, record_id: str) -> Sequence[Row]:
        folding = self._folding
        if folding is not None and (entity, record_id) in folding.pending:
            return folding.pending[(entity, record_id)]
        return self.store.all(
            "SELECT op, fields FROM outbox "
            "WHERE entity = ? AND record_id = ? AND state = 'pending' ORDER BY seq",
            (entity, record_id),
        )

    def _without_pending(self, entity: str, record_id: str, data: dict[str, Any]) -> dict[str, Any]:
        # Used only for records the server has never seen; the fields named by still-pending
        # mutations are not yet the server's, everything else is.
        names: set[str] = set()
        for m in self._pending_mutations(entity, record_id):
            names.update(loads(m["fields"]).keys())
        return {k: v for k, v in data.items() if k not in names or k == "id"}

    def _rebase(self, entity: str, record_id: str, server: dict[str, Any], version: int) -> None:
        key = (entity, record_id)
        pending = self._pending_mutations(entity, record_id)
        if not pending:
            data = dumps(server)
            self._write(
                _UPSERT_SETTLED,
                (entity, record_id, version, data, ref_of(entity, server)),
                key,
                _row_as(entity, record_id, version, data, None, dirty=0, deleted=0),
            )
            return
        visible = dict(server)
        deleted = False
        for m in pending:
            if m["op"] == "delete":
                deleted = True
            else:
                visible.update(loads(m["fields"]))
                deleted = False
        data, base = dumps(visible), dumps(server)
        self._write(
            _UPSERT_OVERLAID,
            (entity, record_id, version, data, base, int(deleted), ref_of(entity, visible)),
            key,
            _row_as(entity, record_id, version, data, base, dirty=1, deleted=int(deleted)),
        )

    def reset_server_state(self, entity: str | None = None) -> None:
        """First page of a bootstrap (or of a one-entity re-fetch): forget every record the
        server told us about. Records created here and not yet answered stay (their mutations
        are still in the outbox), and records with pending edits come back, rebased, when the
        snapshot carries them."""
        if entity is None:
            self.store.execute("DELETE FROM records WHERE on_server = 1")
        else:
            self.store.execute("DELETE FROM records WHERE on_server = 1 AND entity = ?", (entity,))


def _row_as(
    entity: str,
    record_id: str,
    version: int,
    data: str,
    base: str | None,
    *,
    dirty: int,
    deleted: int,
) -> dict[str, Any]:
    """A records row as an upsert from a server state leaves it."""
    return {
        "entity": entity,
        "id": record_id,
        "version": version,
        "data": data,
        "base": base,
        "on_server": 1,
        "dirty": dirty,
        "local_deleted": deleted,
        "rejected": 0,
    }
