"""The SDK ships on its own: a plain ``pip install`` of this project is the device SDK and
``fieldline rep``, with none of the server's dependencies, and it logs in, captures and syncs
against a real server process. The installation is a fresh virtual environment built from this
checkout; the server runs from the full installation the suite runs in."""

from __future__ import annotations

import json
import subprocess
import venv
from pathlib import Path

import pytest

from tests.live import live_server
from tests.seed import PASSWORD, seed_world
from tests.stores import Store

ROOT = Path(__file__).resolve().parents[1]
SERVER_ONLY = ("litestar", "sqlalchemy", "asyncpg", "uvicorn", "argon2", "alembic", "apscheduler")

pytestmark = pytest.mark.slow

DEVICE_SCRIPT = """
import importlib.util, json, sys, tempfile
from pathlib import Path
from client_sdk import FieldClient, MemoryTokenStore
missing = [m for m in {server_only!r} if importlib.util.find_spec(m) is None]
with FieldClient(Path(tempfile.mkdtemp()) / "tablet.db", server_url=sys.argv[1],
                 token_store=MemoryTokenStore()) as rep:
    rep.login("rep_n1", {password!r}, device_name="sdk-only tablet")
    first = rep.sync()
    lead = rep.capture_lead("Kiel Harbour Supplies", city="Kiel")
    second = rep.sync()
    print(json.dumps({{"missing": missing, "accounts": len(rep.accounts()),
                      "pushed": second.pushed, "unsent": rep.status().unsent,
                      "bootstrapped": first.bootstrapped}}))
"""


@pytest.fixture(scope="module")
def sdk_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment holding this project installed without extras."""
    home = tmp_path_factory.mktemp("sdk-env")
    venv.EnvBuilder(with_pip=True).create(home)
    python = home / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)],
        check=True,
        timeout=600,
        capture_output=True,
    )
    return python


def test_the_sdk_installs_without_the_servers_dependencies_and_syncs(
    sdk_env: Path, sqlite_store: Store, tmp_path: Path
) -> None:
    seed_world(sqlite_store.url)
    script = DEVICE_SCRIPT.format(server_only=SERVER_ONLY, password=PASSWORD)
    with live_server(sqlite_store.url, tmp_path) as server:
        done = subprocess.run(
            [str(sdk_env), "-c", script, server.url],
            cwd=tmp_path,  # not the checkout: the installed package, nothing else
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["missing"] == list(SERVER_ONLY)
    assert result["bootstrapped"] and result["accounts"] > 0
    assert result["pushed"] == 1 and result["unsent"] == 0


def test_the_sdk_only_command_line_runs_rep_and_names_the_extra_for_the_server(
    sdk_env: Path, tmp_path: Path
) -> None:
    fieldline = sdk_env.parent / "fieldline"
    rep = subprocess.run([str(fieldline), "rep", "--help"], capture_output=True, text=True)
    assert rep.returncode == 0 and "rep" in rep.stdout
    status = subprocess.run(
        [str(fieldline), "rep", "status"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert status.returncode == 0, status.stderr
    listing = subprocess.run([str(fieldline), "--help"], capture_output=True, text=True)
    assert listing.returncode == 0 and "rep" in listing.stdout
    for command in ("serve", "migrate", "demo"):
        refused = subprocess.run(
            [str(fieldline), command], capture_output=True, text=True, cwd=tmp_path
        )
        assert refused.returncode == 2, (command, refused.stderr)
        assert "pip install 'fieldline[server]'" in refused.stderr
