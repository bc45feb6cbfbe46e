"""Managing subscriptions: plain request handling, the same on every store (SQLite only)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.server.backoffice.conftest import key_headers, make_api_key
from tests.stores import Store

HOOKS = "/api/v1/backoffice/webhooks"


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    return sqlite_store


def _subscribe(
    client: TestClient[Litestar], key: str, url: str, events: list[str]
) -> dict[str, Any]:
    response = client.post(HOOKS, json={"url": url, "events": events}, headers=key_headers(key))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_subscription_shows_its_secret_only_when_created(
    client: TestClient[Litestar], store: Store
) -> None:
    key = make_api_key(store.url, "webhooks:manage")

    created = _subscribe(client, key, "https://erp.example/hooks", ["order.submitted"])
    listed = client.get(HOOKS, headers=key_headers(key)).json()["webhooks"]

    assert created["secret"].startswith("whsec_")
    assert [w["id"] for w in listed] == [created["id"]]
    assert "secret" not in listed[0]


def test_an_unknown_event_is_400(client: TestClient[Litestar], store: Store) -> None:
    key = make_api_key(store.url, "webhooks:manage")

    response = client.post(
        HOOKS,
        json={"url": "https://x.example/h", "events": ["order.eaten"]},
        headers=key_headers(key),
    )

    assert response.status_code == 400


def test_a_url_that_is_not_http_is_400(client: TestClient[Litestar], store: Store) -> None:
    key = make_api_key(store.url, "webhooks:manage")

    response = client.post(
        HOOKS,
        json={"url": "ftp://x.example/h", "events": ["order.submitted"]},
        headers=key_headers(key),
    )

    assert response.status_code == 400
    assert response.json()["field"] == "url"


def test_a_deleted_subscription_leaves_the_list(client: TestClient[Litestar], store: Store) -> None:
    key = make_api_key(store.url, "webhooks:manage")
    created = _subscribe(client, key, "https://erp.example/hooks", ["order.submitted"])

    first = client.delete(f"{HOOKS}/{created['id']}", headers=key_headers(key))
    second = client.delete(f"{HOOKS}/{created['id']}", headers=key_headers(key))

    assert first.status_code == 204
    assert second.status_code == 404
    assert client.get(HOOKS, headers=key_headers(key)).json()["webhooks"] == []
