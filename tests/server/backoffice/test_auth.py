from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from server.settings import Settings
from tests.seed import auth_headers, seed_world, token_for
from tests.server.backoffice.conftest import key_headers, make_api_key
from tests.stores import Store

FEED = "/api/v1/backoffice/orders/feed"


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    # Authentication does not depend on the store: SQLite only.
    return sqlite_store


ENDPOINTS = [
    ("GET", FEED, "orders:read"),
    ("GET", "/api/v1/backoffice/orders/export.csv?from=2026-01-01&to=2026-01-31", "orders:read"),
    ("POST", "/api/v1/backoffice/orders/any/status", "orders:write"),
    ("GET", "/api/v1/backoffice/webhooks", "webhooks:manage"),
]


def test_no_key_is_401(client: TestClient[Litestar], store: Store) -> None:
    response = client.get(FEED)

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_a_key_without_the_scope_is_403(
    client: TestClient[Litestar], store: Store, method: str, path: str, scope: str
) -> None:
    others = [
        s for s in ("orders:read", "orders:write", "webhooks:manage", "tickets:read") if s != scope
    ]
    key = make_api_key(store.url, *others)

    response = client.request(method, path, json={"status": "accepted"}, headers=key_headers(key))

    assert response.status_code == 403
    assert response.json()["required_scope"] == scope


def test_a_revoked_key_is_401(client: TestClient[Litestar], store: Store) -> None:
    key = make_api_key(store.url, "orders:read", revoked=True)

    response = client.get(FEED, headers=key_headers(key))

    assert response.status_code == 401


def test_an_unknown_key_is_401(client: TestClient[Litestar], store: Store) -> None:
    key = make_api_key(store.url, "orders:read")

    response = client.get(FEED, headers=key_headers(key[:-2] + "xx"))

    assert response.status_code == 401


def test_a_rep_login_is_403(client: TestClient[Litestar], store: Store, settings: Settings) -> None:
    world = seed_world(store.url)
    token, _ = token_for(settings, world.user("rep_n1"))

    response = client.get(FEED, headers=auth_headers(token))

    assert response.status_code == 403


def test_an_admin_login_passes(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = seed_world(store.url)
    token, _ = token_for(settings, world.user("admin"))

    response = client.get(FEED, headers=auth_headers(token))

    assert response.status_code == 200
