"""Test databases: every test gets a fresh, migrated database of its own.

SQLite: the schema is migrated once per run into a template file, which each test copies.
PostgreSQL (when FIELDLINE_TEST_DATABASE_URL is set): migrated once into a template database;
each test gets ``CREATE DATABASE … TEMPLATE`` (fast, and fully isolated).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from server.db.migrate import upgrade

__all__ = ["PG_ENV", "Store", "StoreFactory"]

PG_ENV = "FIELDLINE_TEST_DATABASE_URL"


@dataclass(frozen=True)
class Store:
    kind: str  # "sqlite" or "postgres"
    url: str

    @property
    def is_sqlite(self) -> bool:
        return self.kind == "sqlite"


def _pg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg_exec(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


class StoreFactory:
    def __init__(self, workdir: Path, pg_url: str | None) -> None:
        self.workdir = workdir
        self.pg_url = pg_url
        self._counter = itertools.count(1)
        self._sqlite_template: Path | None = None
        self._pg_template: str | None = None
        self._pg_created: list[str] = []
        self._tag = f"{os.getpid()}"

    # SQLite -------------------------------------------------------------------------------
    def sqlite(self) -> Store:
        if self._sqlite_template is None:
            template = self.workdir / "template.db"
            upgrade(f"sqlite:///{template}")
            self._sqlite_template = template
        path = self.workdir / f"test-{next(self._counter)}.db"
        shutil.copyfile(self._sqlite_template, path)
        return Store("sqlite", f"sqlite:///{path}")

    # PostgreSQL ---------------------------------------------------------------------------
    def postgres(self) -> Store:
        assert self.pg_url is not None
        base = make_url(self.pg_url)
        base_name = base.database or "fieldline_test"
        if self._pg_template is None:
            template = f"{base_name}_tpl_{self._tag}"
            asyncio.run(
                _pg_exec(
                    _pg_dsn(self.pg_url),
                    f'DROP DATABASE IF EXISTS "{template}"',
                    f'CREATE DATABASE "{template}"',
                )
            )
            self._pg_created.append(template)
            upgrade(base.set(database=template).render_as_string(hide_password=False))
            self._pg_template = template
        name = f"{base_name}_{self._tag}_{next(self._counter)}"
        asyncio.run(
            _pg_exec(
                _pg_dsn(self.pg_url),
                f'DROP DATABASE IF EXISTS "{name}"',
                f'CREATE DATABASE "{name}" TEMPLATE "{self._pg_template}"',
            )
        )
        self._pg_created.append(name)
        return Store("postgres", base.set(database=name).render_as_string(hide_password=False))

    def drop(self, store: Store) -> None:
        if store.is_sqlite:
            path = Path(make_url(store.url).database or "")
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return
        name = make_url(store.url).database
        assert self.pg_url is not None
        asyncio.run(
            _pg_exec(_pg_dsn(self.pg_url), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )
        if name in self._pg_created:
            self._pg_created.remove(name)

    def close(self) -> None:
        if self.pg_url is None:
            return
        statements = [f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in self._pg_created]
        if statements:
            asyncio.run(_pg_exec(_pg_dsn(self.pg_url), *statements))
