"""Applying a device's push: exactly-once, atomic per client transaction, one answer per
mutation.

Theory of operation
-------------------
* Idempotency. Every mutation carries (device, seq). The answer given is stored as a receipt in
  the same transaction as the effect, so a batch sent twice, cut off, or whose response was lost
  gets the stored answers again and no second effect. Pushes of one device are serialised by
  locking its sync-state row, so two copies of a batch racing on PostgreSQL cannot both apply.
* Atomic client transactions. Mutations sharing a ``tx`` are applied inside a savepoint; if any
  is refused, the savepoint is rolled back and every mutation of that transaction is answered
  "rejected" (the culprit with its reason, the rest with ``transaction_failed``). The rest of the
  batch proceeds. Change-log rows are written by the same flush (server/sync/capture.py), so a
  pull sees a client transaction whole or not at all.
* Merging is sync.merge's; this module adds what needs the database: loading the stored record,
  the caller's scope, values only the server may set, and the domain's computed fields
  (server/sync/domain.py).
* Refused mutations go to the quarantine (visible to managers) and back to the device, which
  keeps them; values discarded by a conflict rule go to the conflict log and, as a notice on the
  change log addressed to the losing device, reach that device on its next pull.
"""

from __future__ import annotations

import logging
import re
from collections import ChainMap, Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import msgspec
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.access import Known, load_parent, may_write
from server.auth.models import Device, Role
from server.auth.principal import Principal
from server.db.base import Base, SyncableMixin
from server.db.direct import execute, insert_rows_async
from server.errors import BadRequest, Forbidden
from server.metrics import METRICS
from server.orders.models import Order
from server.settings import Settings
from server.sync import domain
from server.sync.capture import (
    capture_created,
    defer_created,
    log_insert,
    origin_device,
    write_deferred,
)
from server.sync.clock import server_clock
from server.sync.coerce import FieldError, coerce, from_wire
from server.sync.entities import (
    mapper_of,
    model_for,
    syncable_models,
    synced_columns,
    table_of,
    to_wire,
)
from server.sync.models import (
    ConflictRecord,
    DeviceSyncState,
    PushReceipt,
    QuarantinedMutation,
)
from server.sync.ownership import creation_defaults
from server.sync.scope import known_regions
from server.visits.models import Visit
from sync import clock
from sync.constraints import UUID_PATTERN, Ref, Text, check_value
from sync.errors import InvalidValue
from sync.machines import ActorOrAdmin
from sync.merge import DELETED_KEY, Resolution, Stored, dump_clocks, load_clocks, merge
from sync.messages import (
    Applied,
    Merged,
    Mutation,
    PushRequest,
    PushResponse,
    Rejected,
    RejectReason,
    Result,
    Upsert,
)
from sync.rules import RULES, Policy, check_record
from sync.values import same_value

__all__ = ["push"]

logger = logging.getLogger("fieldline.sync.push")
_result_encoder = msgspec.json.Encoder()
_result_decoder = msgspec.json.Decoder(Result)


class _TxRefused(Exception):
    def __init__(self, mutation: Mutation, reason: RejectReason, detail: str, **kw: Any) -> None:
        super().__init__(detail)
        self.mutation = mutation
        self.reason: RejectReason = reason
        self.detail = detail
        self.field: str | None = kw.get("field")
        self.current: dict[str, Any] | None = kw.get("current")


@dataclass
class _TxOutcome:
    results: list[Result] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    new_leads: list[str] = field(default_factory=list)


def _groups(mutations: list[Mutation]) -> list[list[Mutation]]:
    groups: list[list[Mutation]] = []
    seen: set[str] = set()
    last_seq = 0
    for index, mutation in enumerate(mutations):
        _check_envelope(index, mutation)
        if mutation.seq <= last_seq:
            raise BadRequest(
                f"mutations must be in increasing seq order (seq {mutation.seq} after {last_seq})",
                field="mutations",
            )
        last_seq = mutation.seq
        if groups and groups[-1][0].tx == mutation.tx:
            groups[-1].append(mutation)
            continue
        if mutation.tx in seen:
            raise BadRequest(
                f"client transaction {mutation.tx} is split; its mutations must be contiguous",
                field="mutations",
            )
        seen.add(mutation.tx)
        groups.append([mutation])
    return groups


def _check_envelope(index: int, mutation: Mutation) -> None:
    """A mutation's own ids are text every store can hold: a NUL byte or a lone surrogate in
    one could be neither applied nor kept in quarantine, so the request is refused whole
    before anything is written. (The SDK makes these ids itself; only a broken or hostile
    client sends such text.)"""
    for name in ("tx", "entity", "id", "hlc"):
        value: str = getattr(mutation, name)
        if value.isascii() and "\x00" not in value:
            continue
        try:
            check_value(name, Text(max_length=len(value)), value, nullable=False)
        except InvalidValue as exc:
            raise BadRequest(exc.detail, field=f"mutations[{index}].{name}") from exc


