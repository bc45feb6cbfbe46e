"""What keeps an erasure erased: a device that was offline while its data subject was erased
may still hold edits about them. Records the erasure deleted refuse those edits through the
merge's own delete rule (``deleted``), and a new record naming one (a consent decision
recorded offline for a contact since erased) is refused by the push's reference check, which
holds a deleted record for gone. This refuses the rest, from the declarations alone: a personal
value written again onto a record kept after its subject's erasure (a late check-in position
on an erased rep's visit).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.db.base import SyncableMixin
from server.privacy.models import ErasedSubject
from sync.rules import RULES, Erasure

__all__ = ["Refusal", "refusal"]

Refusal = tuple[str, str, str | None]
"""(record id, what the device is told, the field to blame)."""


async def refusal(
    session: AsyncSession,
    touched: list[SyncableMixin],
    claims: Mapping[tuple[str, str], Mapping[str, Any]],
) -> Refusal | None:
    """The first write of a pushed transaction that would bring back erased personal data."""
    for obj in touched:
        entity = obj.__sync_entity__
        rules = RULES[entity]
        for subject in rules.subjects:
            if subject.via == "id":
                continue
            subject_id = getattr(obj, subject.via)
            if subject_id is None:
                continue
            claimed = claims.get((entity, obj.id), {})
            written = [n for n in rules.personal_fields if claimed.get(n) is not None]
            if rules.erasure is Erasure.KEEP or not written:
                continue
            if await _erased(session, subject.kind, subject_id):
                detail = (
                    f"the {subject.kind} this {entity} is about was erased: personal data "
                    f"about them is not stored again (docs/privacy.md)"
                )
                return obj.id, detail, written[0]
    return None


async def _erased(session: AsyncSession, kind: str, subject_id: str) -> bool:
    # Asked once per subject and session: a push of a day's check-ins asks about one rep.
    seen: dict[tuple[str, str], bool] = session.info.setdefault(_SEEN_KEY, {})
    key = (kind, subject_id)
    if key not in seen:
        seen[key] = await session.get(ErasedSubject, key) is not None
    return seen[key]


_SEEN_KEY = "fieldline.erased_subjects"
