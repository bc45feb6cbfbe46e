"""The request-scoped database session: one transaction per request (a push that answers a pull
too has two), committed when the handler succeeds, rolled back when anything raises (so a
refused request writes nothing)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, MutableMapping
from contextlib import AsyncExitStack
from typing import Any, cast

from litestar import Request
from litestar.datastructures import State
from litestar.types import Scope
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from server.sync.writers import declare_bases

__all__ = ["begin_reading", "provide_db", "release_request_connection", "request_connection"]

_CONNECTION = "fieldline.connection"

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def begin_reading(session: AsyncSession, state: State) -> None:
    """Start the session's next transaction as a reader. Readers need no write lock on SQLite;
    WAL lets them run beside the writer. (Elsewhere a transaction is a transaction.)"""
    if state.is_sqlite:
        await session.connection(execution_options={"sqlite_begin": "DEFERRED"})


def _own_keys(scope: Scope) -> MutableMapping[str, Any]:
    # ASGI lets middleware keep its own keys in a scope; Litestar's TypedDicts name only the
    # standard ones.
    return cast("MutableMapping[str, Any]", scope)


async def request_connection(state: State, scope: Scope) -> AsyncConnection | None:
    """On PostgreSQL, the request's one pooled connection, taken on first use: authentication
    reads with it, then the request's session runs its transactions on it. Taking a connection
    for each made a request queue for the small pool twice under a burst. None on SQLite, where
    a connection per transaction is what releases the writer gate."""
    if state.is_sqlite:
        return None
    keys = _own_keys(scope)
    connection: AsyncConnection | None = keys.get(_CONNECTION)
    if connection is None:
        connection = keys[_CONNECTION] = await state.engine.connect()
    return connection


async def release_request_connection(scope: Scope) -> None:
    """Give the request's connection back to the pool (once; later calls do nothing)."""
    connection: AsyncConnection | None = _own_keys(scope).pop(_CONNECTION, None)
    if connection is not None:
        await connection.close()


async def provide_db(
    state: State, request: Request[Any, Any, Any]
) -> AsyncGenerator[AsyncSession, None]:
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
            connection = await request_connection(state, request.scope)
            # Back to the pool when the handler is done, before any background task runs.
            stack.push_async_callback(release_request_connection, request.scope)
            session = await stack.enter_async_context(state.sessionmaker(bind=connection))
        if request.method in _READ_METHODS:
            await begin_reading(session, state)
        else:
            declare_bases(session, request.method, request.headers, request.path_params)
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
