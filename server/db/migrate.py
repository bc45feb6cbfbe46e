"""Schema migrations (Alembic), driven from code so no alembic.ini has to sit in the working
directory. ``fieldline migrate`` and SQLite development start-up both land here."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["MIGRATIONS_DIR", "alembic_config", "pending_heads", "upgrade"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (every head: areas add their own
    migration branches off the initial revision)."""
    command.upgrade(alembic_config(url), "heads")


@cache
def _script() -> ScriptDirectory:
    # The migration scripts do not change while the process runs; parsing them is not free.
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


async def pending_heads(engine: AsyncEngine) -> set[str]:
    """Migration heads not yet applied to the database (empty: up to date)."""
    script = _script()
    wanted = set(script.get_heads())
    async with engine.connect() as conn:
        applied = await conn.run_sync(
            lambda sync_conn: set(MigrationContext.configure(sync_conn).get_current_heads())
        )
    # A database at a later revision of the same branch also satisfies an older head.
    missing = set()
    for head in wanted:
        if head in applied:
            continue
        if any(
            head in {rev.revision for rev in script.iterate_revisions(a, "base")} for a in applied
        ):
            continue
        missing.add(head)
    return missing