@dataclass
class _DeviceState:
    """The device's sync-state row as this push found it, and what the push makes of it."""

    last_seq: int
    pending: int | None
    rejected: int


async def _lock_device_state(session: AsyncSession, principal: Principal) -> _DeviceState:
    """The device's sync-state row, created if new, locked for this transaction: one upsert that
    returns the row (on PostgreSQL, ON CONFLICT DO UPDATE holds the row lock until commit).
    Core rows, not an ORM object: the push reads three values and writes the row once."""
    assert principal.device_id and principal.user_id
    stmt = _lock_statement(session.get_bind().dialect.name)
    [row] = await execute(session, stmt, {"device": principal.device_id, "user": principal.user_id})
    return _DeviceState(last_seq=row.last_seq, pending=row.pending, rejected=row.rejected)


@cache
def _lock_statement(dialect_name: str) -> Any:
    table = DeviceSyncState.__table__
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(
        device_id=bindparam("device"), user_id=bindparam("user"), last_seq=0, rejected=0
    )
    return stmt.on_conflict_do_update(
        index_elements=[table.c.device_id], set_={"device_id": stmt.excluded.device_id}
    ).returning(table.c.last_seq, table.c.pending, table.c.rejected)


_SAVE_DEVICE_STATE = (
    update(table_of(DeviceSyncState))
    .where(table_of(DeviceSyncState).c.device_id == bindparam("device"))
    .values(
        last_seq=bindparam("last_seq"),
        last_push_at=bindparam("last_push_at"),
        pending=bindparam("pending"),
        oldest_pending_at=bindparam("oldest_pending_at"),
        rejected=bindparam("rejected"),
    )
)


async def _save_device_state(
    session: AsyncSession,
    principal: Principal,
    state: _DeviceState,
    request: PushRequest,
    seqs: list[int],
    now: datetime,
) -> None:
    if request.pending is not None:
        state.pending = max(request.pending - len(request.mutations), 0)
    await execute(
        session,
        _SAVE_DEVICE_STATE,
        {
            "device": principal.device_id,
            "last_seq": max(state.last_seq, *seqs) if seqs else state.last_seq,
            "last_push_at": now,
            "pending": state.pending,
            "oldest_pending_at": (
                _parse_time(request.oldest_pending_at) if state.pending else None
            ),
            "rejected": state.rejected,
        },
    )


async def push(
    session: AsyncSession, principal: Principal, request: PushRequest, settings: Settings
) -> PushResponse:
    if principal.device_id is None or principal.user_id is None:
        raise Forbidden("pushing needs a user logged in on a device")
    if request.device_id != principal.device_id:
        raise Forbidden(
            "device_id in the body is not the device this token was issued to", field="device_id"
        )
    groups = _groups(request.mutations)
    origin_device(session.sync_session, principal.device_id)
    # The scope keys of what a rep pushes name their own region and their territory's, which
    # the principal was read with.
    known_regions(
        session.sync_session,
        users={principal.user_id: principal.region_id},
        territories=(
            {principal.territory_id: principal.territory_region_id}
            if principal.territory_id is not None
            else {}
        ),
    )
    try:
        return await _push(session, principal, request, groups, settings, careful=False)
    except _NeedsCare:
        # Something in the batch is refused: start over with a savepoint per client
        # transaction, so the refused ones roll back alone. Merging is deterministic, so the
        # second pass decides exactly what the first would have.
        await session.rollback()
        return await _push(session, principal, request, groups, settings, careful=True)


class _NeedsCare(Exception):
    pass


