"""Fixtures shared by the whole suite.

``store`` is a test parameter: every test that asks for it runs on SQLite and, when
FIELDLINE_TEST_DATABASE_URL is set, on PostgreSQL. Without that variable the PostgreSQL runs are
skipped with the reason; with it, a connection failure fails the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from server.app import create_app
from server.settings import Settings
from server.sync.clock import server_clock
from tests.stores import PG_ENV, Store, StoreFactory

_STORE_PARAMS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(autouse=True)
def _fresh_server_clock() -> None:
    """Each test is a server process of its own: stamps an earlier test made the in-process
    server clock observe (some from the bounded future) must not decide this test's conflicts."""
    server_clock.forget()


@pytest.fixture(scope="session")
def store_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreFactory]:
    factory = StoreFactory(tmp_path_factory.mktemp("stores"), os.environ.get(PG_ENV) or None)
    yield factory
    factory.close()


@pytest.fixture(params=_STORE_PARAMS)
def store(request: pytest.FixtureRequest, store_factory: StoreFactory) -> Iterator[Store]:
    if request.param == "postgres":
        if store_factory.pg_url is None:
            pytest.skip(f"PostgreSQL run skipped: set {PG_ENV}=postgresql+asyncpg://… to run it")
        created = store_factory.postgres()
    else:
        created = store_factory.sqlite()
    yield created
    store_factory.drop(created)


@pytest.fixture
def sqlite_store(store_factory: StoreFactory) -> Iterator[Store]:
    """For tests whose subject does not depend on the store (pure HTTP behaviour)."""
    created = store_factory.sqlite()
    yield created
    store_factory.drop(created)


@pytest.fixture
def settings(store: Store) -> Settings:
    return make_settings(store)


def make_settings(store: Store, **overrides: object) -> Settings:
    return Settings(
        env="test",
        database_url=store.url,
        scheduler_enabled=False,
        webhooks_enabled=False,
        auto_migrate=False,
        log_requests=False,
        log_level="WARNING",
        db_pool_warm=0,
        secret_key="test-secret-key-that-is-long-enough-for-hs256",
    ).replace(**overrides)


@pytest.fixture(scope="session")
def _built_app(tmp_path_factory: pytest.TempPathFactory) -> Litestar:
    # Building the app (routes, signature models) costs more than many tests; the lifespan,
    # which opens the engine, runs per test with that test's settings.
    placeholder = Store("sqlite", f"sqlite:///{tmp_path_factory.mktemp('app')}/x.db")
    return create_app(make_settings(placeholder))


@pytest.fixture
def app(settings: Settings, _built_app: Litestar) -> Litestar:
    _built_app.state.settings = settings
    return _built_app


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = Path(__file__).parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
