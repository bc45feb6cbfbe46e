"""Helpers for the lead tests: a seeded world whose reps work every day (so no test depends on
today's weekday), API keys, and reads of what the database holds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.models import AuditEntry
from server.auth.models import ApiKey, Role, User
from server.auth.tokens import digest, new_api_key
from server.leads.models import AssignmentDecision, Lead
from server.org.models import Region
from server.settings import Settings
from tests.seed import World, auth_headers, run_db, seed_world, token_for

__all__ = [
    "HAMBURG",
    "MUNICH",
    "api_key",
    "audit",
    "decisions",
    "headers_for",
    "lead",
    "leads_world",
    "new_region",
    "update_user",
]

HAMBURG = {"lat": 53.5511, "lon": 9.9937}
MUNICH = {"lat": 48.1351, "lon": 11.5820}


def leads_world(url: str) -> World:
    world = seed_world(url)

    async def work(session: AsyncSession) -> None:
        for user in (
            await session.execute(select(User).where(User.role == Role.REP.value))
        ).scalars():
            user.working_days = list(range(7))

    run_db(url, work)
    return world


def headers_for(settings: Settings, world: World, username: str) -> dict[str, str]:
    token, _ = token_for(settings, world.user(username))
    return auth_headers(token)


def api_key(url: str, scopes: list[str]) -> dict[str, str]:
    key, prefix = new_api_key()

    async def work(session: AsyncSession) -> None:
        session.add(ApiKey(name="import", prefix=prefix, key_hash=digest(key), scopes=scopes))

    run_db(url, work)
    return {"X-API-Key": key}


def update_user(url: str, user_id: str, **fields: Any) -> None:
    async def work(session: AsyncSession) -> None:
        user = await session.get(User, user_id)
        assert user is not None
        for name, value in fields.items():
            setattr(user, name, value)

    run_db(url, work)


def new_region(url: str, code: str) -> str:
    async def work(session: AsyncSession) -> str:
        region = Region(code=code, name=code.title())
        session.add(region)
        await session.flush()
        return region.id

    return run_db(url, work)


def lead(url: str, lead_id: str) -> Lead:
    async def work(session: AsyncSession) -> Lead:
        found = await session.get(Lead, lead_id)
        assert found is not None
        return found

    return run_db(url, work)


def decisions(url: str, lead_id: str) -> list[AssignmentDecision]:
    async def work(session: AsyncSession) -> list[AssignmentDecision]:
        rows = await session.execute(
            select(AssignmentDecision)
            .where(AssignmentDecision.lead_id == lead_id)
            .order_by(AssignmentDecision.id)
        )
        return list(rows.scalars())

    return run_db(url, work)


def audit(url: str, action: str) -> list[AuditEntry]:
    async def work(session: AsyncSession) -> list[AuditEntry]:
        rows = await session.execute(select(AuditEntry).where(AuditEntry.action == action))
        return list(rows.scalars())

    return run_db(url, work)
