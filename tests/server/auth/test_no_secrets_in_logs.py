from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.seed import PASSWORD, auth_headers, seed_world
from tests.server.auth.helpers import login
from tests.stores import Store


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "fields", {})
        self.lines.append(f"{record.getMessage()} {fields!r} {record.args!r}")


@pytest.fixture
def captured() -> Iterator[_Capture]:
    handler = _Capture()
    root = logging.getLogger("fieldline")
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_logging_in_refreshing_and_failing_never_log_a_secret(
    client: TestClient[Litestar], store: Store, captured: _Capture
) -> None:
    seed_world(store.url)
    issued = login(client).json()
    refreshed = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": issued["refresh_token"]}
    ).json()
    client.get("/api/v1/devices", headers=auth_headers(refreshed["access_token"]))
    login(client, password="a wrong guess 12345")
    text = "\n".join(captured.lines)
    assert "login" in text  # the capture saw the traffic
    for secret in (
        PASSWORD,
        "a wrong guess 12345",
        issued["access_token"],
        issued["refresh_token"],
        refreshed["access_token"],
        refreshed["refresh_token"],
    ):
        assert secret not in text
