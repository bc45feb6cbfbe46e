"""Recording and reading consent over REST, under the same declaration the sync push applies
(sync/rules/_privacy.py): the subject must be in the caller's reach, values are checked against
the rulebook by the flush, and history is only ever appended to."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.principal import Principal
from server.db.base import SyncableMixin, utcnow
from server.errors import Forbidden, UnprocessableEntity
from server.privacy.models import ContactConsent, LeadConsent
from server.privacy.schemas import ConsentCreate, ConsentOut, ConsentState
from server.rest import as_utc, claim_id
from server.scoping import get_visible
from server.sync.entities import model_for, to_wire
from sync.domain.consent import current_consent
from sync.errors import InvalidValue
from sync.rules import PURPOSES, SubjectKind, check_fields

__all__ = [
    "CONSENT_MODELS",
    "consent_state",
    "history_of",
    "record_consent",
    "state_of",
    "withdraw_all",
]

CONSENT_MODELS: dict[str, type[ContactConsent] | type[LeadConsent]] = {
    "contact": ContactConsent,
    "lead": LeadConsent,
}
"""Subject kind → its consent history's table."""


def _subject_model(kind: SubjectKind) -> type[SyncableMixin]:
    model = model_for(kind)
    assert model is not None, kind
    return model


async def history_of(
    session: AsyncSession, kind: SubjectKind, subject_id: str
) -> Sequence[ContactConsent | LeadConsent]:
    model = CONSENT_MODELS[kind]
    fk = getattr(model, f"{kind}_id")
    rows = await session.execute(select(model).where(fk == subject_id).order_by(model.id))
    return cast(Sequence[ContactConsent | LeadConsent], rows.scalars().all())


def _out(kind: SubjectKind, record: ContactConsent | LeadConsent) -> ConsentOut:
    return ConsentOut(
        id=record.id,
        subject_kind=kind,
        subject_id=getattr(record, f"{kind}_id"),
        purpose=record.purpose,
        status=record.status,
        channel=record.channel,
        recorded_at=record.recorded_at,
        recorded_by_id=record.recorded_by_id,
        source=record.source,
        version=record.version,
    )


def state_of(
    kind: SubjectKind, subject_id: str, history: Sequence[ContactConsent | LeadConsent]
) -> ConsentState:
    wire = [
        {"id": r.id, "purpose": r.purpose, "recorded_at": to_wire(r.recorded_at)} for r in history
    ]
    by_id = {r.id: r for r in history}
    in_force = {p: by_id[str(r["id"])].status for p, r in current_consent(wire).items()}
    ordered = sorted(history, key=lambda r: (to_wire(r.recorded_at), r.id))
    return ConsentState(
        subject_kind=kind,
        subject_id=subject_id,
        # No decision is no consent: a purpose never asked about reads withdrawn.
        current={purpose: in_force.get(purpose, "withdrawn") for purpose in PURPOSES},
        history=[_out(kind, r) for r in ordered],
    )


async def consent_state(
    session: AsyncSession, principal: Principal, kind: SubjectKind, subject_id: str
) -> ConsentState:
    await get_visible(session, principal, _subject_model(kind), subject_id, what=kind)
    return state_of(kind, subject_id, await history_of(session, kind, subject_id))


async def record_consent(
    session: AsyncSession,
    principal: Principal,
    kind: SubjectKind,
    subject_id: str,
    data: ConsentCreate,
) -> ConsentOut:
    if principal.user_id is None:
        raise Forbidden("consent is recorded by people, not API keys")
    await get_visible(session, principal, _subject_model(kind), subject_id, what=kind)
    model = CONSENT_MODELS[kind]
    values: dict[str, Any] = {
        f"{kind}_id": subject_id,
        "purpose": data.purpose,
        "status": data.status,
        "channel": data.channel,
        "recorded_at": as_utc(data.recorded_at) or utcnow(),
        "recorded_by_id": principal.user_id,
        "source": data.source,
    }
    try:
        # The rulebook's word on every value (a date in 1999, say), as a push hears it.
        check_fields(model.__sync_entity__, values)
    except InvalidValue as exc:
        raise UnprocessableEntity(exc.detail, field=exc.field) from None
    record = model(id=await claim_id(session, model, data.id), **values)
    session.add(record)
    await session.flush()
    return _out(kind, record)


async def withdraw_all(
    session: AsyncSession, kind: SubjectKind, subject_id: str, now: datetime
) -> int:
    """Append a withdrawal for every purpose not already withdrawn (an erasure's): how many."""
    history = await history_of(session, kind, subject_id)
    current = state_of(kind, subject_id, history).current
    model = CONSENT_MODELS[kind]
    # Never before a decision already on record (a device clock ahead of ours), so the
    # withdrawal is the latest; its id, newer than theirs, decides a tie.
    at = max([now, *(as_utc(r.recorded_at) or now for r in history)])
    added = 0
    for purpose in PURPOSES:
        if current[purpose] == "withdrawn" and any(r.purpose == purpose for r in history):
            continue
        values: dict[str, Any] = {
            f"{kind}_id": subject_id,
            "purpose": purpose,
            "status": "withdrawn",
            "channel": "system",
            "recorded_at": at,
            "source": "erasure",
        }
        session.add(model(**values))
        added += 1
    return added
