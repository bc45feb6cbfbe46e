"""``fieldline serve``: the HTTP server as deployed, in a real process over a real socket."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from server.db.migrate import upgrade
from tests.live import live_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

_REQUEST = b"GET /health/live HTTP/1.1\r\nHost: fieldline\r\n\r\n"


def _status(sock: socket.socket) -> bytes:
    """Send one request and read its whole response (headers, then Content-Length bytes)."""
    sock.sendall(_REQUEST)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")[1:]
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        body += chunk
    return head.split(b"\r\n", 1)[0]


def test_an_idle_connection_stays_open_longer_than_a_proxy_keeps_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    upgrade(url)
    with (
        live_server(url, tmp_path) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock,
    ):
        assert _status(sock) == b"HTTP/1.1 200 OK"
        # Longer than uvicorn's default of 5 s, after which a request sent on the same
        # connection (by nginx, reusing it) would meet a closed socket.
        time.sleep(6)
        assert _status(sock) == b"HTTP/1.1 200 OK"
