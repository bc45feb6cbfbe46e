"""The migrations build exactly the schema the models declare, on both stores: a table, column
or index written by hand into a migration cannot drift from the model the code uses."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Index

import server.db.models  # noqa: F401  (every model registered on the metadata)
from server.db.base import Base
from server.db.engine import create_engine
from tests.stores import Store


def _other_dialect_only(diff: Any, dialect: str) -> bool:
    """An index the model builds on one store only (``Index.ddl_if``) is not missing on the
    other."""
    if diff[0] not in ("add_index", "remove_index") or not isinstance(diff[1], Index):
        return False
    declared = next(
        (i for t in Base.metadata.tables.values() for i in t.indexes if i.name == diff[1].name),
        None,
    )
    only = getattr(declared, "_ddl_if", None)
    return only is not None and only.dialect is not None and only.dialect != dialect


def test_the_migrated_schema_is_the_models_schema(store: Store) -> None:
    async def compare() -> list[Any]:
        engine = create_engine(store.url, null_pool=True)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
                )
        finally:
            await engine.dispose()

    dialect = "sqlite" if store.is_sqlite else "postgresql"
    diffs = [d for d in asyncio.run(compare()) if not _other_dialect_only(d, dialect)]
    assert diffs == []
