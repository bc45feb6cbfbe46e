"""Small helpers shared by the auth tests."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.models import AuditEntry
from tests.seed import PASSWORD, run_db

__all__ = ["audit_actions", "login"]


def login(
    client: TestClient[Litestar],
    username: str = "rep_n1",
    password: str = PASSWORD,
    **extra: Any,
) -> Any:
    body = {"username": username, "password": password, "device_name": "Galaxy Tab", **extra}
    return client.post("/api/v1/auth/login", json=body)


def audit_actions(url: str) -> list[str]:
    async def work(session: AsyncSession) -> list[str]:
        rows = await session.execute(select(AuditEntry.action).order_by(AuditEntry.id))
        return list(rows.scalars())

    return run_db(url, work)
