"""The request-scoped database session: one transaction per request (a push that answers a pull
too has two), committed when the handler succeeds, rolled back when anything raises (so a
refused request writes nothing)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack

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
    async with AsyncExitStack() as stack:
        if state.is_sqlite:
            # The session takes a pooled connection per transaction and gives it back at the
            # end: on SQLite that return is what releases the writer gate (server/db/gate.py).
            session = await stack.enter_async_context(state.sessionmaker())
        else:
            # Elsewhere the request keeps one connection for all its transactions: a push
            # commits, then reads its pull page in a second transaction, and with a connection
            # per transaction that one queued for a connection again behind every other request
            # of a burst (PostgreSQL's pool is small on purpose, server/db/engine.py).
            connection = await stack.enter_async_context(state.engine.connect())
            session = await stack.enter_async_context(state.sessionmaker(bind=connection))
        if request.method in _READ_METHODS:
            await begin_reading(session, state)
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
