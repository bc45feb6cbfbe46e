"""deploy/Dockerfile's install steps, run outside Docker (no Docker daemon on the machines this
suite runs on): the dependency layer built from pyproject.toml alone, then the distribution
without dependencies, giving a working ``fieldline`` with the operations docs the service units
point at (share/doc/fieldline). A check that the Dockerfile still holds these same steps keeps
the two from drifting."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "deploy" / "Dockerfile").read_text()
STEPS = [
    "COPY pyproject.toml README.md ./",
    "COPY docs/operations.md docs/scaling.md ./docs/",
    "COPY deploy/README.md ./deploy/",
    "touch server/__init__.py sync/__init__.py client_sdk/__init__.py",
    "/opt/fieldline/bin/pip install '.[server]'",
    "/opt/fieldline/bin/pip uninstall -y fieldline",
    "rm -rf server sync client_sdk build ./*.egg-info",
    "/opt/fieldline/bin/pip install --no-deps .",
    "test -s /opt/fieldline/share/doc/fieldline/operations.md",
]


def test_the_dockerfile_holds_the_steps_this_test_runs() -> None:
    for step in STEPS:
        assert step in DOCKERFILE, step


@pytest.mark.slow
def test_the_image_install_steps_give_a_working_fieldline_with_its_docs(tmp_path: Path) -> None:
    venv, src = tmp_path / "opt-fieldline", tmp_path / "src"
    run = _runner(tmp_path)
    run(sys.executable, "-m", "venv", str(venv))
    pip = str(venv / "bin" / "pip")
    (src / "docs").mkdir(parents=True)
    (src / "deploy").mkdir()
    for name in ("pyproject.toml", "README.md", "docs/operations.md", "docs/scaling.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copy(ROOT / "deploy" / "README.md", src / "deploy" / "README.md")
    for package in ("server", "sync", "client_sdk"):
        (src / package).mkdir()
        (src / package / "__init__.py").touch()
    run(pip, "install", "-q", ".[server]", cwd=src)
    run(pip, "uninstall", "-q", "-y", "fieldline", cwd=src)
    for leftover in ("server", "sync", "client_sdk", "build"):
        shutil.rmtree(src / leftover, ignore_errors=True)
    for package in ("server", "sync", "client_sdk"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    run(pip, "install", "-q", "--no-deps", ".", cwd=src)

    fieldline = str(venv / "bin" / "fieldline")
    assert "serve" in run(fieldline, "--help", cwd=tmp_path)
    docs = venv / "share" / "doc" / "fieldline"
    assert (docs / "operations.md").read_text() == (ROOT / "docs/operations.md").read_text()
    unit = (ROOT / "deploy" / "fieldline.service").read_text()
    assert "Documentation=file:///opt/fieldline/share/doc/fieldline/operations.md" in unit
    database = tmp_path / "image.db"
    run(fieldline, "--database-url", f"sqlite:///{database}", "migrate", cwd=tmp_path)
    assert database.is_file()


def _runner(tmp_path: Path) -> Callable[..., str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIELDLINE_", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

    def run(*command: str, cwd: Path | None = None) -> str:
        done = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, f"{command}: {done.stderr[-3000:]}"
        return done.stdout

    return run
