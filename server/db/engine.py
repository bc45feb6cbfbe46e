"""Engine and session factory for both stores.

SQLite: statements run on the event loop's thread (server/db/sqlite_driver.py), WAL so readers
never block the writer, foreign keys on, writers queued in the event loop (server/db/gate.py) with
a busy timeout behind it for other processes, and an explicit BEGIN (pysqlite's implicit
transactions would otherwise start late and defer locking). PostgreSQL: asyncpg with a modest
pool.
"""

from __future__ import annotations

import time
from contextlib import AsyncExitStack
from typing import Any

import msgspec
from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from server.db.gate import WriterGate
from server.db.sqlite_driver import inline_url

__all__ = ["PG_POOL_SIZE", "create_engine", "create_sessionmaker", "warm_pool"]

SQLITE_BUSY_TIMEOUT_S = 30.0
PG_POOL_SIZE = 10
PING_AFTER_IDLE_S = 10.0
"""A pooled PostgreSQL connection idle for longer is checked with a round trip before use."""
_READ_ONLY = "fieldline.read_only"
_IDLE_SINCE = "fieldline.idle_since"


def _json_dumps(value: Any) -> str:
    return _json_encoder.encode(value).decode()


_json_encoder = msgspec.json.Encoder()


def create_engine(
    url: str,
    *,
    null_pool: bool = False,
    echo: bool = False,
    ping_after_idle_s: float = PING_AFTER_IDLE_S,
) -> AsyncEngine:
    # msgspec reads and writes JSON columns several times faster than the standard library;
    # sync pages are mostly JSON record bodies, so this is the pull path's main cost.
    url = inline_url(url)
    kwargs: dict[str, Any] = {
        "echo": echo,
        "json_serializer": _json_dumps,
        "json_deserializer": msgspec.json.decode,
    }
    if null_pool:
        kwargs["poolclass"] = NullPool
    elif url.startswith("postgresql"):
        # No overflow: a burst waits here for one of the pool's connections. With overflow it
        # opened up to 30 backends, which contended on the database's cores: p99 ×0.72 and
        # server CPU −17% without it, in paired 100-device bursts on the two-core bench machine.
        kwargs.update(pool_size=PG_POOL_SIZE, max_overflow=0, pool_recycle=1800)
    else:
        # SQLite connections are cheap; readers run beside the writer under WAL, so a burst of
        # devices should queue on the database lock, not on the pool.
        kwargs.update(pool_size=100, max_overflow=100)
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    elif not null_pool:
        _ping_idle_connections(engine, ping_after_idle_s)
    return engine


def _ping_idle_connections(engine: AsyncEngine, idle_s: float) -> None:
    """Check a pooled connection with a round trip only when it has been idle a while.

    Pinging on every checkout (``pool_pre_ping``) cost a round trip per request and per auth
    check: on the bench's 100-device burst on PostgreSQL, 16% of the server's CPU and 13% of the
    p99. A connection used seconds ago is almost always alive. When it is not (the database
    restarted in that window), the statement fails, SQLAlchemy sees a disconnect and drops every
    pooled connection, so one request errs and the device's retry succeeds.
    """
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _idle_from(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < idle_s:
            return  # new (just connected) or recently used
        try:
            alive = dialect.do_ping(dbapi_conn)
        except Exception as error:
            # Not only the DB-API's errors, which the signature names: the asyncpg adapter lets
            # an untranslated OSError or timeout out of its ping, and the dialect answers from
            # the connection's own state whatever the exception.
            if not dialect.is_disconnect(error, dbapi_conn, None):  # type: ignore[arg-type]
                raise
            alive = False
        if not alive:
            # The pool discards this connection and checks out (or opens) another.
            raise exc.DisconnectionError("idle connection found dead by a ping")


async def warm_pool(engine: AsyncEngine, count: int) -> None:
    """Open up to ``count`` of the pool's connections and put them back, each having run one
    statement (on SQLite that loads the schema into the connection)."""
    size = getattr(engine.pool, "size", None)
    if count <= 0 or size is None:
        return
    # Naming a table makes SQLite read the schema; ``SELECT 1`` would not.
    first = "SELECT count(*) FROM sqlite_master" if engine.dialect.name == "sqlite" else "SELECT 1"
    async with AsyncExitStack() as stack:
        for _ in range(min(count, size())):
            conn = await stack.enter_async_context(engine.connect())
            # A reader's BEGIN: holding many at once must not queue on the writer gate.
            await conn.execution_options(sqlite_begin="DEFERRED")
            await conn.exec_driver_sql(first)


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite: we emit BEGIN ourselves below.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # 1 MiB of page cache per connection (SQLite's default is 2): the pool keeps 100, and
        # the operating system caches the file once for all of them. (A memory map would count
        # the file once per connection in the server's resident memory: 390 MB in the bench.)
        cursor.execute("PRAGMA cache_size=-1024")
        cursor.close()

    gate = WriterGate(timeout_s=SQLITE_BUSY_TIMEOUT_S)

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock up front (BEGIN IMMEDIATE) so two transactions that both read
        # then write cannot deadlock on a lock upgrade; readers keep a cheap deferred BEGIN.
        # A single read may skip the transaction altogether ("NONE"): SQLite reads a consistent
        # snapshot per statement, and the read-only guard below only matters inside a BEGIN.
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        if mode == "NONE":
            return
        writing = mode == "IMMEDIATE"
        if writing:
            gate.enter(conn.info)
        # Straight to the driver: these run for every transaction, and SQLAlchemy's execution
        # machinery around a statement costs more than SQLite spends on it.
        raw = conn.connection.dbapi_connection
        if conn.info.get(_READ_ONLY, False) == writing:
            # A reader that tried to write would wait for the write lock on the event loop's
            # thread while the writer holding it waits for that loop: refuse it at once instead.
            raw.execute(f"PRAGMA query_only={int(not writing)}")
            conn.info[_READ_ONLY] = not writing
        raw.execute(f"BEGIN {mode}")

    @event.listens_for(sync_engine.pool, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        gate.leave(record.info)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Every session Fieldline opens comes from here, so every write of a syncable record is
    captured into the sync change log (server/sync/capture.py), whichever code path makes it."""
    from server.privacy.quarantine import install as install_privacy
    from server.sync.capture import install

    install()
    install_privacy()
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
