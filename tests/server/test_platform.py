"""Settings, metrics, and refusing to serve an unmigrated database."""

from __future__ import annotations

import asyncio

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from server.app import create_app
from server.settings import DEFAULT_SECRET, Settings, SettingsError
from tests.conftest import make_settings
from tests.stores import Store, _pg_dsn, _pg_exec


def test_settings_come_from_fieldline_variables_with_host_and_port_honoured() -> None:
    settings = Settings.from_env(
        {"FIELDLINE_SYNC_RETENTION_DAYS": "60", "HOST": "0.0.0.0", "PORT": "9000"}
    )
    assert (settings.sync_retention_days, settings.host, settings.port) == (60, "0.0.0.0", 9000)


def test_a_badly_typed_setting_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match="sync_retention_days"):
        Settings.from_env({"FIELDLINE_SYNC_RETENTION_DAYS": "forever"})


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(SettingsError, match="FIELDLINE_SECRET_KEY"):
        Settings.from_env({"FIELDLINE_ENV": "production"})
    assert Settings.from_env({}).secret_key == DEFAULT_SECRET


def test_metrics_count_requests_by_route_template(client: TestClient[Litestar]) -> None:
    app = client.app
    app.state.settings = app.state.settings.replace(metrics_token="t" * 20)
    client.get("/health/live")
    text = client.get("/metrics", headers={"Authorization": "Bearer " + "t" * 20}).text
    assert 'fieldline_http_requests_total{method="GET",route="/health/live",status="200"}' in text


def test_the_server_refuses_an_unmigrated_postgresql_database_naming_the_command(
    store: Store,
) -> None:
    if store.is_sqlite:
        pytest.skip("SQLite in development migrates itself")
    from sqlalchemy.engine import make_url

    empty = make_url(store.url).set(database=f"{make_url(store.url).database}_empty")
    dsn = _pg_dsn(store.url)
    asyncio.run(
        _pg_exec(
            dsn,
            f'DROP DATABASE IF EXISTS "{empty.database}"',
            f'CREATE DATABASE "{empty.database}"',
        )
    )
    try:
        settings = make_settings(store, database_url=empty.render_as_string(hide_password=False))
        with pytest.raises(BaseException) as caught, TestClient(create_app(settings)):
            pass
        assert any("fieldline migrate" in str(e) for e in _flatten(caught.value))
    finally:
        asyncio.run(_pg_exec(dsn, f'DROP DATABASE IF EXISTS "{empty.database}" WITH (FORCE)'))


def _flatten(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _flatten(inner)]
    return [exc]
