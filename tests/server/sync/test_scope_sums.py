"""Scope checksums are kept as records are written: every write path moves them, and they always
equal a fresh hash of what each caller's scope selects from ``sync_records``."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account, Contact
from server.auth.models import Role, User
from server.auth.principal import Principal
from server.sync.index import reindex_all
from server.sync.models import SyncRecord, SyncScopeSum
from server.sync.scope import scope_filter, scope_params
from server.sync.sums import fold, row_count, scope_sums, verify
from sync.checksum import scope_digest
from tests.seed import World, run_db
from tests.stores import Store

USERS = ("rep_n1", "rep_n2", "rep_s1", "mgr_north", "mgr_south", "admin")


async def _principal(session: AsyncSession, user_id: str) -> Principal:
    user = await session.get(User, user_id)
    assert user is not None
    return Principal(
        role=Role(user.role),
        user_id=user.id,
        username=user.username,
        device_id=None,
        region_id=user.region_id,
        territory_id=user.territory_id,
    )


def _kept_and_hashed(url: str, world: World) -> dict[str, tuple[object, object]]:
    """Per user: (kept sums, a fresh hash of the scope) as {entity: (count, digest)}."""

    async def work(session: AsyncSession) -> dict[str, tuple[object, object]]:
        table = SyncRecord.__table__
        out: dict[str, tuple[object, object]] = {}
        for username in USERS:
            principal = await _principal(session, world.user(username))
            kept = {s.entity: (s.count, s.digest) for s in await scope_sums(session, principal)}
            rows = await session.execute(
                select(table.c.entity, table.c.record_id, table.c.version).where(
                    table.c.deleted.is_(False), scope_filter(principal.role, table)
                ),
                scope_params(principal),
            )
            held: dict[str, list[tuple[str, int]]] = defaultdict(list)
            for entity, record_id, version in rows:
                held[entity].append((record_id, version))
            hashed = {entity: scope_digest(pairs) for entity, pairs in held.items()}
            # An entity whose records all left the scope is still named, with nothing in it.
            for entity in kept.keys() - hashed.keys():
                hashed[entity] = scope_digest([])
            out[username] = (kept, hashed)
        return out

    return run_db(url, work)


def _assert_kept_equals_hashed(url: str, world: World) -> None:
    for username, (kept, hashed) in _kept_and_hashed(url, world).items():
        assert kept == hashed, username


def test_the_kept_sums_follow_edits_moves_and_deletions(store: Store, world: World) -> None:
    _assert_kept_equals_hashed(store.url, world)
    moved = world.accounts["N1"][0]
    gone = world.contacts[world.accounts["N2"][0]][0]

    async def work(session: AsyncSession) -> None:
        account = await session.get(Account, moved)
        assert account is not None
        account.territory_id = world.territories["S1"]  # its contacts move with it
        account.name = "Moved south"
        contact = await session.get(Contact, gone)
        assert contact is not None
        contact.deleted_at = datetime.now(UTC)

    run_db(store.url, work)
    _assert_kept_equals_hashed(store.url, world)
    kept = _kept_and_hashed(store.url, world)
    assert kept["rep_s1"][0]["account"][0] == len(world.accounts["S1"]) + 1


def test_a_rolled_back_savepoint_takes_its_deltas_with_it(store: Store, world: World) -> None:
    account_id = world.accounts["N1"][0]

    async def work(session: AsyncSession) -> None:
        savepoint = await session.begin_nested()
        account = await session.get(Account, account_id)
        assert account is not None
        account.territory_id = world.territories["S1"]
        await session.flush()
        await savepoint.rollback()
        await session.commit()

    run_db(store.url, work)
    _assert_kept_equals_hashed(store.url, world)


def test_folding_keeps_the_sums_and_leaves_one_row_per_combination(
    store: Store, world: World
) -> None:
    async def edits(session: AsyncSession) -> None:
        for i, account_id in enumerate(world.accounts["N1"] * 3):
            account = await session.get(Account, account_id)
            assert account is not None
            account.name = f"Edit {i}"
            await session.commit()

    run_db(store.url, edits)
    before = _kept_and_hashed(store.url, world)

    async def fold_twice(session: AsyncSession) -> tuple[int, int, int]:
        rows = await row_count(session)
        removed = await fold(session)
        await session.commit()
        again = await fold(session)
        await session.commit()
        return rows, removed, again

    rows, removed, again = run_db(store.url, fold_twice)
    assert removed > 0 and again == 0
    assert run_db(store.url, row_count) == rows - removed
    assert _kept_and_hashed(store.url, world) == before
    _assert_kept_equals_hashed(store.url, world)


def test_the_nightly_verification_finds_and_repairs_drifted_sums(
    store: Store, world: World
) -> None:
    async def tamper(session: AsyncSession) -> None:
        await session.execute(update(SyncScopeSum).values(digest=SyncScopeSum.digest + 1))
        await session.commit()

    run_db(store.url, tamper)
    assert any(kept != hashed for kept, hashed in _kept_and_hashed(store.url, world).values())

    async def check(session: AsyncSession) -> dict[str, int]:
        found = await verify(session)
        await session.commit()
        return found

    found = run_db(store.url, check)
    assert found["disagreed"] > 0
    _assert_kept_equals_hashed(store.url, world)
    assert run_db(store.url, check)["disagreed"] == 0


def test_a_rebuild_of_the_index_recomputes_the_sums(store: Store, world: World) -> None:
    async def wipe_and_reindex(session: AsyncSession) -> None:
        await session.execute(update(SyncScopeSum).values(count=0, digest=0))
        await reindex_all(session)
        await session.commit()

    run_db(store.url, wipe_and_reindex)
    _assert_kept_equals_hashed(store.url, world)
