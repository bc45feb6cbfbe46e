"""The convergence invariants, one small function each. Every function returns the violations
it found as sentences naming the invariant, the device and the record, so a failing seed says
exactly what broke."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import msgspec

from client_sdk.store import loads
from server.sync.clock import NODE_PREFIX
from server.sync.coerce import FieldError, from_wire
from sync.checksum import scope_digest
from sync.messages import Applied, Delete, Merged, Upsert
from sync.rules import Policy, entity_rules
from sync.values import same_value
from tests.sync_convergence.ledger import Ack, Ledger
from tests.sync_convergence.server_view import ConflictRow, ServerView
from tests.sync_convergence.simulation import SimDevice

__all__ = [
    "acked_mutations_survive",
    "check_all",
    "concurrent_overwrites_logged",
    "conflict_notices_delivered",
    "every_push_answered",
    "index_matches_tables",
    "merged_discards_logged",
    "outbox_settled",
    "rejections_quarantined",
    "same_answer_every_time",
    "store_matches_scope",
]

Key = tuple[str, str]
_KEPT_POLICIES = frozenset({Policy.LWW, Policy.WRITE_ONCE, Policy.STATE_MACHINE})


def _short(record_id: str) -> str:
    return record_id[-8:]


def _same(entity: str, name: str, a: Any, b: Any) -> bool:
    """Equal as the column would store them ("10" and "10.00" are one discount)."""
    try:
        return bool(from_wire(entity, name, a) == from_wire(entity, name, b))
    except (FieldError, TypeError, ValueError):
        return same_value(a, b)


def _policy(entity: str, name: str) -> Policy | None:
    rules = entity_rules(entity).fields.get(name)
    return None if rules is None else rules.policy


# The device side -------------------------------------------------------------------------------
def outbox_settled(device: SimDevice) -> list[str]:
    """Nothing is left to send; what stays in the outbox is what the server refused, and the
    client lists exactly those as rejected."""
    problems = []
    rows = device.client.store.all("SELECT seq, state, entity, record_id FROM outbox")
    for row in rows:
        if row["state"] not in ("rejected", "amended", "dismissed"):
            problems.append(
                f"outbox_settled: {device.label} still has seq {row['seq']} "
                f"({row['entity']} {_short(row['record_id'])}) in state {row['state']!r}"
            )
    listed = {r.seq for r in device.client.rejected()}
    refused = {row["seq"] for row in rows if row["state"] == "rejected"}
    if listed != refused:
        problems.append(
            f"outbox_settled: {device.label} lists rejected seqs {sorted(listed)} but its "
            f"outbox holds {sorted(refused)}"
        )
    return problems


def rejections_quarantined(device: SimDevice, view: ServerView) -> list[str]:
    """Every refusal is kept on both sides: the device's rejected mutations are exactly the
    server's quarantine for that device."""
    local = {r.seq for r in device.client.rejected()}
    server = view.quarantine.get(device.device_id, set())
    if local == server:
        return []
    return [
        f"rejections_quarantined: {device.label} keeps rejected seqs {sorted(local - server)} "
        f"the server did not quarantine, and the server quarantined {sorted(server - local)} "
        "the device does not list"
    ]


@dataclass(frozen=True)
class _LocalRow:
    version: int
    data: dict[str, Any]
    on_server: bool
    dirty: bool
    local_deleted: bool
    rejected: bool


def _local_rows(device: SimDevice) -> dict[Key, _LocalRow]:
    rows = device.client.store.all(
        "SELECT entity, id, version, data, on_server, dirty, local_deleted, rejected FROM records"
    )
    return {
        (r["entity"], r["id"]): _LocalRow(
            r["version"],
            loads(r["data"]),
            bool(r["on_server"]),
            bool(r["dirty"]),
            bool(r["local_deleted"]),
            bool(r["rejected"]),
        )
        for r in rows
    }


