"""Loading the demo data set into a database.

This is a bulk load into an empty store, so it takes a shortcut the rest of the server never
takes: rows go in with Core ``insert()`` executemany batches on the session's connection, which
the sync layer's ORM session hooks do not see (writing ~80,000 records one ORM flush at a time
would take minutes). The sync index is rebuilt from the loaded tables at the end, in the same
transaction, so a device that bootstraps afterwards gets the whole scope. Everything is one
transaction: a failed load leaves the database as it was, and ``--if-empty`` can simply retry.
Last, on PostgreSQL, every table is analyzed, so the first queries plan with statistics that
describe the loaded data rather than the empty tables it went into.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Role, User
from server.auth.passwords import hash_password, verify_password
from server.db.engine import create_engine, create_sessionmaker
from server.db.migrate import upgrade
from server.db.models import Base
from server.demo.decisions import record_demo_decisions
from server.demo.forecasts import forecast_history
from server.demo.generator import DemoData, generate
from server.demo.records import Row
from server.demo.targets import set_demo_targets
from server.forecasting.jobs import recompute_all
from server.org.models import Region
from server.suggestions.service import relearn
from server.sync.index import reindex_all

__all__ = [
    "DEFAULT_SEED",
    "DEMO_PASSWORD",
    "DemoError",
    "DemoResult",
    "Login",
    "ProgressCallback",
    "load_demo",
    "run_demo",
]

DEMO_PASSWORD = "fieldline-demo"
DEFAULT_SEED = 42
BATCH_ROWS = 5000

ProgressCallback = Callable[[str, int, int], None]
"""(what is being loaded, rows done, rows in all)."""

_ROLE_ORDER = {Role.ADMIN: 0, Role.BACKOFFICE: 1, Role.MANAGER: 2, Role.REP: 3}


class DemoError(RuntimeError):
    """The demo data set cannot be loaded here (the database already holds data)."""


@dataclass(frozen=True)
class Login:
    role: str
    username: str
    password: str
    region: str


@dataclass(frozen=True)
class DemoResult:
    loaded: bool
    """False when ``if_empty`` found users already there and left the database alone."""
    counts: dict[str, int] = field(default_factory=dict)
    logins: list[Login] = field(default_factory=list)
    other_reps: dict[str, list[str]] = field(default_factory=dict)
    """Region name → usernames of the reps not in ``logins`` (same demo password)."""


def run_demo(
    url: str,
    *,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    if_empty: bool = False,
    on_progress: ProgressCallback | None = None,
    suggestions: bool = True,
) -> DemoResult:
    """Migrate the database at ``url`` if needed, then load the demo data set into it."""
    upgrade(url)
    return asyncio.run(
        load_demo(
            url,
            seed=seed,
            scale=scale,
            if_empty=if_empty,
            on_progress=on_progress,
            suggestions=suggestions,
        )
    )


async def load_demo(
    url: str,
    *,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    if_empty: bool = False,
    now: datetime | None = None,
    on_progress: ProgressCallback | None = None,
    suggestions: bool = True,
) -> DemoResult:
    """``suggestions``: learn the accounts' suggestions once after loading, as the nightly job
    would (off for a benchmark that measures what that first relearn adds)."""
    engine = create_engine(url, null_pool=True)
    try:
        sessions = create_sessionmaker(engine)
        async with sessions() as session:
            has_users = (await session.scalar(select(func.count()).select_from(User))) or 0
            await session.rollback()
        if has_users:
            if not if_empty:
                raise DemoError(
                    "the database already holds users; the demo data set only loads into an "
                    "empty database (use --if-empty to skip quietly, or point "
                    "FIELDLINE_DATABASE_URL at a fresh one)"
                )
            async with sessions() as session:
                logins, others = await demo_logins(session)
            return DemoResult(loaded=False, logins=logins, other_reps=others)

        progress = on_progress or (lambda _label, _done, _total: None)
        progress("generating", 0, 1)
        data = generate(seed, scale, now or datetime.now(UTC), hash_password(DEMO_PASSWORD))
        async with sessions() as session:
            await _insert_all(session, data, progress)
            await session.commit()
        # Managers should find targets and forecasts on their first visit.
        async with sessions() as session:
            await set_demo_targets(session, now or datetime.now(UTC))
            await record_demo_decisions(session)
            await session.commit()
        progress("forecasts", 0, 1)
        async with sessions() as session:
            # A year of past months replayed first, so the recompute scores them: the accuracy
            # panel has something to show on the first visit.
            await forecast_history(session, now=now or datetime.now(UTC), seed=seed)
            await recompute_all(session, now=now or datetime.now(UTC), trigger="demo")
            await session.commit()
        progress("forecasts", 1, 1)
        if suggestions:
            progress("suggestions", 0, 1)
            # Tablets should offer suggestions on their first sync, not after the first night's
            # relearn (the job does the same, server/suggestions/jobs.py).
            await relearn(sessions, now=now or datetime.now(UTC))
            progress("suggestions", 1, 1)
        progress("statistics", 0, 1)
        async with sessions() as session:
            await _refresh_statistics(session)
            await session.commit()
        progress("statistics", 1, 1)
        async with sessions() as session:
            logins, others = await demo_logins(session)
        counts = {name: len(rows) for name, rows in data.tables.items()}
        return DemoResult(True, counts, logins, others)
    finally:
        await engine.dispose()


async def _insert_all(session: AsyncSession, data: DemoData, progress: ProgressCallback) -> None:
    total = data.row_count + 1
    done = 0
    connection = await session.connection()
    for name, rows in data.tables.items():
        table = Base.metadata.tables[name]
        # An executemany needs one set of keys; rows that leave columns to their defaults (a
        # planned visit has no check-in yet) go in their own batches.
        shapes: dict[frozenset[str], list[Row]] = {}
        for row in rows:
            shapes.setdefault(frozenset(row), []).append(row)
        for same_shape in shapes.values():
            for start in range(0, len(same_shape), BATCH_ROWS):
                batch = same_shape[start : start + BATCH_ROWS]
                await connection.execute(insert(table), batch)
                done += len(batch)
                progress(name, done, total)
    # Bulk inserts bypass change capture; devices bootstrap from the sync index, so rebuild it.
    progress("sync index", done, total)
    await reindex_all(session)
    progress("sync index", total, total)


async def _refresh_statistics(session: AsyncSession) -> None:
    """On PostgreSQL, ANALYZE every table of the schema: the demo loads into an empty database,
    so each table was just written (or is still empty, which costs nothing to analyze).

    Until autovacuum gets round to them (minutes, and never for a table whose changes stay under
    its threshold) the planner would take the freshly loaded tables for the empty ones they were
    and plan a first manager's dashboard or a rep's bootstrap accordingly.

    SQLite is left alone on purpose: without ``sqlite_stat1`` its planner follows fixed
    heuristics the indexes were designed for, the same on every database; statistics gathered
    once here would make a demo database plan differently from one that never saw a bulk load,
    and nothing would ever refresh them (SQLite has no autoanalyze)."""
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        return
    quote = connection.dialect.identifier_preparer.quote
    names = ", ".join(quote(table.name) for table in Base.metadata.sorted_tables)
    await connection.execute(text(f"ANALYZE {names}"))


async def demo_logins(session: AsyncSession) -> tuple[list[Login], dict[str, list[str]]]:
    """The admin, the back office, every manager and the first rep of each region, as long as
    they still have the demo password; plus the other reps' usernames by region."""
    rows = (
        await session.execute(
            select(User.role, User.username, User.password_hash, Region.name)
            .outerjoin(Region, Region.id == User.region_id)
            .where(User.active.is_(True))
            .order_by(User.username)
        )
    ).all()
    verdicts: dict[str, bool] = {}
    logins: list[Login] = []
    others: dict[str, list[str]] = {}
    shown_rep_regions: set[str] = set()
    for role, username, password_hash, region in rows:
        # Every demo user shares one hash, so this verifies (slow argon2) once, not per user.
        if password_hash not in verdicts:
            verdicts[password_hash] = verify_password(password_hash, DEMO_PASSWORD)
        if not verdicts[password_hash] or role not in _ROLE_ORDER:
            continue
        if role == Role.REP:
            if region in shown_rep_regions:
                others.setdefault(region or "-", []).append(username)
                continue
            shown_rep_regions.add(region)
        logins.append(Login(role, username, DEMO_PASSWORD, region or "-"))
    region_order = {"North": 0, "West": 1, "South": 2, "East": 3}
    logins.sort(
        key=lambda x: (_ROLE_ORDER[Role(x.role)], region_order.get(x.region, 9), x.username)
    )
    return logins, dict(sorted(others.items(), key=lambda item: region_order.get(item[0], 9)))
