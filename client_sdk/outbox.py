"""The outbox: every local write changes the record and appends its mutation in ONE transaction.

Mutations carry a per-device sequence number that only grows (kept in ``meta``, never derived
from the table, whose answered rows are deleted), the client transaction id that groups the
writes of one user action (an order with its lines), and a hybrid-logical-clock stamp. Batches
for a push are cut on transaction boundaries, never through one.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any

import msgspec

from client_sdk.errors import InvalidFieldValue, LocalRuleViolation, NotLoggedIn
from client_sdk.records import ENVELOPE, RecordStore, decided_by_device
from client_sdk.store import Store, dumps, loads
from sync import clock
from sync.constraints import Ref
from sync.errors import InvalidValue, UnknownEntity
from sync.ids import new_id
from sync.messages import Applied, Delete, Merged, Mutation, Rejected, Result, Upsert
from sync.rules import check_fields, check_record, entity_rules

__all__ = ["Answered", "Outbox", "PendingMutation", "Tx", "wire_value"]


@cache
def _refs(entity: str) -> frozenset[str]:
    """The fields of ``entity`` that name another record."""
    return frozenset(
        name for name, rule in entity_rules(entity).fields.items() if isinstance(rule.check, Ref)
    )


def wire_value(value: Any) -> Any:
    """JSON-safe form of a field value: decimals as strings, datetimes ISO 8601 with offset."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("naive datetime: give a time zone (UTC is fine)")
    return msgspec.to_builtins(value)