def store_matches_scope(device: SimDevice, view: ServerView) -> list[str]:
    """The device holds exactly the live records of its user's scope, each at the server's
    version with the server's fields; the only extra records are its own creations the server
    refused (kept, marked rejected, for the rep to amend)."""
    problems = []
    local = _local_rows(device)
    scope = view.scopes[device.device_id]
    rejected_ids = {(r.entity, r.record_id) for r in device.client.rejected()}
    for key, row in sorted(local.items()):
        entity, record_id = key
        where = f"{device.label} {entity} {_short(record_id)}"
        if not row.on_server:
            if not (row.rejected and key in rejected_ids):
                problems.append(
                    f"store_matches_scope: {where} exists only on the device "
                    f"(rejected={row.rejected}) without a rejected mutation explaining it"
                )
            continue
        if row.dirty or row.local_deleted:
            problems.append(
                f"store_matches_scope: {where} still carries unsent local edits "
                f"(dirty={row.dirty}, deleted={row.local_deleted})"
            )
        server = scope.get(key)
        if server is None:
            problems.append(
                f"store_matches_scope: {where} v{row.version} is on the device but not in the "
                f"server's view of its scope ({_fate(view, key)})"
            )
            continue
        if row.version != server.version:
            problems.append(
                f"store_matches_scope: {where} is at v{row.version} on the device, "
                f"v{server.version} on the server"
            )
        elif row.data != server.data:
            diff = {
                name: (row.data.get(name), server.data.get(name))
                for name in sorted(set(row.data) | set(server.data))
                if row.data.get(name) != server.data.get(name)
            }
            problems.append(
                f"store_matches_scope: {where} v{row.version} differs (device, server): {diff}"
            )
    for key, server in sorted(scope.items()):
        if key not in local:
            problems.append(
                f"store_matches_scope: {device.label} lacks {key[0]} {_short(key[1])} "
                f"v{server.version}, which is in its scope on the server"
            )
    return problems


def _fate(view: ServerView, key: Key) -> str:
    row = view.index.get(key)
    if row is None:
        return "the server never had it"
    return "deleted on the server" if row.deleted else "outside the scope on the server"


def conflict_notices_delivered(device: SimDevice, view: ServerView) -> list[str]:
    """Every conflict this device lost reached it as a notice, and it holds no other."""
    expected = {c.id for c in view.conflicts if c.discarded_origin == device.device_id}
    held = {c.conflict_id for c in device.client.conflicts()}
    if expected == held:
        return []
    return [
        f"conflict_notices_delivered: {device.label} never received conflicts "
        f"{sorted(expected - held)}; holds unknown ones {sorted(held - expected)}"
    ]


# The server side -------------------------------------------------------------------------------
def index_matches_tables(view: ServerView) -> list[str]:
    """``sync_records`` (what bootstrap and scope checksums read) equals the domain tables."""
    problems = []
    for key, row in sorted(view.rows.items()):
        indexed = view.index.get(key)
        where = f"{key[0]} {_short(key[1])}"
        if indexed is None:
            problems.append(f"index_matches_tables: {where} is missing from sync_records")
            continue
        if indexed.version != row.version or indexed.deleted != row.deleted:
            problems.append(
                f"index_matches_tables: {where} is v{row.version} deleted={row.deleted} in its "
                f"table but v{indexed.version} deleted={indexed.deleted} in sync_records"
            )
            continue
        if row.deleted:
            continue
        # Compared as values: "0" and "0.00" are one discount (the wire form of a decimal may
        # keep the scale the writer used).
        entity = key[0]
        diff = {
            name: (row.wire.get(name), indexed.data.get(name))
            for name in sorted(set(row.wire) | set(indexed.data))
            if not _same_json(entity, name, row.wire.get(name), indexed.data.get(name))
        }
        if diff:
            problems.append(
                f"index_matches_tables: {where} v{row.version} differs (table, sync_records): "
                f"{diff}"
            )
    return problems


def kept_checksums_match_index(view: ServerView) -> list[str]:
    """The scope checksums kept as records are written (server/sync/sums.py) equal a fresh hash
    of what each device's scope selects from ``sync_records``, entity by entity."""
    problems = []
    for device_id, scope in view.scopes.items():
        by_entity: dict[str, list[tuple[str, int]]] = {}
        for (entity, record_id), row in scope.items():
            by_entity.setdefault(entity, []).append((record_id, row.version))
        kept = view.sums[device_id]
        for entity in sorted(by_entity.keys() | kept.keys()):
            expected = scope_digest(by_entity.get(entity, []))
            if kept.get(entity, (0, f"{0:016x}")) != expected:
                problems.append(
                    f"kept_checksums_match_index: {_short(device_id)} {entity} kept "
                    f"{kept.get(entity)} but its scope hashes to {expected}"
                )
    return problems


def _same_json(entity: str, name: str, a: Any, b: Any) -> bool:
    a = msgspec.json.decode(msgspec.json.encode(a))
    if a == b:
        return True
    return _policy(entity, name) is not None and _same(entity, name, a, b)


def every_push_answered(ledger: Ledger) -> list[str]:
    """No push failed on the server's side (a 5xx or a refusal of a well-formed batch)."""
    return [f"every_push_answered: {failure}" for failure in ledger.push_failures]


def same_answer_every_time(ledger: Ledger) -> list[str]:
    """Exactly-once effect: a mutation resent (duplicate request, lost response, late replay)
    gets the same answer as the first time."""
    return [f"same_answer_every_time: {m}" for m in ledger.answer_mismatches]


