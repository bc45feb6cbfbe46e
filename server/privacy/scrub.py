"""Erased values out of the sync history: the change log, the conflict log, quarantined
mutations, push receipts and webhook deliveries still hold what a record said before its
subject was erased. Each personal field named there is overwritten with its erased value; the
rows themselves stay (a device behind the erasure still pulls every change, now without the
values; a webhook still retried delivers the event without them)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import String, cast, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.backoffice.models import WebhookDelivery
from server.sync.models import ChangeLog, ConflictRecord, PushReceipt, QuarantinedMutation
from sync.rules import RULES, erased_value

__all__ = ["scrub_history"]

_CHUNK = 500
"""Ids per IN list: well inside both stores' limits on bound parameters."""


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


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
    personal = sorted(RULES[entity].personal_fields)
    changed = 0
    seqs: list[int] = []
    for ids in _chunks(record_ids):
        rows = await session.execute(
            select(ChangeLog.seq, ChangeLog.data).where(
                ChangeLog.entity == entity, ChangeLog.record_id.in_(ids)
            )
        )
        for seq, data in rows.all():
            seqs.append(seq)
            if isinstance(data, Mapping) and data.get("field") in personal:
                new = {**data, "kept": None, "discarded": None}  # a conflict notice
            else:
                new = _blanked(entity, data)
            if new != data:
                await session.execute(
                    update(ChangeLog).where(ChangeLog.seq == seq).values(data=new)
                )
                changed += 1
        result = await session.execute(
            update(ConflictRecord)
            .where(
                ConflictRecord.entity == entity,
                ConflictRecord.record_id.in_(ids),
                ConflictRecord.field.in_(personal),
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
    changed += await _scrub_receipts(session, entity, set(record_ids))
    changed += await _scrub_deliveries(session, entity, seqs)
    return changed


async def _scrub_receipts(session: AsyncSession, entity: str, ids: set[str]) -> int:
    # Only a merged answer (resolved values) or a refusal (the current state) carries values.
    # Receipts are looked up by device and seq, with no index by record: an erasure, rare,
    # reads those two kinds through once.
    text = cast(PushReceipt.result, String)
    receipts = await session.execute(
        select(PushReceipt.device_id, PushReceipt.seq, PushReceipt.result).where(
            or_(text.contains("merged"), text.contains("rejected")), text.contains(entity)
        )
    )
    changed = 0
    for device_id, seq, answer in receipts.all():
        if answer.get("entity") != entity or answer.get("id") not in ids:
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


async def _scrub_deliveries(session: AsyncSession, entity: str, seqs: Sequence[int]) -> int:
    """Webhook deliveries carry the change they announce (a lead's assignment, with its
    contact): found through the change rows they were made from."""
    changed = 0
    for start in range(0, len(seqs), _CHUNK):
        rows = await session.execute(
            select(WebhookDelivery.id, WebhookDelivery.payload).where(
                WebhookDelivery.source_seq.in_(seqs[start : start + _CHUNK])
            )
        )
        for delivery_id, payload in rows.all():
            new = {**payload, "data": _blanked(entity, payload.get("data"))}
            if new != payload:
                await session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == delivery_id)
                    .values(payload=new)
                )
                changed += 1
    return changed
