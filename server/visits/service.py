"""Visits: planned by reps (or their manager), checked in and out, verified by the server with
the same rule as on sync push (server/sync/domain.py ``verify``). Notes are append-only."""

from __future__ import annotations

from datetime import UTC, date, datetime

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.auth.models import Role, User
from server.auth.principal import Principal
from server.db.base import utcnow
from server.errors import BadRequest, Forbidden
from server.pagination import Page, paginate
from server.rest import apply_patch, check_initial, check_move, check_patch, claim_id, to_out
from server.scoping import get_visible, scoped_select
from server.settings import Settings
from server.sync.domain import verify
from server.visits.models import Visit, VisitNote
from server.visits.schemas import (
    VisitCreate,
    VisitNoteCreate,
    VisitNoteOut,
    VisitOut,
    VisitUpdate,
)

__all__ = [
    "add_note",
    "create_visit",
    "get_visit",
    "list_notes",
    "list_visits",
    "update_visit",
]


def _utc(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise BadRequest("times need a UTC offset (e.g. 2024-05-01T09:30:00Z)", field=field)
    return value.astimezone(UTC) if value is not None else None


async def list_visits(
    session: AsyncSession,
    principal: Principal,
    *,
    rep_id: str | None,
    account_id: str | None,
    on: date | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page[VisitOut]:
    stmt = scoped_select(principal, Visit)
    if rep_id:
        stmt = stmt.where(Visit.rep_id == rep_id)
    if account_id:
        stmt = stmt.where(Visit.account_id == account_id)
    if on:
        stmt = stmt.where(Visit.planned_for == on)
    if status:
        stmt = stmt.where(Visit.status == status)
    return await paginate(
        session, stmt, key=Visit.id, limit=limit, cursor=cursor, out=lambda v: to_out(v, VisitOut)
    )


async def get_visit(session: AsyncSession, principal: Principal, visit_id: str) -> Visit:
    return await get_visible(session, principal, Visit, visit_id)


async def _rep_for(session: AsyncSession, principal: Principal, rep_id: str | None) -> str:
    if rep_id is None:
        if principal.role is not Role.REP or principal.user_id is None:
            raise BadRequest("say whose visit this is", field="rep_id")
        return principal.user_id
    rep = await get_visible(session, principal, User, rep_id, field="rep_id")
    return rep.id


async def create_visit(
    session: AsyncSession, settings: Settings, principal: Principal, data: VisitCreate
) -> Visit:
    await get_visible(session, principal, Account, data.account_id, field="account_id")
    rep_id = await _rep_for(session, principal, data.rep_id)
    check_initial("visit", data.status, principal)
    fields = msgspec.structs.asdict(data)
    fields.update(
        id=await claim_id(session, Visit, data.id),
        rep_id=rep_id,
        check_in_at=_utc(data.check_in_at, "check_in_at"),
    )
    visit = Visit(**fields)
    if visit.status == "in_progress" and visit.check_in_at is None:
        visit.check_in_at = utcnow()
    session.add(visit)
    await verify(session, visit, settings)
    await session.flush()
    return visit


async def update_visit(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    visit_id: str,
    patch: VisitUpdate,
) -> Visit:
    visit = await get_visible(session, principal, Visit, visit_id, for_update=True)
    check_patch(visit, patch, principal)
    if patch.check_in_at is not msgspec.UNSET:
        patch.check_in_at = _utc(patch.check_in_at, "check_in_at")  # type: ignore[assignment]
    if patch.check_out_at is not msgspec.UNSET:
        patch.check_out_at = _utc(patch.check_out_at, "check_out_at")  # type: ignore[assignment]
    if patch.status is not msgspec.UNSET and patch.status != visit.status:
        check_move("visit", visit, patch.status, principal)
    apply_patch(visit, patch, principal)
    now = utcnow()
    if visit.status in ("in_progress", "completed") and visit.check_in_at is None:
        visit.check_in_at = now
    if visit.status == "completed" and visit.check_out_at is None:
        visit.check_out_at = now
    if visit.check_in_at is not None and visit.check_out_at is not None:
        if visit.check_out_at < visit.check_in_at:
            raise BadRequest("check-out is before check-in", field="check_out_at")
        visit.duration_s = int((visit.check_out_at - visit.check_in_at).total_seconds())
    await verify(session, visit, settings)
    await session.flush()
    return visit


async def list_notes(
    session: AsyncSession, principal: Principal, visit_id: str, *, limit: int, cursor: str | None
) -> Page[VisitNoteOut]:
    await get_visible(session, principal, Visit, visit_id)
    stmt = scoped_select(principal, VisitNote).where(VisitNote.visit_id == visit_id)
    return await paginate(
        session,
        stmt,
        key=VisitNote.id,
        limit=limit,
        cursor=cursor,
        out=lambda n: to_out(n, VisitNoteOut),
    )


async def add_note(
    session: AsyncSession, principal: Principal, visit_id: str, data: VisitNoteCreate
) -> VisitNote:
    if principal.user_id is None:
        raise Forbidden("notes are written by people, not API keys")
    await get_visible(session, principal, Visit, visit_id)
    note = VisitNote(
        id=await claim_id(session, VisitNote, data.id),
        visit_id=visit_id,
        author_id=principal.user_id,
        body=data.body,
    )
    session.add(note)
    await session.flush()
    return note
