from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from server.app import create_app
from server.auth.ratelimit import ADDRESS_FACTOR
from tests.conftest import make_settings as settings_for
from tests.seed import seed_world
from tests.server.auth.helpers import audit_actions, login
from tests.stores import Store

MAX_FAILURES = 3


@pytest.fixture
def strict_client(store: Store) -> Iterator[TestClient[Litestar]]:
    app = create_app(settings_for(store, login_max_failures=MAX_FAILURES, login_window_s=600))
    with TestClient(app) as client:
        yield client


def test_a_username_is_refused_with_429_after_too_many_failures(
    strict_client: TestClient[Litestar], store: Store
) -> None:
    seed_world(store.url)
    for _ in range(MAX_FAILURES):
        assert login(strict_client, password="wrong").status_code == 401
    refused = login(strict_client)  # even the right password waits out the window
    assert refused.status_code == 429
    retry_after = int(refused.headers["retry-after"])
    assert 0 < retry_after <= 600
    assert refused.json()["retry_after_s"] == retry_after
    assert audit_actions(store.url)[-1] == "auth.rate_limited"


def test_the_limit_is_per_username(strict_client: TestClient[Litestar], store: Store) -> None:
    seed_world(store.url)
    for _ in range(MAX_FAILURES):
        login(strict_client, password="wrong")
    assert login(strict_client, username="rep_n2").status_code == 200


def test_a_success_starts_the_count_afresh(
    strict_client: TestClient[Litestar], store: Store
) -> None:
    seed_world(store.url)
    for _ in range(MAX_FAILURES - 1):
        login(strict_client, password="wrong")
    assert login(strict_client).status_code == 200
    for _ in range(MAX_FAILURES - 1):
        login(strict_client, password="wrong")
    assert login(strict_client).status_code == 200


def test_one_address_trying_many_usernames_is_refused(
    strict_client: TestClient[Litestar], store: Store
) -> None:
    seed_world(store.url)
    for i in range(MAX_FAILURES * ADDRESS_FACTOR):
        assert login(strict_client, username=f"guess{i}", password="x").status_code == 401
    assert login(strict_client, username="rep_s2").status_code == 429