async def _push(
    session: AsyncSession,
    principal: Principal,
    request: PushRequest,
    groups: list[list[Mutation]],
    settings: Settings,
    *,
    careful: bool,
) -> PushResponse:
    """One pass over the batch. The fast pass (``careful=False``) prefetches every record the
    batch names, applies all transactions and flushes once — a handful of round trips for the
    whole batch; any refusal aborts it. The careful pass isolates each transaction."""
    state = await _lock_device_state(session, principal)
    seqs = [m.seq for m in request.mutations]
    # Receipts exist only for seqs already answered; a batch of new mutations needs no lookup.
    receipts = (
        {
            r.seq: r
            for r in (
                await session.execute(
                    select(PushReceipt).where(
                        PushReceipt.device_id == principal.device_id, PushReceipt.seq.in_(seqs)
                    )
                )
            ).scalars()
        }
        if seqs and min(seqs) <= state.last_seq
        else {}
    )
    answers: dict[int, Result] = {}
    new_leads: list[str] = []
    now = datetime.now(UTC)
    pending = [
        g
        for g in groups
        if not all(m.seq in receipts for m in g) and not all(m.seq <= state.last_seq for m in g)
    ]
    batch = await _prefetch(session, [m for g in pending for m in g], trust_creates=not careful)
    processed: list[tuple[list[Mutation], _TxOutcome]] = []
    created: list[SyncableMixin] = []
    for group in groups:
        if all(m.seq in receipts for m in group):
            for m in group:
                answers[m.seq] = _result_decoder.decode(
                    _result_encoder.encode(receipts[m.seq].result)
                )
            continue
        if all(m.seq <= state.last_seq for m in group):
            # A seq this device used before, with no answer on record: applying it could
            # repeat an old effect, acknowledging it would lose a new one. Refuse and keep it.
            reused = _TxOutcome(results=[_reused(m, state.last_seq) for m in group])
            for m, result in zip(group, reused.results, strict=True):
                answers[m.seq] = result
            processed.append((group, reused))
            state.rejected += len(group)
            continue
        outcome = await _apply_group(
            session, principal, group, settings, now, batch, careful, created
        )
        for m, result in zip(group, outcome.results, strict=True):
            answers[m.seq] = result
        new_leads.extend(outcome.new_leads)
        processed.append((group, outcome))
        state.rejected += sum(isinstance(r, Rejected) for r in outcome.results)

    if not careful and processed:
        # The fast pass flushes once, below: observing the batch's latest stamp here puts every
        # stamp the server makes from now on after the device's writes.
        _observe_latest([m for group, _ in processed for m in group], settings)
        # It applies the batch whole or not at all, so the visits are judged once, as they will
        # be stored, against each other and the rep's other visits (the careful pass judges
        # them per transaction: any one of them may be refused).
        visits = {
            m.id: batch.get(("visit", m.id)) for g, _ in processed for m in g if m.entity == "visit"
        }
        await domain.verify_visits(
            session, [v for v in visits.values() if isinstance(v, Visit)], settings, batch
        )
    if not careful:
        try:
            await _insert_created(session, principal, created, batch, now)
            if session.new or session.dirty or session.deleted:  # most pushes only create
                await session.flush()
            await session.run_sync(write_deferred)  # none left unless the flush wrote nothing
        except IntegrityError as exc:
            logger.info(
                "push batch hit a constraint; retrying transaction by transaction: %s", exc.orig
            )
            raise _NeedsCare from exc
        # Versions may have moved during the domain step (a later transaction re-pricing an
        # earlier one's order): answer, and store as the receipt, the final ones.
        for group, outcome in processed:
            outcome.results = [
                _final(r, batch, m) for m, r in zip(group, outcome.results, strict=True)
            ]
            for m, result in zip(group, outcome.results, strict=True):
                answers[m.seq] = result
    await _save_device_state(session, principal, state, request, seqs, now)
    await _record(session, principal, processed, now)
    if new_leads:
        await domain.assign_new_leads(session, new_leads, now=now)
    for tag, count in Counter(r.__struct_config__.tag for r in answers.values()).items():
        METRICS.count(f"mutation_{tag}", count)
    return PushResponse(
        results=[answers[m.seq] for m in request.mutations], server_hlc=server_clock.now()
    )


async def _insert_created(
    session: AsyncSession,
    principal: Principal,
    created: list[SyncableMixin],
    known: Known,
    now: datetime,
) -> None:
    """Write the batch's new records with one Core statement per table, parents first, and
    their change rows through the same capture code a flush uses. A new record costs a fraction
    of what the unit of work spends on it, and most of what devices push is new (visits, notes,
    orders and their lines, comments). Runs before the flush of updated records, which may
    refer to these."""
    if not created:
        return
    by_model: dict[type[SyncableMixin], list[dict[str, Any]]] = {}
    for obj in created:
        obj.__dict__["created_at"] = obj.__dict__["updated_at"] = now
        by_model.setdefault(type(obj), []).append(_column_values(obj))
    by_table = {table_of(model): rows for model, rows in by_model.items()}
    for table, stmt in _inserts_parents_first():
        rows = by_table.get(table)
        if rows:
            await insert_rows_async(session, stmt, rows)
    loaded = [o for o in known.values() if o is not None]
    if session.dirty or session.new or session.deleted:
        # The caller flushes the batch's changed records next: one write of change rows
        # (``write_deferred`` after it writes them should that flush write nothing).
        await session.run_sync(defer_created, created, loaded, now)
    else:
        await session.run_sync(capture_created, created, loaded, now)


@cache
def _inserts_parents_first() -> tuple[tuple[Any, Any], ...]:
    """(table, its INSERT) for every table, parents first."""
    return tuple((table, insert(table)) for table in Base.metadata.sorted_tables)


