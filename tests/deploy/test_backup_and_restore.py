"""deploy/backup.sh and deploy/restore-drill.sh against the local PostgreSQL: a dump of a
Fieldline database restores into a scratch database holding the same rows, old dumps are pruned,
and a drill with nothing to restore fails."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.seed import seed_world
from tests.stores import PG_ENV, Store, StoreFactory

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TABLES = ("users", "accounts", "orders", "sync_change_log", "sync_records", "audit_log")

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def pg_store(store_factory: StoreFactory) -> Iterator[Store]:
    if store_factory.pg_url is None:
        pytest.skip(f"PostgreSQL run skipped: set {PG_ENV}=postgresql+asyncpg://… to run it")
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    created = store_factory.postgres()
    yield created
    store_factory.drop(created)


def _libpq_env(store: Store, backups: Path, **extra: str) -> dict[str, str]:
    url = make_url(store.url)
    env = {
        **os.environ,
        "PGHOST": url.host or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGUSER": url.username or "postgres",
        "PGDATABASE": url.database or "",
        "BACKUP_DIR": str(backups),
        **extra,
    }
    if url.password:
        env["PGPASSWORD"] = url.password
    return env


def _run(script: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(DEPLOY / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _counts(env: dict[str, str]) -> dict[str, int]:
    query = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in TABLES)
    out = subprocess.run(
        ["psql", "--no-psqlrc", "-At", "-F", "=", "-c", query],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {name: int(n) for name, n in (line.split("=") for line in out.split())}


def test_a_backup_restores_into_a_scratch_database_with_the_same_rows(
    pg_store: Store, tmp_path: Path
) -> None:
    seed_world(pg_store.url)
    env = _libpq_env(pg_store, tmp_path / "backups")

    backup = _run("backup.sh", env)
    assert backup.returncode == 0, backup.stderr
    made = json.loads(backup.stdout.strip().splitlines()[-1])
    assert Path(made["backup"]).is_file() and made["bytes"] > 0
    assert not list((tmp_path / "backups").glob("*.partial"))

    drill = _run("restore-drill.sh", env)
    assert drill.returncode == 0, drill.stderr
    restored = json.loads(drill.stdout.strip().splitlines()[-1])
    assert restored["restored"] == made["backup"]
    assert restored["schema"]
    source = _counts(env)
    assert source["accounts"] > 0 and source["sync_change_log"] > 0
    assert {t: restored[t] for t in TABLES} == source
    # The scratch database is gone again.
    listed = _run_psql(env, "SELECT count(*) FROM pg_database WHERE datname LIKE '%_restore_drill'")
    assert listed == "0"


def _run_psql(env: dict[str, str], query: str) -> str:
    return subprocess.run(
        ["psql", "--no-psqlrc", "-At", "-d", "postgres", "-c", query],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_only_the_newest_dumps_are_kept(pg_store: Store, tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    database = make_url(pg_store.url).database
    for stamp in ("20250101T000000Z", "20250102T000000Z"):
        (backups / f"{database}-{stamp}.dump").write_bytes(b"old")
    (backups / "unrelated.txt").write_text("kept")
    env = _libpq_env(pg_store, backups, BACKUP_KEEP="2")
    assert _run("backup.sh", env).returncode == 0
    names = sorted(p.name for p in backups.iterdir())
    assert names[0] == f"{database}-20250102T000000Z.dump"
    assert len(names) == 3 and "unrelated.txt" in names


def test_a_drill_with_no_dump_fails(pg_store: Store, tmp_path: Path) -> None:
    drill = _run("restore-drill.sh", _libpq_env(pg_store, tmp_path / "empty"))
    assert drill.returncode != 0
    assert "no dump found" in drill.stderr


def test_a_corrupt_dump_fails_the_drill(pg_store: Store, tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    database = make_url(pg_store.url).database
    broken = backups / f"{database}-20250101T000000Z.dump"
    broken.write_bytes(b"PGDMP not really a dump")
    drill = _run("restore-drill.sh", _libpq_env(pg_store, backups))
    assert drill.returncode != 0
