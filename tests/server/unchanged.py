"""What a refused request must leave behind: the database exactly as it was.

``dump(url)`` reads every table in full, so it is for the small seeded worlds of these tests."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import server.db.models  # noqa: F401  (every table in the metadata)
from server.db.base import Base
from tests.seed import run_db

__all__ = ["REQUEST_BOOKKEEPING", "dump"]

REQUEST_BOOKKEEPING = frozenset({"api_keys", "login_attempts"})
"""Tables a request writes whatever its outcome: an API key's last use, failed logins (the rate
limit counts them). Not the request's own effect."""


def dump(url: str, *, ignore: Collection[str] = REQUEST_BOOKKEEPING) -> dict[str, list[str]]:
    """Every row of every table but ``ignore``, as sorted text per table."""

    async def work(session: AsyncSession) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for table in Base.metadata.sorted_tables:
            if table.name in ignore:
                continue
            rows = await session.execute(select(table))
            found[table.name] = sorted(repr(tuple(row)) for row in rows)
        return found

    return run_db(url, work)