def _column_values(obj: SyncableMixin) -> dict[str, Any]:
    """Every column of a new record, with the column defaults a flush would apply, also set on
    the object (the change row is built from it)."""
    values: dict[str, Any] = {}
    state = obj.__dict__
    for key, column, default in _columns_of(obj.__sync_entity__):
        if key in state:
            values[column] = state[key]
            continue
        if default is None:
            value = None
        elif default.is_callable:
            value = default.arg(None)  # SQLAlchemy wraps callables to take a context
        else:
            value = default.arg
        state[key] = value
        values[column] = value
    return values


@cache
def _columns_of(entity: str) -> tuple[tuple[str, str, Any], ...]:
    """(attribute, column, column default or None) for each column of ``entity``'s model."""
    return tuple(
        (attr.key, attr.columns[0].key, attr.columns[0].default)
        for attr in mapper_of(syncable_models()[entity]).column_attrs
    )


_NOTHING = object()


async def _prefetch(
    session: AsyncSession, mutations: list[Mutation], *, trust_creates: bool
) -> dict[tuple[str, str], SyncableMixin | None]:
    """Every record the batch names, and their parents, in one query per entity (locked on
    PostgreSQL, so merges read what they overwrite). Missing ids map to None.

    ``trust_creates`` (the fast pass): a create (an upsert with no base version) names an id the
    device made up, so it is taken as missing without a query. Most of what devices push is
    new, and that query found nothing. If the id does exist after all, inserting it breaks the
    primary key, and the careful pass, which trusts nothing, decides the batch."""
    wanted: dict[str, set[str]] = {}
    assumed: list[tuple[str, str]] = []
    for m in mutations:
        if trust_creates and isinstance(m, Upsert) and m.base_version is None:
            assumed.append((m.entity, m.id))
        else:
            wanted.setdefault(m.entity, set()).add(m.id)
        if isinstance(m, Upsert):
            for name, parent, _past in _references(m.entity) if m.entity in RULES else ():
                value = m.fields.get(name)
                # Only what can be an id is looked up: anything else (text with a NUL byte,
                # which PostgreSQL cannot even compare) is refused by the field's check.
                if isinstance(value, str) and _ID.match(value):
                    wanted.setdefault(parent, set()).add(value)
    for entity, record_id in assumed:
        # A parent created by the same batch (a new order's lines, a new ticket's comment) is
        # as new as the rest: nothing to find.
        wanted.get(entity, set()).discard(record_id)
    lock = session.get_bind().dialect.name == "postgresql"
    found: dict[tuple[str, str], SyncableMixin | None] = {}
    for entity, ids in wanted.items():
        model = model_for(entity)
        if model is None or not ids:
            continue
        id_list = sorted(ids)
        stmt = _prefetch_statement(entity, lock)
        for start in range(0, len(id_list), 500):
            chunk = id_list[start : start + 500]
            for obj in (await session.execute(stmt, {"ids": chunk})).scalars():
                found[(entity, obj.id)] = obj
            for record_id in chunk:
                found.setdefault((entity, record_id), None)
    for key in assumed:
        found.setdefault(key, None)
    return found


@cache
def _prefetch_statement(entity: str, lock: bool) -> Any:
    model = syncable_models()[entity]
    stmt = select(model).where(model.id.in_(bindparam("ids", expanding=True)))
    return stmt.with_for_update() if lock else stmt


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def _apply_group(
    session: AsyncSession,
    principal: Principal,
    group: list[Mutation],
    settings: Settings,
    now: datetime,
    batch: dict[tuple[str, str], SyncableMixin | None],
    careful: bool,
    created: list[SyncableMixin],
) -> _TxOutcome:
    """``created``: the fast pass collects new records here instead of adding them to the
    session; ``_insert_created`` writes them; it verifies the batch's visits once, after its
    last transaction (``domain.after_transaction``)."""
    outcome = _TxOutcome()
    savepoint = await session.begin_nested() if careful else None
    try:
        touched: list[SyncableMixin] = []
        claims: dict[tuple[str, str], dict[str, Any]] = {}
        status_before_tx: dict[str, str] = {}
        for mutation in group:
            result, obj, resolution = await _apply_one(
                session,
                principal,
                mutation,
                settings,
                now,
                touched,
                batch,
                status_before_tx,
                created if savepoint is None else None,
            )
            outcome.results.append(result)
            if obj is not None:
                touched.append(obj)
                batch[(mutation.entity, obj.id)] = obj
                if isinstance(mutation, Upsert):
                    claims[(mutation.entity, mutation.id)] = dict(mutation.fields)
                if resolution is not None:
                    outcome.conflicts.extend(_conflicts(mutation, resolution, obj))
                if mutation.entity == "lead" and resolution is not None and resolution.create:
                    outcome.new_leads.append(obj.id)
        if careful:
            _observe_latest(group, settings)  # before this transaction's flush stamps anything
        try:
            await domain.after_transaction(
                session, touched, claims, settings, now, batch, visits_later=not careful
            )
        except domain.DomainRejection as exc:
            culprit = next((m for m in group if m.id == exc.record_id), group[0])
            raise _TxRefused(culprit, exc.reason, exc.detail, field=exc.field) from exc
        if savepoint is not None:
            await session.flush()
            outcome.results = [
                _final(r, batch, m) for m, r in zip(group, outcome.results, strict=True)
            ]
    except _TxRefused as refused:
        if savepoint is None:
            raise _NeedsCare from refused
        await savepoint.rollback()
        _forget(batch, group)
        outcome.results = [_refusal(m, refused) for m in group]
        outcome.conflicts = []
        outcome.new_leads = []
        return outcome
    except IntegrityError as exc:
        if savepoint is None:
            raise
        await savepoint.rollback()
        _forget(batch, group)
        logger.info("push transaction refused by a constraint: %s", exc.orig)
        blamed = _TxRefused(
            group[0], "validation", "a referenced record does not exist or a value is not unique"
        )
        outcome.results = [_refusal(m, blamed) for m in group]
        outcome.conflicts = []
        outcome.new_leads = []
        return outcome
    if savepoint is not None:
        await savepoint.commit()
    return outcome


