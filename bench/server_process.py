"""A real Fieldline server process on a free loopback port, for benchmarks: the one the tests
start, with its peak memory sampled while it runs."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path

import psutil

from server.settings import Settings
from tests.live import LiveServer, live_server

__all__ = ["ServerProcess"]

SAMPLE_EVERY_S = 0.05


class ServerProcess:
    def __init__(self, database_url: str, env: Mapping[str, str] | None = None) -> None:
        self.database_url = database_url
        # The test servers skip warming the connection pool to start faster; a benchmark
        # measures the server as deployed.
        self.env = {"FIELDLINE_DB_POOL_WARM": str(Settings().db_pool_warm), **(env or {})}
        self.url = ""
        self.port = 0
        self.peak_rss = 0
        self._stack = ExitStack()
        self._sampling = threading.Event()
        self._sampler: threading.Thread | None = None

    def __enter__(self) -> ServerProcess:
        with ExitStack() as stack:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            server = stack.enter_context(
                live_server(self.database_url, workdir, env=self.env, ready_path="/health/ready")
            )
            self._stack = stack.pop_all()
        self.url = server.url
        self.port = server.port
        self._sampling.set()
        self._sampler = threading.Thread(target=self._sample, args=(server,), daemon=True)
        self._sampler.start()
        return self

    def _sample(self, server: LiveServer) -> None:
        proc = psutil.Process(server.process.pid)
        while self._sampling.is_set():
            try:
                self.peak_rss = max(self.peak_rss, proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(SAMPLE_EVERY_S)

    def stop(self) -> None:
        self._sampling.clear()
        if self._sampler is not None:
            self._sampler.join()
            self._sampler = None
        self._stack.close()

    def __exit__(self, *_: object) -> None:
        self.stop()
