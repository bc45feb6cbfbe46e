from __future__ import annotations

from pathlib import Path

import pytest

from client_sdk.migrations import MIGRATIONS, applied, migrate
from client_sdk.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "device.db")
    migrate(s)
    return s


def _keys(store: Store) -> list[str]:
    return [r[0] for r in store.all("SELECT key FROM meta ORDER BY key")]


def test_the_store_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(store: Store) -> None:
    assert store.scalar("PRAGMA journal_mode") == "wal"
    assert store.scalar("PRAGMA foreign_keys") == 1
    assert store.scalar("PRAGMA busy_timeout") == 5000
    assert store.scalar("PRAGMA synchronous") == 1  # NORMAL: made durable before each push


def test_a_durable_store_fsyncs_every_commit(tmp_path: Path) -> None:
    assert Store(tmp_path / "d.db", durable=True).scalar("PRAGMA synchronous") == 2


def test_atomic_commits_everything_inside_it(store: Store) -> None:
    with store.atomic():
        store.set_meta("a", 1)
        store.set_meta("b", 2)
    assert _keys(store) == ["a", "b"]


def test_atomic_rolls_back_everything_when_the_block_raises(store: Store) -> None:
    with pytest.raises(RuntimeError), store.atomic():
        store.set_meta("a", 1)
        raise RuntimeError("boom")
    assert _keys(store) == []


def test_a_nested_atomic_that_fails_undoes_only_its_own_writes(store: Store) -> None:
    with store.atomic():
        store.set_meta("outer", 1)
        with pytest.raises(ValueError), store.atomic():
            store.set_meta("inner", 2)
            raise ValueError("inner fails")
        store.set_meta("after", 3)
    assert _keys(store) == ["after", "outer"]


def test_an_outer_failure_undoes_a_nested_block_that_succeeded(store: Store) -> None:
    with pytest.raises(RuntimeError), store.atomic():
        with store.atomic():
            store.set_meta("inner", 2)
        raise RuntimeError("outer fails")
    assert _keys(store) == []


def test_writes_outside_atomic_are_visible_to_another_connection(store: Store) -> None:
    with store.atomic():
        store.set_meta("k", "v")
    other = Store(store.path)
    assert other.get_meta("k") == "v"
    other.close()


def test_migrations_are_applied_once_and_recorded_by_name(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db")
    assert migrate(store) == [name for name, _ in MIGRATIONS]
    assert migrate(store) == []
    assert applied(store) == [name for name, _ in MIGRATIONS]


def test_a_failing_migration_leaves_no_trace_and_is_retried_next_open(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db")
    migrate(store)

    def broken(s: Store) -> None:
        s.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("crash mid-migration")

    with pytest.raises(RuntimeError):
        migrate(store, [*MIGRATIONS, ("0099_broken", broken)])
    assert "0099_broken" not in applied(store)
    assert store.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'") == 0

    def fixed(s: Store) -> None:
        s.execute("CREATE TABLE half_done (x INTEGER)")

    assert migrate(store, [*MIGRATIONS, ("0099_broken", fixed)]) == ["0099_broken"]


def test_a_block_joining_without_savepoint_fails_with_its_enclosing_block(store: Store) -> None:
    with pytest.raises(RuntimeError), store.atomic():
        store.set_meta("outer", 1)
        with store.atomic(savepoint=False):
            store.set_meta("joined", 2)
            raise RuntimeError("joined step fails")
    assert _keys(store) == []