def _reused(mutation: Mutation, last_seq: int) -> Rejected:
    return Rejected(
        seq=mutation.seq,
        entity=mutation.entity,
        id=mutation.id,
        reason="seq_reused",
        detail=f"seq {mutation.seq} is at or below this device's last seq ({last_seq}) and "
        "the server holds no answer for it; it was kept, not applied",
        field="seq",
    )


def _forget(batch: dict[tuple[str, str], SyncableMixin | None], group: list[Mutation]) -> None:
    """After a savepoint rollback the group's records are back to their stored state (or gone):
    drop them from the batch cache so the next transaction reloads them."""
    for m in group:
        batch.pop((m.entity, m.id), None)


def _final(result: Result, batch: Known, mutation: Mutation) -> Result:
    """The answer with the record's final version and values: for a merge, the resolved value
    of every field it named; for an applied upsert, what the server decided that the device did
    not (``_decided``). The domain step may have recomputed some after the merge."""
    if not isinstance(result, Applied | Merged) or not result.version:
        return result
    obj = batch.get((result.entity, result.id))
    if obj is None:
        return result
    if isinstance(result, Merged):
        fields = {name: to_wire(getattr(obj, name)) for name in result.fields}
        return msgspec.structs.replace(result, version=obj.version, fields=fields)
    decided = _decided(result.entity, obj, mutation)
    if obj.version == result.version and not decided:
        return result
    return msgspec.structs.replace(result, version=obj.version, fields=decided)


def _decided(entity: str, obj: SyncableMixin, mutation: Mutation) -> dict[str, Any]:
    """Values of the record the device must take from the server: every computed and
    server-owned field, and any field it sent that the server stored differently (a line
    number moved off a taken one). Deletes carry none."""
    if not isinstance(mutation, Upsert) or not (_server_decides(entity) or _adjusted(entity)):
        return {}
    state = obj.__dict__
    decided = {
        name: to_wire(state[name] if name in state else getattr(obj, name))
        for name in _server_decides(entity)
    }
    for name in _adjusted(entity):
        if name not in mutation.fields:
            continue
        stored = to_wire(state[name] if name in state else getattr(obj, name))
        if not same_value(stored, mutation.fields[name]):
            decided[name] = stored
    return decided


@cache
def _adjusted(entity: str) -> tuple[str, ...]:
    """Fields whose pushed value the server may store otherwise (``FieldRule.adjusted``): the
    only ones an applied answer must compare with what was sent."""
    return tuple(name for name, rule in RULES[entity].fields.items() if rule.adjusted)


@cache
def _server_decides(entity: str) -> tuple[str, ...]:
    fields = RULES[entity].fields
    return tuple(
        name
        for name, rule in fields.items()
        if rule.policy in (Policy.COMPUTED, Policy.SERVER_OWNED)
    )


def _refusal(mutation: Mutation, refused: _TxRefused) -> Rejected:
    if mutation.seq == refused.mutation.seq:
        return Rejected(
            seq=mutation.seq,
            entity=mutation.entity,
            id=mutation.id,
            reason=refused.reason,
            detail=refused.detail,
            field=refused.field,
            current=refused.current,
        )
    return Rejected(
        seq=mutation.seq,
        entity=mutation.entity,
        id=mutation.id,
        reason="transaction_failed",
        detail=f"rejected with seq {refused.mutation.seq} of the same client transaction "
        f"({refused.reason}: {refused.detail})",
    )