class PendingMutation(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    tx: str
    entity: str
    record_id: str
    op: str
    fields: dict[str, Any]
    hlc: str
    base_version: int | None
    created_at: str

    def message(self) -> Mutation:
        if self.op == "delete":
            return Delete(
                seq=self.seq,
                tx=self.tx,
                entity=self.entity,
                id=self.record_id,
                hlc=self.hlc,
                base_version=self.base_version,
            )
        return Upsert(
            seq=self.seq,
            tx=self.tx,
            entity=self.entity,
            id=self.record_id,
            fields=self.fields,
            hlc=self.hlc,
            base_version=self.base_version,
        )


def _pending(row: sqlite3.Row) -> PendingMutation:
    return PendingMutation(
        seq=row["seq"],
        tx=row["tx"],
        entity=row["entity"],
        record_id=row["record_id"],
        op=row["op"],
        fields=loads(row["fields"]),
        hlc=row["hlc"],
        base_version=row["base_version"],
        created_at=row["created_at"],
    )


class Answered(msgspec.Struct, kw_only=True):
    applied: int = 0
    merged: int = 0
    rejected: int = 0
    unknown: int = 0
    """Answers for a sequence number we no longer hold as pending (a resent batch)."""


class Tx:
    """One client transaction: the writes of one user action, applied whole or not at all."""

    def __init__(self, outbox: Outbox, tx_id: str) -> None:
        self.outbox = outbox
        self.id = tx_id

    def upsert(self, entity: str, record_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        return self.outbox._append(self.id, "upsert", entity, record_id, fields)

    def delete(self, entity: str, record_id: str) -> None:
        self.outbox._append(self.id, "delete", entity, record_id, {})


class Outbox:
    def __init__(self, store: Store, records: RecordStore) -> None:
        self.store = store
        self.records = records
        self._current: Tx | None = None
        self._device_id: str | None = None

    def forget_identity(self) -> None:
        """Called after a login: the device id may have changed."""
        self._device_id = None

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """Nested calls join the outer client transaction."""
        if self._current is not None:
            with self.store.atomic():
                yield self._current
            return
        tx = Tx(self, new_id())
        self._current = tx
        try:
            with self.store.atomic():
                yield tx
        finally:
            self._current = None

    def _append(
        self, tx_id: str, op: str, entity: str, record_id: str, fields: dict[str, Any]
    ) -> dict[str, Any]:
        device_id = self._device_id or self.store.get_meta("device_id")
        self._device_id = device_id
        if not device_id:
            raise NotLoggedIn("log in once online before capturing data on this device")
        wire = {k: wire_value(v) for k, v in fields.items() if k not in ENVELOPE}
        if op == "upsert":
            self._check(entity, record_id, wire)
        with self.store.atomic(savepoint=False):
            counters = {
                r[0]: loads(r[1])
                for r in self.store.all(
                    "SELECT key, value FROM meta WHERE key IN ('hlc', 'next_seq')"
                )
            }
            last_text = counters.get("hlc")
            last = clock.Hlc.parse(last_text) if last_text else None
            stamp = clock.send(last, wall_ms=clock.wall_now_ms(), node=device_id)
            if op == "upsert" and self._coalesce(tx_id, entity, record_id, wire, stamp.encode()):
                self.store.set_meta("hlc", stamp.encode())
                return self.records.write_local(entity, record_id, wire)
            seq = int(counters.get("next_seq") or 1)
            self.store.conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [("hlc", dumps(stamp.encode())), ("next_seq", dumps(seq + 1))],
            )
            row = self.store.one(
                "SELECT version, on_server FROM records WHERE entity = ? AND id = ?",
                (entity, record_id),
            )
            base_version = row["version"] if row is not None and row["on_server"] else None
            self.store.execute(
                "INSERT INTO outbox (seq, tx, entity, record_id, op, fields, hlc, base_version, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    tx_id,
                    entity,
                    record_id,
                    op,
                    dumps(wire),
                    stamp.encode(),
                    base_version,
                    datetime.now(UTC).isoformat(),
                ),
            )
            if op == "delete":
                self.records.delete_local(entity, record_id)
                return {}
            return self.records.write_local(entity, record_id, wire)

    def _check(self, entity: str, record_id: str, wire: dict[str, Any]) -> None:
        """The rulebook's value checks, the server's own (sync.rules): each value written, then
        the entity's invariants over the record as it will read. Raises before anything is
        stored, with the field at fault."""
        try:
            check_fields(entity, wire)
            if entity_rules(entity).invariants:
                row = self.store.one(
                    "SELECT data FROM records WHERE entity = ? AND id = ?", (entity, record_id)
                )
                current: dict[str, Any] = {} if row is None else loads(row["data"])
                check_record(entity, {**current, **wire})
        except InvalidValue as exc:
            raise InvalidFieldValue(exc.field, exc.detail) from exc
        except UnknownEntity as exc:
            raise LocalRuleViolation(exc.detail, reason="unknown_entity") from exc

    def _coalesce(
        self, tx_id: str, entity: str, record_id: str, wire: dict[str, Any], stamp: str
    ) -> bool:
        """Fold an upsert into the record's earlier upsert of the same client transaction, so a
        record written several times by one user action (an order created, re-priced and
        submitted) travels as one mutation; returns whether it did.

        The server applies a transaction whole, and judges a line against its order's status as
        the transaction began, so moving a later write of a record to its first write's place
        changes nothing — unless the later write points at a record created in between (that
        one would not exist yet at the earlier place), or the record was deleted in between.
        Those stay separate mutations."""
        earlier = self.store.one(
            "SELECT seq, op, fields FROM outbox WHERE tx = ? AND entity = ? AND record_id = ? "
            "AND state = 'pending' ORDER BY seq DESC LIMIT 1",
            (tx_id, entity, record_id),
        )
        if earlier is None or earlier["op"] != "upsert":
            return False
        pointed = [
            value
            for name, value in wire.items()
            if isinstance(value, str) and name in _refs(entity)
        ]
        if pointed and self.store.scalar(
            f"SELECT count(*) FROM outbox WHERE tx = ? AND seq > ? AND record_id IN "
            f"({', '.join('?' * len(pointed))})",
            (tx_id, earlier["seq"], *pointed),
        ):
            return False
        merged = {**loads(earlier["fields"]), **wire}
        self.store.execute(
            "UPDATE outbox SET fields = ?, hlc = ? WHERE seq = ?",
            (dumps(merged), stamp, earlier["seq"]),
        )
        return True

    # Reading the queue -------------------------------------------------------------------------
    def pending_count(self) -> int:
        return int(self.store.scalar("SELECT count(*) FROM outbox WHERE state = 'pending'"))

    def oldest_pending_at(self) -> str | None:
        value = self.store.scalar(
            "SELECT created_at FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT 1"
        )
        return None if value is None else str(value)

    def pending(self) -> list[PendingMutation]:
        rows = self.store.all("SELECT * FROM outbox WHERE state = 'pending' ORDER BY seq")
        return [_pending(r) for r in rows]

    def next_batch(
        self, max_mutations: int, *, after_seq: int = 0, ceiling: int | None = None
    ) -> list[PendingMutation]:
        """The oldest pending mutations after ``after_seq``, about ``max_mutations`` of them,
        extended to the end of the last client transaction so none is split.

        ``ceiling`` is a hard bound (the server's limit per push): the batch then ends at the
        last transaction boundary within it. A single client transaction larger than the
        ceiling still goes whole and alone: it cannot be split, and the server says whether it
        takes it."""
        rows = self.store.all(
            "SELECT * FROM outbox WHERE state = 'pending' AND seq > ? ORDER BY seq LIMIT ?",
            (after_seq, max(1, max_mutations)),
        )
        if not rows:
            return []
        last = rows[-1]
        rest = self.store.all(
            "SELECT * FROM outbox WHERE state = 'pending' AND tx = ? AND seq > ? ORDER BY seq",
            (last["tx"], last["seq"]),
        )
        batch = [_pending(r) for r in [*rows, *rest]]
        if ceiling is None or len(batch) <= ceiling:
            return batch
        ends = [i for i in range(1, len(batch)) if batch[i].tx != batch[i - 1].tx]
        fitting = [i for i in ends if i <= max(1, ceiling)]
        return batch[: fitting[-1] if fitting else (ends[0] if ends else len(batch))]

    # Answers from the server -------------------------------------------------------------------
    def answer(self, results: list[Result]) -> Answered:
        """Record the server's answers, all in one transaction with the rebase they cause.

        What is folded into a record's base is what the server decided (client_sdk/records.py):
        the fields a device decides as sent (as resolved, for a merge) and the values the answer
        carries, never the device's own guesses of computed or server-owned fields."""
        counts = Answered()
        now = datetime.now(UTC).isoformat()
        with self.store.atomic():
            held: dict[int, sqlite3.Row] = {}
            seqs = [result.seq for result in results]
            for start in range(0, len(seqs), 500):
                chunk = seqs[start : start + 500]
                for found in self.store.all(
                    "SELECT * FROM outbox WHERE state = 'pending' AND seq IN "
                    f"({', '.join('?' * len(chunk))})",
                    tuple(chunk),
                ):
                    held[found["seq"]] = found
            rows = [(result, held.get(result.seq)) for result in results]
            # How many answers name each record at each version: the server answers every
            # mutation of a record in a batch with the record's version after the batch.
            at_version: Counter[tuple[str, str, int]] = Counter(
                (row["entity"], row["record_id"], result.version)
                for result, row in rows
                if row is not None
                and row["op"] != "delete"
                and isinstance(result, Applied | Merged)
            )
            settled: list[tuple[int]] = []
            refused: list[tuple[Any, ...]] = []
            gone: set[tuple[str, str]] = set()
            with self.records.folding(
                (row["entity"], row["record_id"]) for _, row in rows if row is not None
            ):
                for result, row in rows:
                    if row is None:
                        counts.unknown += 1
                        continue
                    entity, record_id = row["entity"], row["record_id"]
                    self.records.settled(entity, record_id, result.seq)
                    match result:
                        case Applied():
                            settled.append((result.seq,))
                            if row["op"] == "delete":
                                self.records.remove_server(entity, record_id, pending=False)
                            else:
                                self.records.fold_answer(
                                    entity,
                                    record_id,
                                    result.version,
                                    decided_by_device(entity, loads(row["fields"])),
                                    decided=result.fields,
                                    answers=at_version[(entity, record_id, result.version)],
                                )
                            counts.applied += 1
                        case Merged():
                            settled.append((result.seq,))
                            accepted = decided_by_device(
                                entity, {**loads(row["fields"]), **result.fields}
                            )
                            self.records.fold_answer(
                                entity,
                                record_id,
                                result.version,
                                accepted,
                                decided={
                                    k: v for k, v in result.fields.items() if k not in accepted
                                },
                                answers=at_version[(entity, record_id, result.version)],
                            )
                            counts.merged += 1
                        case Rejected():
                            refused.append(
                                (
                                    result.reason,
                                    result.detail,
                                    result.field,
                                    None if result.current is None else dumps(result.current),
                                    now,
                                    result.seq,
                                )
                            )
                            self.records.drop_overlay(entity, record_id)
                            if result.reason == "deleted":
                                gone.add((entity, record_id))
                            counts.rejected += 1
            self.store.conn.executemany("DELETE FROM outbox WHERE seq = ?", settled)
            self.store.conn.executemany(
                "UPDATE outbox SET state = 'rejected', reason = ?, detail = ?, "
                "field = ?, current = ?, answered_at = ? WHERE seq = ?",
                refused,
            )
            # Refused because the server deleted the record: what it said about a person
            # goes too, whether or not the delete was pulled already.
            for entity, record_id in gone:
                self.records.forget_personal(entity, record_id)
        return counts

    def close_rejected(self, seqs: list[int], *, state: str = "dismissed") -> None:
        if state not in ("dismissed", "amended"):
            raise ValueError(state)
        with self.store.atomic():
            self.store.conn.executemany(
                f"UPDATE outbox SET state = '{state}' WHERE seq = ? AND state = 'rejected'",
                [(s,) for s in seqs],
            )
