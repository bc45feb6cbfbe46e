"""The request-scoped database session: one transaction per request, committed when the handler
succeeds, rolled back when anything raises (so a refused request writes nothing)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from litestar import Request
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["begin_reading", "provide_db"]

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def begin_reading(session: AsyncSession, state: State) -> None:
    """Start the session's next transaction as a reader. Readers need no write lock on SQLite;
    WAL lets them run beside the writer. (Elsewhere a transaction is a transaction.)"""
    if state.is_sqlite:
        await session.connection(execution_options={"sqlite_begin": "DEFERRED"})


async def provide_db(state: State, request: Request) -> AsyncGenerator[AsyncSession, None]:
    async with state.sessionmaker() as session:
        if request.method in _READ_METHODS:
            await begin_reading(session, state)
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
