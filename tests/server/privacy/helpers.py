"""Values for personal fields made from their declared constraint, and where to look for them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.models import AuditEntry
from server.backoffice.models import WebhookDelivery
from server.sync.models import (
    ChangeLog,
    ConflictRecord,
    PushReceipt,
    QuarantinedMutation,
    SyncRecord,
)
from sync.constraints import Number, Text, check_value
from sync.rules import FieldRule

__all__ = ["marker_for", "places_holding"]


def marker_for(rule: FieldRule, tag: str) -> Any:
    """A value ``rule`` accepts that no other test writes: text carries ``tag``."""
    check = rule.check
    value: Any
    match check:
        case Text(choices=choices) if choices is not None:
            value = choices[-1]
        case Text(pattern=pattern) if pattern is not None and "@" in pattern:
            value = f"{tag}@example.org"
        case Text(max_length=high):
            value = tag[:high]
        case Number(ge=low, le=high, integer=integer):
            point = low + (high - low) * 0.3712
            value = int(point) if integer else round(point, 6)
        case _:
            raise AssertionError(f"{rule.name}: no sample for {check!r}; teach marker_for")
    check_value(rule.name, check, value, nullable=rule.nullable)
    return value


async def places_holding(session: AsyncSession, text: str) -> list[str]:
    """The server's sync history and audit tables whose rows mention ``text``."""
    found = []
    for table, column in (
        (ChangeLog, ChangeLog.data),
        (SyncRecord, SyncRecord.data),
        (ConflictRecord, ConflictRecord.discarded),
        (ConflictRecord, ConflictRecord.kept),
        (QuarantinedMutation, QuarantinedMutation.mutation),
        (PushReceipt, PushReceipt.result),
        (AuditEntry, AuditEntry.details),
        (WebhookDelivery, WebhookDelivery.payload),
    ):
        hits = await session.scalar(
            select(func.count()).select_from(table).where(cast(column, String).contains(text))
        )
        if hits:
            found.append(f"{table.__tablename__}.{column.key}")
    return found
