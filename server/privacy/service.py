"""Export and erasure of a data subject (a contact, a lead, a user), driven by the rulebook
alone: every entity that declares a subject of that kind (``EntityRules.subjects``) is
searched, its personal fields (the ``personal`` marks) exported or blanked, and its records
kept or deleted as its ``erasure`` says. Adding a personal field or a subject to a declaration
is all it takes for both to cover it.

Erasure writes through the ORM like every other server-side writer, so change capture
(server/sync/capture.py) logs each blanked record and each delete for the devices that hold
them; ``server.privacy.scrub`` then takes the old values out of the sync history.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, get_args

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.service import record as audit
from server.auth.models import User
from server.auth.principal import Principal
from server.db.base import SyncableMixin, utcnow
from server.errors import NotFound
from server.privacy.consent import CONSENT_MODELS, history_of, state_of, withdraw_all
from server.privacy.models import ErasedSubject
from server.privacy.schemas import ErasureOut, ExportedRecord, ExportOut, SubjectRef
from server.privacy.scrub import scrub_history
from server.sync.entities import model_for, to_wire
from sync.rules import RULES, EntityRules, Erasure, Subject, SubjectKind, erased_value

__all__ = ["KINDS", "erase", "export", "subject_kind"]

KINDS: tuple[str, ...] = get_args(SubjectKind)


def subject_kind(kind: str) -> SubjectKind:
    """The kind named in a path, or 404: an unknown kind is as absent as an unknown id."""
    for known in get_args(SubjectKind):
        if known == kind:
            found: SubjectKind = known
            return found
    raise NotFound(f"no data subject kind {kind!r}; one of {', '.join(KINDS)}", field="kind")


def _about(kind: SubjectKind) -> Iterator[tuple[str, EntityRules, Subject]]:
    """Every (entity, rules, subject) of the rulebook that holds data about ``kind``."""
    for entity, rules in RULES.items():
        for subject in rules.subjects:
            if subject.kind == kind:
                yield entity, rules, subject


async def _subject(
    session: AsyncSession, kind: SubjectKind, subject_id: str, *, lock: bool = False
) -> None:
    """404 unless the subject exists (erased ones do: their records are kept blanked).
    ``lock``: hold the subject's row, so two erasures of one subject run one after the other."""
    model: Any = User if kind == "user" else model_for(kind)
    if await session.get(model, subject_id, with_for_update=lock) is None:
        raise NotFound(f"no {kind} with id {subject_id}", field="id")


async def _records(
    session: AsyncSession, entity: str, subject: Subject, subject_id: str, *, lock: bool = False
) -> list[SyncableMixin]:
    model = model_for(entity)
    assert model is not None, entity
    stmt = select(model).where(getattr(model, subject.via) == subject_id).order_by(model.id)
    if lock:
        stmt = stmt.with_for_update()
    return list((await session.execute(stmt)).scalars().all())


async def export(
    session: AsyncSession, principal: Principal, kind_name: str, subject_id: str
) -> ExportOut:
    kind = subject_kind(kind_name)
    await _subject(session, kind, subject_id)
    erased = await session.get(ErasedSubject, (kind, subject_id))
    records: list[ExportedRecord] = []
    for entity, rules, subject in _about(kind):
        if not rules.personal_fields:
            continue  # consent decisions: exported below as the history they are
        for obj in await _records(session, entity, subject, subject_id):
            records.append(
                ExportedRecord(
                    entity=entity,
                    id=obj.id,
                    deleted=obj.deleted_at is not None,
                    fields={n: to_wire(getattr(obj, n)) for n in rules.personal_fields},
                )
            )
    consent = None
    if kind in CONSENT_MODELS:
        consent = state_of(kind, subject_id, await history_of(session, kind, subject_id))
    # A GET reads in a reader's transaction (server/db/session.py); the audit entry is the
    # one write, in a transaction of its own, committed with the request.
    await session.commit()
    await audit(
        session,
        "privacy.exported",
        actor=principal,
        target_type=kind,
        target_id=subject_id,
        details={"records": len(records)},
    )
    return ExportOut(
        subject=SubjectRef(
            kind=kind, id=subject_id, erased_at=erased.erased_at if erased else None
        ),
        generated_at=utcnow(),
        records=records,
        consent=consent,
    )


async def erase(
    session: AsyncSession, principal: Principal, kind_name: str, subject_id: str
) -> ErasureOut:
    kind = subject_kind(kind_name)
    await _subject(session, kind, subject_id, lock=True)
    now = utcnow()
    before = await session.get(ErasedSubject, (kind, subject_id))
    # Consent first: the withdrawals are recorded while the subject's record is still live,
    # so they reach every device that holds its history.
    withdrawn = await withdraw_all(session, kind, subject_id, now) if kind in CONSENT_MODELS else 0
    counts: dict[str, int] = {}
    touched: dict[str, list[str]] = {}
    for entity, rules, subject in _about(kind):
        if rules.erasure is Erasure.KEEP:
            continue
        for obj in await _records(session, entity, subject, subject_id, lock=True):
            _blank(obj, rules, now)
            touched.setdefault(entity, []).append(obj.id)
        counts[entity] = len(touched.get(entity, ()))
    await session.flush()  # change capture logs every blanked record and delete
    scrubbed = 0
    for entity, ids in touched.items():
        scrubbed += await scrub_history(session, entity, ids)
    if before is None:
        session.add(
            ErasedSubject(
                kind=kind,
                subject_id=subject_id,
                erased_at=now,
                erased_by_id=principal.user_id,
                records=counts,
            )
        )
    # The audit entry says what was done and to whom, never what the values were.
    await audit(
        session,
        "privacy.erased",
        actor=principal,
        target_type=kind,
        target_id=subject_id,
        details={
            "records": counts,
            "consent_withdrawn": withdrawn,
            "history_rows_scrubbed": scrubbed,
            "again": before is not None,
        },
    )
    await session.flush()
    return ErasureOut(
        subject=SubjectRef(kind=kind, id=subject_id, erased_at=before.erased_at if before else now),
        records=counts,
        already_erased=before is not None,
    )


def _blank(obj: SyncableMixin, rules: EntityRules, now: datetime) -> None:
    for name in rules.personal_fields:
        value = erased_value(rules.fields[name])
        if getattr(obj, name) != value:
            setattr(obj, name, value)
    if rules.erasure is Erasure.DELETE and obj.deleted_at is None:
        obj.deleted_at = now