def acked_mutations_survive(ledger: Ledger, view: ServerView) -> list[str]:
    """No acknowledged mutation is lost: its record exists (or was deleted later), and each field
    it set holds its value or one written at a later version."""
    problems = []
    for ack in sorted(ledger.acks.values(), key=lambda a: a.order):
        if not ack.took_effect:
            continue
        m = ack.mutation
        row = view.rows.get((m.entity, m.id))
        where = f"{ack.device} seq {m.seq} ({m.entity} {_short(m.id)}, v{ack.result.version})"
        if row is None:
            problems.append(f"acked_mutations_survive: {where} was acknowledged; no such record")
            continue
        if isinstance(m, Delete):
            if not row.deleted:
                problems.append(
                    f"acked_mutations_survive: {where} acknowledged a delete; the record is live"
                )
            continue
        assert isinstance(m, Upsert)
        if row.deleted:
            deleted_at = int(row.clocks.get("_deleted", ["", 0])[1])
            if deleted_at <= ack.result.version and not _deleted_by_itself(ledger, ack):
                problems.append(
                    f"acked_mutations_survive: {where} is deleted, but not by a later write "
                    f"(delete at v{deleted_at})"
                )
            continue
        for name, sent in m.fields.items():
            if _policy(m.entity, name) not in _KEPT_POLICIES:
                continue
            # Merged answers hold the resolved values, applied ones the values the server
            # decided itself (a line number moved off a taken one): either is what was kept.
            answered = ack.result.fields if isinstance(ack.result, Merged | Applied) else {}
            expected = answered.get(name, sent)
            current = row.wire.get(name)
            if _same(m.entity, name, expected, current):
                continue
            written_at = int(row.clocks.get(name, ["", 0])[1])
            if written_at <= ack.result.version and not _rewritten_by_itself(
                ledger, ack, name, current
            ):
                problems.append(
                    f"acked_mutations_survive: {where} {name}={expected!r} was acknowledged, "
                    f"the server holds {current!r} written at v{written_at}"
                )
    return problems


def _rewritten_by_itself(ledger: Ledger, ack: Ack, name: str, current: Any) -> bool:
    """A later mutation of the same device, answered in the same push (so carrying the same
    final version), set the field to what it holds now: an order created as a draft and
    submitted in one go."""
    m = ack.mutation
    for other in ledger.acks.values():
        later = other.mutation
        if (
            other.device_id == ack.device_id
            and later.seq > m.seq
            and (later.entity, later.id) == (m.entity, m.id)
            and other.result.version == ack.result.version
            and isinstance(later, Upsert)
            and name in later.fields
            and _same(m.entity, name, later.fields[name], current)
        ):
            return True
    return False


def _deleted_by_itself(ledger: Ledger, ack: Ack) -> bool:
    """A later delete of the same device, answered in the same push with the same version."""
    m = ack.mutation
    return any(
        other.device_id == ack.device_id
        and other.mutation.seq > m.seq
        and isinstance(other.mutation, Delete)
        and (other.mutation.entity, other.mutation.id) == (m.entity, m.id)
        and other.result.version == ack.result.version
        for other in ledger.acks.values()
    )


def _matching(
    conflicts: list[ConflictRow],
    entity: str,
    record_id: str,
    name: str,
    *,
    discarded: Any,
    discarded_origin: str | None,
    rule: str,
) -> bool:
    return any(
        c.entity == entity
        and c.record_id == record_id
        and c.field == name
        and c.rule == rule
        and _same_writer(c.discarded_origin, discarded_origin)
        and _same(entity, name, c.discarded, discarded)
        for c in conflicts
    )


def _same_writer(recorded: str | None, expected: str | None) -> bool:
    """The ledger knows a server-side write as "server"; the conflict log names the node of the
    server process that made it (``server-`` and its own id)."""
    if expected == "server" and recorded is not None:
        return recorded.startswith(NODE_PREFIX)
    return recorded == expected


def merged_discards_logged(ledger: Ledger, view: ServerView) -> list[str]:
    """Every field a Merged answer reports as discarded has a conflict record with the
    device's value as the one discarded."""
    problems = []
    for ack in ledger.acks.values():
        if not isinstance(ack.result, Merged):
            continue
        m = ack.mutation
        assert isinstance(m, Upsert)
        for name in ack.result.discarded:
            if not _matching(
                view.conflicts,
                m.entity,
                m.id,
                name,
                discarded=m.fields.get(name),
                discarded_origin=ack.device_id,
                rule="lww",
            ):
                problems.append(
                    f"merged_discards_logged: {ack.device} seq {m.seq} lost {m.entity} "
                    f"{_short(m.id)}.{name}={m.fields.get(name)!r}; no conflict record says so"
                )
    return problems


@dataclass(frozen=True)
class _Write:
    version: int
    order: int
    hlc: str
    origin: str
    value: Any
    base: int | None
    """The version the writer had seen (None: the server, which always sees the current row)."""
    who: str
    delete: bool = False


