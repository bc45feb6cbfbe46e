"""A real Fieldline server process on a free loopback port, for tests and benchmarks that need
real HTTP, several processes on one database, restarts or kill -9."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 60.0
# Generous: a server with the scheduler on finishes the job it is running before it exits.
STOP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL: no shutdown, no lifespan, open transactions cut off where they are."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def server_env(database_url: str, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "FIELDLINE_ENV": "test",
        "FIELDLINE_DATABASE_URL": database_url,
        "FIELDLINE_SECRET_KEY": "test-secret-key-that-is-long-enough-for-hs256",
        "FIELDLINE_SCHEDULER_ENABLED": "false",
        "FIELDLINE_AUTO_MIGRATE": "false",
        "FIELDLINE_LOG_REQUESTS": "false",
        "FIELDLINE_LOG_LEVEL": "WARNING",
        "FIELDLINE_DB_POOL_WARM": "0",
        **(overrides or {}),
    }


def start_server(
    database_url: str,
    workdir: Path,
    *,
    env: Mapping[str, str] | None = None,
    ready_path: str = "/health/live",
    port: int | None = None,
) -> LiveServer:
    """Start a server (on ``port``, or a free one) and wait until it answers; the caller stops
    it (``LiveServer.stop`` or ``kill``)."""
    port = port or free_port()
    log = workdir / f"server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=server_env(database_url, env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(url=f"http://127.0.0.1:{port}", port=port, process=process, log=log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{server.output()}")
            try:
                if httpx.get(f"{server.url}{ready_path}", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{server.output()}")
            time.sleep(0.1)
    except BaseException:
        server.stop()
        raise
    return server


@contextmanager
def live_server(
    database_url: str,
    workdir: Path,
    *,
    env: Mapping[str, str] | None = None,
    ready_path: str = "/health/live",
) -> Iterator[LiveServer]:
    server = start_server(database_url, workdir, env=env, ready_path=ready_path)
    try:
        yield server
    finally:
        server.stop()
