"""The device's SQLite store: one connection, careful pragmas, and nestable transactions.

``atomic()`` opens ``BEGIN IMMEDIATE`` at the outermost level and a SAVEPOINT inside it, so code
that needs "all of this or nothing" can call code that needs the same without knowing whether a
transaction is already open. The connection runs in autocommit mode (``isolation_level=None``):
pysqlite's implicit transactions would otherwise start late and commit behind our back.

Durability. WAL with ``synchronous=NORMAL``: a commit survives the app being killed at once, and
reaches the disk at the next checkpoint (a power cut can lose the last moments of capture, as on
any tablet app that does not fsync every tap). Before anything is *sent*, the sync loop calls
``make_durable()``: a mutation number the server has seen must never be lost locally, or it
would be reused for a different change and the server (idempotent on device and number) would
answer the new change with the old receipt. ``durable=True`` fsyncs every commit instead.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from sync.checksum import signed_term

__all__ = ["Store", "dumps", "loads"]


_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder()


def dumps(value: Any) -> str:
    return _encoder.encode(value).decode()


def loads(text: str | bytes | None) -> Any:
    return None if text is None else _decoder.decode(text)


class Store:
    def __init__(
        self, path: str | Path, *, busy_timeout_ms: int = 5000, durable: bool = False
    ) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
        )
        self.conn.row_factory = sqlite3.Row
        # The records table's triggers keep the server-state checksums with it (migration
        # 0002): every connection that writes records needs the term function.
        self.conn.create_function("fieldline_term", 2, signed_term, deterministic=True)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        # Deleted content is overwritten, not left in free pages: an erased person's data
        # must leave the device's file, not only its tables (docs/privacy.md).
        self.conn.execute("PRAGMA secure_delete=ON")
        self.conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        self.conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        # One thread at a time: the async client drives the store from a single worker thread,
        # and this lock keeps a stray second caller from interleaving inside a transaction.
        self._lock = threading.RLock()
        self._depth = 0
        self._savepoints = 0

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @contextmanager
    def atomic(self, *, savepoint: bool = True) -> Iterator[sqlite3.Connection]:
        """All statements inside commit together or not at all; nests with savepoints.
        ``savepoint=False`` joins an enclosing transaction as is (for small internal steps whose
        failure always aborts the caller's transaction too)."""
        with self._lock:
            if self._depth > 0 and not savepoint:
                yield self.conn
                return
            if self._depth == 0:
                self.conn.execute("BEGIN IMMEDIATE")
                self._depth = 1
                try:
                    yield self.conn
                except BaseException:
                    self._depth = 0
                    self.conn.execute("ROLLBACK")
                    raise
                self._depth = 0
                self.conn.execute("COMMIT")
                return
            self._savepoints += 1
            name = f"sp_{self._savepoints}"
            self.conn.execute(f"SAVEPOINT {name}")
            self._depth += 1
            try:
                yield self.conn
            except BaseException:
                self._depth -= 1
                self.conn.execute(f"ROLLBACK TO {name}")
                self.conn.execute(f"RELEASE {name}")
                raise
            self._depth -= 1
            self.conn.execute(f"RELEASE {name}")

    def execute(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self.conn.execute(sql, params)

    def one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
            return row

    def all(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else row[0]

    def make_durable(self) -> None:
        """Everything committed so far is on disk when this returns (a checkpoint syncs the
        write-ahead log first)."""
        with self._lock:
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    # Key/value settings of the device (cursor, device id, clock, …) ----------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.one("SELECT value FROM meta WHERE key = ?", (key,))
        return default if row is None else loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        if value is None:
            self.execute("DELETE FROM meta WHERE key = ?", (key,))
            return
        self.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, dumps(value)),
        )