def _stored(obj: SyncableMixin, entity: str) -> Stored:
    clocks = load_clocks(obj.field_clocks)
    deleted_clock = clocks.pop(DELETED_KEY, None)
    return Stored(
        fields={name: to_wire(getattr(obj, name)) for name in synced_columns(entity)},
        clocks=clocks,
        version=obj.version,
        deleted=obj.deleted_at is not None,
        deleted_clock=deleted_clock,
    )


def _actor(principal: Principal) -> ActorOrAdmin:
    return "admin" if principal.role is Role.ADMIN else "device"


async def _apply_one(
    session: AsyncSession,
    principal: Principal,
    mutation: Mutation,
    settings: Settings,
    now: datetime,
    touched: list[SyncableMixin],
    batch: dict[tuple[str, str], SyncableMixin | None],
    status_before_tx: dict[str, str],
    created: list[SyncableMixin] | None,
) -> tuple[Result, SyncableMixin | None, Resolution | None]:
    entity = mutation.entity
    model = model_for(entity)
    if model is None:
        raise _TxRefused(mutation, "unknown_entity", f"no entity called {entity!r}")
    if principal.role is Role.MANAGER:
        raise _TxRefused(
            mutation, "out_of_scope", "a manager's devices receive their region read-only"
        )
    mutation = _bounded(mutation, principal, settings)

    pushed: dict[str, Any] = {}
    if isinstance(mutation, Upsert):
        try:
            fields, pushed = coerce(entity, mutation.fields)
        except FieldError as exc:
            raise _TxRefused(mutation, "validation", exc.detail, field=exc.field) from exc
        mutation = msgspec.structs.replace(mutation, fields=fields)

    key = (entity, mutation.id)
    obj = batch[key] if key in batch else await session.get(model, mutation.id)
    if obj is not None and not await may_write(
        session, principal, entity, obj, batch, creating=False
    ):
        raise _TxRefused(mutation, "out_of_scope", f"this {entity} is outside your scope")
    defaults: dict[str, Any] = {}
    if obj is None and isinstance(mutation, Upsert):
        mutation, pushed, defaults = await _creating(session, principal, mutation, pushed, batch)
    if entity == "order" and mutation.id not in status_before_tx:
        status_before_tx[mutation.id] = obj.status if isinstance(obj, Order) else "draft"
    parent_status = await domain.parent_status(
        session, entity, obj, mutation, batch, status_before_tx
    )
    new_version = (obj.version + 1) if obj is not None else 1
    resolution = merge(
        entity,
        _stored(obj, entity) if obj is not None else None,
        mutation,
        actor=_actor(principal),
        parent_status=parent_status,
        new_version=new_version,
    )
    if resolution.outcome == "rejected":
        rejection = resolution.rejection
        assert rejection is not None
        raise _TxRefused(
            mutation,
            rejection.reason,
            rejection.detail,
            field=rejection.field,
            current=rejection.current,
        )
    if isinstance(mutation, Upsert):
        # After the merge, so a record's state decides before what its values name, as REST
        # checks them (an edit of a submitted order is refused for that, whatever it names).
        await _check_references(session, mutation, batch)
    if resolution.outcome == "noop" and obj is not None:
        return (
            Applied(seq=mutation.seq, entity=entity, id=mutation.id, version=obj.version),
            obj,
            None,
        )

    clocks = dict(resolution.clocks)
    if resolution.delete:
        clocks[DELETED_KEY] = resolution.deleted_clock or (mutation.hlc, new_version)
    values = {
        name: _python(entity, name, v, mutation, pushed) for name, v in resolution.write.items()
    }
    values["field_clocks"] = dump_clocks(clocks)
    values["version"] = new_version
    values["origin_device_id"] = principal.device_id
    if resolution.delete:
        values["deleted_at"] = now
    if isinstance(mutation, Upsert):
        try:
            check_record(entity, ChainMap(resolution.write, _loaded(obj)))
        except InvalidValue as exc:
            raise _TxRefused(mutation, "validation", exc.detail, field=exc.field) from exc
    if obj is None:
        try:
            _RECORD_ID.check("id", mutation.id)
        except InvalidValue as exc:
            raise _TxRefused(mutation, "validation", exc.detail, field="id") from exc
        # A bare instance, as the ORM makes when it loads a row, filled through its dict: a new
        # record has no history to track (an insert writes what the dict holds), and the
        # constructor's and attribute events' bookkeeping cost more than the merge itself.
        obj = mapper_of(model).class_manager.new_instance()
        fill = obj.__dict__
        fill["id"] = mutation.id
        fill.update(values)
        fill.update(defaults)
        if created is None:
            session.add(obj)
        else:
            created.append(obj)
    else:
        for name, value in values.items():
            setattr(obj, name, value)

    if resolution.outcome == "merged":
        result: Result = Merged(
            seq=mutation.seq,
            entity=entity,
            id=mutation.id,
            version=new_version,
            fields=dict(resolution.resolved),
            discarded=sorted({d.field for d in resolution.discarded}),
        )
    else:
        result = Applied(seq=mutation.seq, entity=entity, id=mutation.id, version=new_version)
    return result, obj, resolution


