"""What managers and reps review of sync: values the conflict rules discarded and mutations the
server refused, newest first, within the caller's reach (a manager: their region; a rep: what
they lost or sent; an admin: everything)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Role
from server.auth.principal import Principal
from server.sync.models import ConflictRecord, QuarantinedMutation

__all__ = ["recent_conflicts", "recent_rejections"]


async def _recent(
    session: AsyncSession, principal: Principal, model: Any, user_column: Any, limit: int
) -> Sequence[Any]:
    stmt = select(model).order_by(model.id.desc()).limit(limit)
    if principal.role is Role.MANAGER:
        stmt = stmt.where(model.region_id == principal.region_id)
    elif principal.role is Role.REP:
        stmt = stmt.where(user_column == principal.user_id)
    return (await session.execute(stmt)).scalars().all()


async def recent_conflicts(
    session: AsyncSession, principal: Principal, limit: int
) -> Sequence[ConflictRecord]:
    return await _recent(session, principal, ConflictRecord, ConflictRecord.loser_user_id, limit)


async def recent_rejections(
    session: AsyncSession, principal: Principal, limit: int
) -> Sequence[QuarantinedMutation]:
    return await _recent(
        session, principal, QuarantinedMutation, QuarantinedMutation.user_id, limit
    )
