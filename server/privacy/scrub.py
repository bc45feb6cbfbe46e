"""Erased values out of the sync history: the change log, the conflict log, quarantined
mutations and push receipts still hold what a record said before its subject was erased. Each
personal field named there is overwritten with its erased value; the rows themselves stay (a
device behind the erasure still pulls every change, now without the values)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import String, cast, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.sync.models import ChangeLog, ConflictRecord, PushReceipt, QuarantinedMutation
from sync.rules import RULES, erased_value

__all__ = ["scrub_history"]


def _blanked(entity: str, fields: Any) -> Any:
    if not isinstance(fields, Mapping):
        return fields
    rules = RULES[entity]
    out = dict(fields)
    for name in rules.personal_fields:
        if name in out:
            out[name] = erased_value(rules.fields[name])
    return out


async def scrub_history(session: AsyncSession, entity: str, record_ids: Sequence[str]) -> int:
    """Blank the personal fields of ``entity``'s ``record_ids`` wherever the sync history
    holds them; returns how many history rows changed."""
    if not record_ids or not RULES[entity].personal_fields:
        return 0
    personal = set(RULES[entity].personal_fields)
    changed = 0
    ids = list(record_ids)
    rows = await session.execute(
        select(ChangeLog.seq, ChangeLog.data).where(
            ChangeLog.entity == entity, ChangeLog.record_id.in_(ids)
        )
    )
    for seq, data in rows.all():
        if isinstance(data, Mapping) and data.get("field") in personal:
            # A conflict notice about a personal field: both values go.
            new = {**data, "kept": None, "discarded": None}
        else:
            new = _blanked(entity, data)
        if new != data:
            await session.execute(update(ChangeLog).where(ChangeLog.seq == seq).values(data=new))
            changed += 1
    result = await session.execute(
        update(ConflictRecord)
        .where(
            ConflictRecord.entity == entity,
            ConflictRecord.record_id.in_(ids),
            ConflictRecord.field.in_(sorted(personal)),
        )
        .values(kept=None, discarded=None)
    )
    changed += int(getattr(result, "rowcount", 0) or 0)
    quarantined = await session.execute(
        select(QuarantinedMutation.id, QuarantinedMutation.mutation).where(
            QuarantinedMutation.entity == entity, QuarantinedMutation.record_id.in_(ids)
        )
    )
    for row_id, mutation in quarantined.all():
        new = {**mutation, "fields": _blanked(entity, mutation.get("fields"))}
        if new != mutation:
            await session.execute(
                update(QuarantinedMutation)
                .where(QuarantinedMutation.id == row_id)
                .values(mutation=new)
            )
            changed += 1
    # A merged answer carries the resolved values. Receipts are not indexed by record (they
    # are looked up by device and seq); an erasure is rare enough to read them through.
    for record_id in ids:
        receipts = await session.execute(
            select(PushReceipt.device_id, PushReceipt.seq, PushReceipt.result).where(
                cast(PushReceipt.result, String).contains(record_id)
            )
        )
        for device_id, seq, answer in receipts.all():
            if answer.get("entity") != entity or answer.get("id") != record_id:
                continue
            new = {
                **answer,
                **{k: _blanked(entity, answer[k]) for k in ("fields", "current") if k in answer},
            }
            if new != answer:
                await session.execute(
                    update(PushReceipt)
                    .where(PushReceipt.device_id == device_id, PushReceipt.seq == seq)
                    .values(result=new)
                )
                changed += 1
    return changed