class _Pushed:
    """A new record's pushed values read as attributes (None where not sent), for
    ``creation_defaults`` before the record exists."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.__dict__.update(fields)

    def __getattr__(self, name: str) -> None:
        return None


async def _creating(
    session: AsyncSession,
    principal: Principal,
    mutation: Upsert,
    pushed: dict[str, Any],
    known: Known,
) -> tuple[Upsert, dict[str, Any], dict[str, Any]]:
    """A create, before its merge: the values the server fills in (``creation_defaults``,
    worked out from what the device may decide, never from server-owned values it sent), and
    whether the caller may create the record so filled — asked first, so a refusal says
    nothing of the record's parent (its state, say) to a caller who may not see it.

    A create may name a server-owned field with the value the server fills in anyway (an
    account's territory and owner, a ticket's opener: the rep and their territory), as REST
    allows; such a value decides nothing and is dropped before the merge. Any other value is
    still refused by the merge (``server_owned_field``)."""
    entity = mutation.entity
    fields = RULES[entity].fields
    owned = {name for name in mutation.fields if fields[name].policy is Policy.SERVER_OWNED}
    decidable = {n: v for n, v in mutation.fields.items() if n not in owned}
    defaults = await creation_defaults(session, principal, entity, _Pushed(decidable), known)
    if not await may_write(
        session, principal, entity, _Pushed({**decidable, **defaults}), known, creating=True
    ):
        raise _TxRefused(mutation, "out_of_scope", f"you may not create this {entity} here")
    same = {
        name
        for name in owned
        if mutation.fields[name] is None
        or same_value(mutation.fields[name], defaults.get(name, _column_default(entity, name)))
    }
    if not same:
        return mutation, pushed, defaults
    kept = {n: v for n, v in mutation.fields.items() if n not in same}
    return (
        msgspec.structs.replace(mutation, fields=kept),
        {n: v for n, v in pushed.items() if n not in same},
        defaults,
    )


def _column_default(entity: str, name: str) -> Any:
    """What a new record holds in ``name`` when nobody sets it (a plain column default)."""
    for key, _, default in _columns_of(entity):
        if key == name:
            return to_wire(default.arg) if default is not None and not default.is_callable else None
    return None


async def _check_references(session: AsyncSession, mutation: Upsert, known: Known) -> None:
    """Every synced record a pushed value names exists and is live (or, for a reference declared
    ``past``, existed): an id that does not is out of scope, as REST answers it (404), whoever
    pushes it."""
    for name, target, past in _references(mutation.entity):
        value = mutation.fields.get(name)
        if value is None:
            continue
        key = (target, value)
        found = known[key] if key in known else await load_parent(session, target, value, known)
        if found is None or (found.deleted_at is not None and not past):
            raise _TxRefused(mutation, "out_of_scope", f"no {target} with id {value}", field=name)


@cache
def _references(entity: str) -> tuple[tuple[str, str, bool], ...]:
    """(field, entity, whether a deleted record may be named) for each field of ``entity`` that
    names a synced record."""
    return tuple(
        (name, rule.check.entity, rule.check.past)
        for name, rule in RULES[entity].fields.items()
        if isinstance(rule.check, Ref) and rule.check.entity in RULES
    )


_RECORD_ID = Ref("record")
_ID = re.compile(UUID_PATTERN)


def _loaded(obj: SyncableMixin | None) -> dict[str, Any]:
    """A stored record's values as loaded (wire and Python forms both pass the invariants)."""
    return {} if obj is None else obj.__dict__


def _python(entity: str, name: str, value: Any, mutation: Mutation, pushed: dict[str, Any]) -> Any:
    """The column value for a resolved wire value: the pushed one, already converted, when the
    device's value won."""
    if isinstance(mutation, Upsert) and mutation.fields.get(name, _NOTHING) is value:
        return pushed[name]
    try:
        return from_wire(entity, name, value)
    except FieldError as exc:
        raise _TxRefused(mutation, "validation", exc.detail, field=exc.field) from exc


def _bounded(mutation: Mutation, principal: Principal, settings: Settings) -> Mutation:
    """Check the stamp and clamp it to the server's bound on the future (docs/sync.md, "Clock
    skew")."""
    try:
        stamp = clock.Hlc.parse(mutation.hlc)
    except ValueError as exc:
        raise _TxRefused(mutation, "validation", f"hlc is malformed: {exc}", field="hlc") from exc
    if stamp.node != principal.device_id:
        raise _TxRefused(
            mutation, "validation", "the hlc node must be the pushing device's id", field="hlc"
        )
    bounded, clamped = clock.bound(
        stamp, wall_ms=clock.wall_now_ms(), max_future_ms=settings.max_future_skew_s * 1000
    )
    if not clamped:
        return mutation  # the clock observes the transaction's latest stamp (_apply_group)
    logger.info("clamped a future clock stamp from device %s", principal.device_id)
    return msgspec.structs.replace(mutation, hlc=bounded.encode())


