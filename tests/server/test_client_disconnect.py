"""A device that loses its network mid-upload: the server notes a disconnect, not a failure of
its own. Over a real server process and a raw socket, since only a real connection can be cut
off half way through its body."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import live
from tests.conftest import make_settings
from tests.seed import seed_world, token_for
from tests.stores import Store

PUSH = "/api/v1/sync/push"
DISCONNECTED = f'fieldline_http_client_disconnected_total{{method="POST",route="{PUSH}"}} 1'


@pytest.fixture
def server_after_a_cut_upload(store: Store, tmp_path: Path) -> Iterator[live.LiveServer]:
    """A server one of whose clients announced a push of 100,000 bytes, sent 16 and closed."""
    world = seed_world(store.url)
    token, _ = token_for(make_settings(store), world.user("rep_n1"))
    with live.live_server(store.url, tmp_path, env={"FIELDLINE_LOG_LEVEL": "INFO"}) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(
                f"POST {PUSH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                "Content-Length: 100000\r\n\r\n".encode()
                + b'{"device_id": "0'
            )
            time.sleep(0.5)  # the server is now waiting for the rest of the body
        deadline = time.monotonic() + 10
        while DISCONNECTED not in _metrics(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        yield server


def _metrics(server: live.LiveServer) -> str:
    return httpx.get(f"{server.url}/metrics", timeout=5).text


def test_a_client_gone_mid_upload_is_counted_as_a_disconnect_not_a_server_error(
    server_after_a_cut_upload: live.LiveServer,
) -> None:
    metrics = _metrics(server_after_a_cut_upload)
    assert DISCONNECTED in metrics
    assert 'status="500"' not in metrics


def test_a_client_gone_mid_upload_is_logged_in_one_line_without_a_traceback(
    server_after_a_cut_upload: live.LiveServer,
) -> None:
    log = server_after_a_cut_upload.output()
    [line] = [line for line in log.splitlines() if "disconnected" in line]
    assert '"level":"info"' in line
    assert "client disconnected before its request was read" in line
    assert "Traceback" not in log
