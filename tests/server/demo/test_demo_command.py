"""`fieldline demo` as a user runs it: the installed console script, a SQLite file, the logins
printed at the end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.stores import Store


def _fieldline() -> str:
    script = Path(sys.executable).parent / "fieldline"
    assert script.exists(), "the fieldline console script is not installed (run `make setup`)"
    return str(script)


@pytest.mark.slow
def test_demo_command_loads_a_fresh_file_and_prints_the_logins(sqlite_store: Store) -> None:
    path = make_url(sqlite_store.url).database
    env = {**os.environ, "FIELDLINE_DATABASE_URL": f"sqlite:///{path}"}
    done = subprocess.run(
        [_fieldline(), "demo", "--if-empty", "--scale", "0.02"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Loaded" in done.stdout and "80 accounts" in done.stdout
    for username in ("admin", "backoffice", "manager.north", "manager.east"):
        assert username in done.stdout
    assert done.stdout.count("fieldline-demo") == 10
    assert "More North reps (same password)" in done.stdout
