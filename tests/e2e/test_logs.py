"""A real server process's log: every line JSON, whatever library wrote it (uvicorn, Alembic,
APScheduler, Fieldline), each request's lines carrying its request id, and no secret or query
string anywhere in it."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import live_server
from tests.seed import PASSWORD, seed_world

WRONG_GUESS = "a-wrong-guess-4711"
CURSOR_SECRET = "cursor-secret-0815"
SECRET_KEY = "log-test-secret-key-that-is-long-enough-for-hs256"


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.e2e
def test_a_server_process_logs_only_json_and_never_a_secret_or_query_string(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"  # migrated by the server itself: Alembic logs
    env = {
        "FIELDLINE_LOG_LEVEL": "INFO",
        "FIELDLINE_LOG_REQUESTS": "true",
        "FIELDLINE_AUTO_MIGRATE": "true",
        "FIELDLINE_SCHEDULER_ENABLED": "true",
        "FIELDLINE_JOBS_TEST_INTERVAL_S": "1",
        "FIELDLINE_SECRET_KEY": SECRET_KEY,
    }
    secrets: list[str] = [WRONG_GUESS, PASSWORD, CURSOR_SECRET, SECRET_KEY]
    with live_server(url, tmp_path, env=env) as server:
        seed_world(url, accounts_per_territory=1)
        login = {"username": "rep_n1", "device_name": "tab"}
        assert (
            httpx.post(
                f"{server.url}/api/v1/auth/login", json={**login, "password": WRONG_GUESS}
            ).status_code
            == 401
        )
        issued = httpx.post(
            f"{server.url}/api/v1/auth/login", json={**login, "password": PASSWORD}
        ).json()
        secrets += [issued["access_token"], issued["refresh_token"]]
        bearer = {"Authorization": f"Bearer {issued['access_token']}"}
        pulled = httpx.get(
            f"{server.url}/api/v1/sync/pull?cursor={CURSOR_SECRET}",
            headers={**bearer, "X-Fieldline-Protocol": "1", "X-Request-ID": "trace-42"},
        )
        assert pulled.headers["x-request-id"] == "trace-42"
        minted = httpx.get(f"{server.url}/health/live?token={CURSOR_SECRET}")
        assert len(minted.headers["x-request-id"]) == 16
        # A request uvicorn itself refuses: its warning must be JSON too.
        with socket.create_connection(("127.0.0.1", server.port)) as raw:
            raw.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            raw.recv(1024)
        time.sleep(2.5)  # a few heartbeat slots: APScheduler and the job log
    lines = _lines(server.log)

    records: list[dict[str, Any]] = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"a log line is not JSON: {line!r}")
    loggers = {r["logger"] for r in records}
    assert {"alembic.runtime.migration", "uvicorn.error", "fieldline.request"} <= loggers
    assert any(name.startswith("apscheduler") for name in loggers), loggers
    assert all(r["node"].startswith("server-") for r in records)
    traced = [r for r in records if r.get("request_id") == "trace-42"]
    assert [r["path"] for r in traced if r["logger"] == "fieldline.request"] == [
        "/api/v1/sync/pull"
    ]
    text = "\n".join(lines)
    for secret in secrets:
        assert secret not in text
    assert "?" not in "".join(r.get("path", "") for r in records)