def _observe_latest(group: list[Mutation], settings: Settings) -> None:
    """Merge the transaction's latest (bounded) stamp into the server's clock, so stamps the
    server makes from here on order after the device's writes. Stamps of one device compare as
    text (sync/clock.py, "Encoding")."""
    latest, _ = clock.bound(
        clock.Hlc.parse(max(m.hlc for m in group)),
        wall_ms=clock.wall_now_ms(),
        max_future_ms=settings.max_future_skew_s * 1000,
    )
    server_clock.observe(latest.encode())


def _conflicts(
    mutation: Mutation, resolution: Resolution, obj: SyncableMixin
) -> list[dict[str, Any]]:
    return [
        {
            "entity": mutation.entity,
            "record_id": obj.id,
            "field": d.field,
            "kept": d.kept,
            "discarded": d.discarded,
            "kept_hlc": d.kept_hlc,
            "discarded_hlc": d.discarded_hlc,
            "kept_origin": d.kept_origin,
            "discarded_origin": d.discarded_origin,
            "rule": d.rule,
        }
        for d in resolution.discarded
    ]


_INSERT_RECEIPT = insert(table_of(PushReceipt))


async def _record(
    session: AsyncSession,
    principal: Principal,
    processed: list[tuple[list[Mutation], _TxOutcome]],
    now: datetime,
) -> None:
    """Receipts for every answered mutation (one statement for the batch), the quarantine for
    refused ones, and the conflict log for discarded values."""
    assert principal.device_id and principal.user_id
    answered = [
        (m, r) for group, outcome in processed for m, r in zip(group, outcome.results, strict=True)
    ]
    if answered:
        await insert_rows_async(
            session,
            _INSERT_RECEIPT,
            [
                {
                    "device_id": principal.device_id,
                    "seq": m.seq,
                    "tx": m.tx,
                    # Encoded once, straight to the column's JSON text.
                    "result": msgspec.Raw(_result_encoder.encode(r)),
                    "at": now,
                }
                for m, r in answered
            ],
        )
    for m, r in answered:
        if isinstance(r, Rejected):
            session.add(
                QuarantinedMutation(
                    at=now,
                    device_id=principal.device_id,
                    user_id=principal.user_id,
                    region_id=principal.region_id,
                    seq=m.seq,
                    tx=m.tx,
                    entity=m.entity,
                    record_id=m.id,
                    mutation=_storable(msgspec.to_builtins(m)),
                    reason=r.reason,
                    detail=r.detail,
                )
            )
    conflicts = [c for _, outcome in processed for c in outcome.conflicts]
    if not conflicts:
        return
    loser_users = await _device_users(
        session, {c["discarded_origin"] for c in conflicts if c["discarded_origin"]}
    )
    records = [
        ConflictRecord(
            at=now,
            loser_user_id=loser_users.get(conflict["discarded_origin"]),
            region_id=principal.region_id,
            **conflict,
        )
        for conflict in conflicts
    ]
    session.add_all(records)
    await session.flush()  # one INSERT for all of them; the notices name their ids
    notices = []
    for conflict, record in zip(conflicts, records, strict=True):
        loser = conflict["discarded_origin"]
        if loser not in loser_users:
            continue
        # The notice travels in the loser's pull stream, addressed to that device alone.
        notice = {"conflict_id": record.id, "id": conflict["record_id"], **conflict}
        notice.pop("record_id")
        notices.append(
            {
                "at": now,
                "entity": conflict["entity"],
                "record_id": conflict["record_id"],
                "op": "conflict",
                "version": 0,
                "data": notice,
                "device_id": loser,
                "public": False,
                "origin_device_id": principal.device_id,
            }
        )
    if notices:
        await session.execute(log_insert(session.get_bind().dialect.name), notices)


def _storable(value: Any) -> Any:
    """A refused mutation as every store can keep it: text no column may hold (a NUL byte, a
    lone surrogate — often the very reason it was refused) has those characters replaced by
    U+FFFD, so the quarantine shows what was sent and where."""
    if isinstance(value, str):
        if value.isascii() and "\x00" not in value:
            return value
        return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


async def _device_users(session: AsyncSession, device_ids: set[str]) -> dict[str, str]:
    if not device_ids:
        return {}
    rows = await session.execute(
        select(Device.id, Device.user_id).where(Device.id.in_(list(device_ids)))
    )
    return {device_id: user_id for device_id, user_id in rows}
