"""The env file works as documented: the shipped example (comments and all) is read by
``fieldline --env-file`` as systemd's EnvironmentFile and compose's env_file read it, with no
secret on a command line; a bad line is refused naming its number, never its content."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.settings import SettingsError, read_env_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "fieldline.env.example"
SECRET = "0123456789abcdef0123456789abcdef-from-the-file"


def test_the_shipped_example_reads_as_key_value_pairs() -> None:
    found = read_env_file(EXAMPLE)
    assert found["FIELDLINE_LOG_LEVEL"] == "INFO"
    assert "FIELDLINE_SECRET_KEY" in found
    assert all(key.startswith("FIELDLINE_") for key in found)


def test_quotes_comments_blank_lines_and_export_are_understood(tmp_path: Path) -> None:
    path = tmp_path / "x.env"
    path.write_text("# a comment\n\nexport A=1\nB='two words'\nC=\"x=y # not a comment\"\nD=\n")
    assert read_env_file(path) == {"A": "1", "B": "two words", "C": "x=y # not a comment", "D": ""}


def test_a_bad_line_is_refused_by_number_without_echoing_it(tmp_path: Path) -> None:
    path = tmp_path / "x.env"
    path.write_text("A=1\nthis is hunter2\n")
    with pytest.raises(SettingsError, match="line 2") as refused:
        read_env_file(path)
    assert "hunter2" not in str(refused.value)


def test_fieldline_migrate_runs_with_the_example_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "fieldline.env"
    database = tmp_path / "f.db"
    env_file.write_text(
        EXAMPLE.read_text().replace("FIELDLINE_SECRET_KEY=", f"FIELDLINE_SECRET_KEY={SECRET}")
        + f"FIELDLINE_DATABASE_URL=sqlite:///{database}\nFIELDLINE_ENV=production\n"
        + "FIELDLINE_AUTO_MIGRATE=false\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDLINE_")}
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "--env-file", str(env_file), "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert database.is_file()
    assert SECRET not in done.stdout + done.stderr


def test_a_missing_env_file_is_a_clear_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "--env-file", "/nonexistent.env", "migrate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "cannot read the env file /nonexistent.env" in done.stderr