@dataclass
class _FieldState:
    value: Any
    hlc: str
    version: int
    origin: str


def concurrent_overwrites_logged(ledger: Ledger, view: ServerView) -> list[str]:
    """Every value discarded by a concurrent write is in the conflict log: replaying the writes
    that took effect on each LWW field in version order (the server's and the devices'), whenever
    a device overwrote with a different value a value it had not seen (written at a version
    above its base, by another writer), or deleted a record over such a value, a conflict record
    names the value it discarded."""
    streams: dict[Key, list[_Write]] = defaultdict(list)
    fields_of: dict[Key, dict[str, list[_Write]]] = defaultdict(lambda: defaultdict(list))
    for ack in ledger.acks.values():
        if not ack.took_effect:
            continue
        m = ack.mutation
        key = (m.entity, m.id)
        if isinstance(m, Delete):
            streams[key].append(_write_of(ack, None, None, delete=True))
            continue
        assert isinstance(m, Upsert)
        discarded = ack.result.discarded if isinstance(ack.result, Merged) else []
        for name, value in m.fields.items():
            if _policy(m.entity, name) is Policy.LWW and name not in discarded:
                fields_of[key][name].append(_write_of(ack, name, value))
    for w in ledger.server_writes:
        fields_of[(w.entity, w.record_id)][w.field].append(
            _Write(w.version, w.order, w.hlc, "server", w.value, None, f"server {w.how}")
        )
    for entity, record_id, version in ledger.server_deletes:
        streams[(entity, record_id)].append(
            _Write(version, -1, "", "server", None, None, "server delete", delete=True)
        )

    problems: list[str] = []
    for key in set(fields_of) | set(streams):
        entity, record_id = key
        states: dict[str, _FieldState] = {}
        events: list[tuple[int, int, str | None, _Write]] = [
            (w.version, w.order, name, w) for name, ws in fields_of[key].items() for w in ws
        ]
        events += [(w.version, w.order, None, w) for w in streams[key]]
        events.sort(key=lambda e: (e[0], e[1]))
        deleted = False
        for _version, _order, name, w in events:
            if deleted:
                break
            if w.delete:
                deleted = True
                if w.base is None:
                    continue
                for field_name, state in states.items():
                    if _concurrent(state, w) and state.value is not None:
                        problems += _expect(
                            view, entity, record_id, field_name, state, w, "delete_wins"
                        )
                continue
            assert name is not None
            state = states.get(name)
            if state is not None and w.base is not None and w.hlc <= state.hlc:
                continue  # an older stamp of the same value: the field's clock did not move
            if (
                state is not None
                and _concurrent(state, w)
                and not _same(entity, name, state.value, w.value)
            ):
                problems += _expect(view, entity, record_id, name, state, w, "lww")
            states[name] = _FieldState(w.value, w.hlc, w.version, w.origin)
    return problems


def _write_of(ack: Ack, name: str | None, value: Any, *, delete: bool = False) -> _Write:
    m = ack.mutation
    if isinstance(ack.result, Merged) and name is not None:
        value = ack.result.fields.get(name, value)
    return _Write(
        ack.result.version,
        ack.order * 10_000 + m.seq,
        m.hlc,
        ack.device_id,
        value,
        m.base_version or 0,
        f"{ack.device} seq {m.seq}",
        delete=delete,
    )


def _concurrent(state: _FieldState, w: _Write) -> bool:
    return w.base is not None and state.version > w.base and state.origin != w.origin


def _expect(
    view: ServerView,
    entity: str,
    record_id: str,
    name: str,
    state: _FieldState,
    w: _Write,
    rule: str,
) -> list[str]:
    if _matching(
        view.conflicts,
        entity,
        record_id,
        name,
        discarded=state.value,
        discarded_origin=state.origin,
        rule=rule,
    ):
        return []
    return [
        f"concurrent_overwrites_logged: {w.who} ({'delete' if w.delete else repr(w.value)}, "
        f"base v{w.base}) discarded {entity} {_short(record_id)}.{name}={state.value!r} written "
        f"by {state.origin[-8:]} at v{state.version}; no {rule} conflict record says so"
    ]


def check_all(devices: list[SimDevice], ledger: Ledger, view: ServerView) -> list[str]:
    problems = [
        *every_push_answered(ledger),
        *same_answer_every_time(ledger),
        *index_matches_tables(view),
        *kept_checksums_match_index(view),
        *acked_mutations_survive(ledger, view),
        *merged_discards_logged(ledger, view),
        *concurrent_overwrites_logged(ledger, view),
    ]
    for device in devices:
        problems += outbox_settled(device)
        problems += rejections_quarantined(device, view)
        problems += store_matches_scope(device, view)
        problems += conflict_notices_delivered(device, view)
    return problems
