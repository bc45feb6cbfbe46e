"""One seeded world and app per test module and store: resource tests create what they change
(or change only what no other test of the module reads), so they can share it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from server.app import create_app
from server.settings import Settings
from tests.conftest import make_settings as settings_for
from tests.server.resources.world import Callers, Records, build, cheap_argon2
from tests.stores import PG_ENV, Store, StoreFactory


@dataclass
class Env:
    client: TestClient[Litestar]
    records: Records
    callers: Callers
    settings: Settings
    store: Store

    def get(self, caller: str, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1{path}", headers=self.callers[caller], params=params)

    def post(self, caller: str, path: str, body: Any = None) -> Any:
        return self.client.post(f"/api/v1{path}", headers=self.callers[caller], json=body)

    def patch(self, caller: str, path: str, body: Any) -> Any:
        return self.client.patch(f"/api/v1{path}", headers=self.callers[caller], json=body)

    def put(self, caller: str, path: str, body: Any) -> Any:
        return self.client.put(f"/api/v1{path}", headers=self.callers[caller], json=body)


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ],
)
def env(request: pytest.FixtureRequest, store_factory: StoreFactory) -> Iterator[Env]:
    if request.param == "postgres":
        if store_factory.pg_url is None:
            pytest.skip(f"PostgreSQL run skipped: set {PG_ENV}=postgresql+asyncpg://… to run it")
        store = store_factory.postgres()
    else:
        store = store_factory.sqlite()
    settings = settings_for(store)
    with cheap_argon2():
        records, callers = build(settings)
        with TestClient(create_app(settings)) as client:
            yield Env(client, records, callers, settings, store)
    store_factory.drop(store)
