"""The ``fieldline`` entry point imports only what the chosen command needs: ``fieldline rep …``
runs on a rep's laptop and must not load the server (Litestar, SQLAlchemy, asyncpg, uvicorn,
argon2, any ``server.`` module). Checked on the modules a fresh interpreter ends up with, not on
time, so the tests hold on a slow or busy machine."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from server import cli

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("litestar", "sqlalchemy", "asyncpg", "uvicorn", "argon2", "alembic", "apscheduler")
SERVER_COMMANDS = ("serve", "migrate", "create-user")


def _modules_after(code: str, tmp_path: Path) -> set[str]:
    """The modules a fresh interpreter has imported once ``code`` ran (it may exit via argparse)."""
    script = (
        "import json, sys\n"
        "try:\n" + "".join(f"    {line}\n" for line in code.splitlines()) + "except SystemExit:\n"
        "    pass\n"
        "sys.stdout.flush()\n"
        "sys.__stdout__.write('\\nMODULES ' + json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "FIELDLINE_REP_STORE": ""},
    )
    assert done.returncode == 0, done.stderr
    marker = done.stdout.rindex("\nMODULES ")
    return set(json.loads(done.stdout[marker + len("\nMODULES ") :]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_importing_the_rep_cli_imports_nothing_of_the_server(tmp_path: Path) -> None:
    modules = _modules_after("import client_sdk.cli", tmp_path)
    assert _heavy(modules) == []
    assert sorted(m for m in modules if m == "server" or m.startswith("server.")) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["rep", "--help"],
        ["rep", "status", "--help"],
        ["--database-url", "sqlite:///nowhere.db", "rep", "--help"],
        ["simulate", "--help"],
    ],
    ids=" ".join,
)
def test_the_rep_commands_parse_without_the_server(argv: list[str], tmp_path: Path) -> None:
    modules = _modules_after(f"from server.cli import main\nmain({argv!r})", tmp_path)
    assert _heavy(modules) == []
    # The entry point lives in server/cli.py: that module (and its package) and nothing else.
    assert sorted(m for m in modules if m.startswith("server.")) == ["server.cli"]


def test_rep_status_on_a_fresh_store_runs_without_the_server(tmp_path: Path) -> None:
    store = tmp_path / "rep.db"
    argv = ["rep", "--store", str(store), "status"]
    modules = _modules_after(f"from server.cli import main\nassert main({argv!r}) == 0", tmp_path)
    assert _heavy(modules) == []
    assert sorted(m for m in modules if m.startswith("server.")) == ["server.cli"]
    assert store.exists()


def test_fieldline_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    listing = capsys.readouterr().out
    for command in [*SERVER_COMMANDS, *(c for cs in cli._REGISTRARS.values() for c in cs)]:
        assert f"    {command} " in listing or f"    {command}\n" in listing, command


def _top_level_commands(register: object) -> set[str]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    register(sub)  # type: ignore[operator]
    return set(sub.choices)


def test_each_area_registers_exactly_the_commands_the_table_gives_it() -> None:
    # The table is what lets `fieldline <command>` import one area only: it must not drift.
    for module, commands in cli._REGISTRARS.items():
        registered = _top_level_commands(importlib.import_module(module).register)
        assert registered == set(commands), module
    every = [c for cs in cli._REGISTRARS.values() for c in cs]
    assert len(every) == len(set(every)) and not set(every) & set(SERVER_COMMANDS)


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["rep", "status"], "rep"),
        (["--database-url", "sqlite:///x.db", "demo", "--seed", "1"], "demo"),
        (["--database-url=sqlite:///x.db", "jobs", "list"], "jobs"),
        (["--database", "sqlite:///x.db", "leads"], "leads"),
        (["--", "forecast"], "forecast"),
        (["--help"], None),
        (["-h", "rep"], None),
        (["--he", "rep"], None),
        ([], None),
    ],
)
def test_the_command_is_read_before_any_area_is_imported(
    argv: list[str], command: str | None
) -> None:
    assert cli._chosen_command(argv) == command


def test_a_parser_built_for_one_command_still_knows_the_servers_own(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = cli.build_parser("rep")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == {*SERVER_COMMANDS, "rep", "simulate"}
    # An unknown command gets the full list in argparse's error.
    with pytest.raises(SystemExit):
        cli.main(["nonsense"])
    error = capsys.readouterr().err
    assert "invalid choice" in error and "forecast" in error and "rep" in error


def test_a_bad_setting_is_still_a_message_and_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FIELDLINE_ENV", "production")
    monkeypatch.delenv("FIELDLINE_SECRET_KEY", raising=False)
    assert cli.main(["--database-url", "sqlite:///nowhere.db", "migrate"]) == 2
    assert "FIELDLINE_SECRET_KEY" in capsys.readouterr().err
