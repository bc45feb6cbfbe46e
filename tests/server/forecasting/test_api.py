from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from server.settings import Settings
from tests.seed import World, auth_headers, token_for
from tests.server.forecasting.world import forecast_world
from tests.stores import Store


def _as(settings: Settings, world: World, username: str) -> dict[str, str]:
    token, _ = token_for(settings, world.user(username))
    return auth_headers(token)


def test_a_manager_reads_their_regions_forecasts_with_components(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = forecast_world(store.url)
    r = client.get("/api/v1/forecasts?scope=region", headers=_as(settings, world, "mgr_north"))
    assert r.status_code == 200
    body = r.json()
    assert (body["scope_id"], body["scope_name"]) == (world.regions["NORTH"], "North")
    assert [i["period"] for i in body["items"]][:2] == ["2025-06", "2025-07"]
    first = body["items"][0]
    assert set(first["categories"]) == {"closed", "commit", "best_case", "pipeline"}
    assert first["lower"] <= first["blend"] <= first["upper"]
    assert {"run_rate", "pipeline", "method", "components"} <= set(first)


def test_a_manager_can_read_the_reps_and_territories_of_their_region(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = forecast_world(store.url)
    headers = _as(settings, world, "mgr_north")
    rep = client.get(
        f"/api/v1/forecasts?scope=rep&scope_id={world.user('rep_n2')}", headers=headers
    )
    territory = client.get(
        f"/api/v1/forecasts?scope=territory&scope_id={world.territories['N1']}", headers=headers
    )
    assert (rep.status_code, territory.status_code) == (200, 200)


def test_another_regions_scopes_are_not_found_for_a_manager(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = forecast_world(store.url)
    headers = _as(settings, world, "mgr_north")
    for query in (
        f"scope=region&scope_id={world.regions['SOUTH']}",
        f"scope=rep&scope_id={world.user('rep_s1')}",
        f"scope=territory&scope_id={world.territories['S2']}",
        "scope=rep&scope_id=no-such-rep",
    ):
        assert client.get(f"/api/v1/forecasts?{query}", headers=headers).status_code == 404


def test_only_an_admin_sees_the_company(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = forecast_world(store.url)
    assert (
        client.get(
            "/api/v1/forecasts?scope=company", headers=_as(settings, world, "mgr_north")
        ).status_code
        == 403
    )
    admin = client.get("/api/v1/forecasts?scope=company", headers=_as(settings, world, "admin"))
    assert admin.status_code == 200
    assert len(admin.json()["items"]) == 6


def test_a_rep_sees_only_their_own_forecast(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = forecast_world(store.url)
    headers = _as(settings, world, "rep_n1")
    own = client.get("/api/v1/forecasts?scope=rep", headers=headers)
    assert own.status_code == 200
    assert own.json()["scope_id"] == world.user("rep_n1")
    assert (
        client.get(
            f"/api/v1/forecasts?scope=rep&scope_id={world.user('rep_n2')}", headers=headers
        ).status_code
        == 404
    )
    assert client.get("/api/v1/forecasts?scope=region", headers=headers).status_code == 403


def test_one_period_can_be_asked_for(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = forecast_world(store.url)
    r = client.get(
        "/api/v1/forecasts?scope=region&period=2025-08", headers=_as(settings, world, "mgr_north")
    )
    assert [i["period"] for i in r.json()["items"]] == ["2025-08"]
    bad = client.get(
        "/api/v1/forecasts?scope=region&period=August", headers=_as(settings, world, "mgr_north")
    )
    assert (bad.status_code, bad.json()["field"]) == (400, "period")


def _region_forecast_id(
    client: TestClient[Litestar], headers: dict[str, str], period: str = "2025-07"
) -> str:
    r = client.get(f"/api/v1/forecasts?scope=region&period={period}", headers=headers)
    return str(r.json()["items"][0]["id"])


def test_an_adjustment_keeps_the_system_value_and_every_earlier_adjustment(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = forecast_world(store.url)
    headers = _as(settings, world, "mgr_north")
    forecast_id = _region_forecast_id(client, headers)
    first = client.post(
        f"/api/v1/forecasts/{forecast_id}/adjustments",
        json={"value": 50000, "reason": "tender"},
        headers=headers,
    )
    second = client.post(
        f"/api/v1/forecasts/{forecast_id}/adjustments",
        json={"value": 42000, "reason": "tender slipped"},
        headers=headers,
    )
    assert (first.status_code, second.status_code) == (201, 201)
    item = client.get("/api/v1/forecasts?scope=region&period=2025-07", headers=headers).json()[
        "items"
    ][0]
    assert item["adjusted_value"] == 42000
    assert [a["reason"] for a in item["adjustments"]] == ["tender slipped", "tender"]
    assert {a["system_value"] for a in item["adjustments"]} == {item["blend"]}
    assert all(a["user_id"] == world.user("mgr_north") for a in item["adjustments"])


def test_an_adjustment_needs_a_reason(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = forecast_world(store.url)
    headers = _as(settings, world, "mgr_north")
    forecast_id = _region_forecast_id(client, headers)
    blank = client.post(
        f"/api/v1/forecasts/{forecast_id}/adjustments",
        json={"value": 1, "reason": "   "},
        headers=headers,
    )
    missing = client.post(
        f"/api/v1/forecasts/{forecast_id}/adjustments", json={"value": 1}, headers=headers
    )
    assert (blank.status_code, blank.json()["field"]) == (400, "reason")
    assert missing.status_code == 400


def test_only_managers_of_the_region_and_admins_adjust(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = forecast_world(store.url)
    forecast_id = _region_forecast_id(client, _as(settings, world, "mgr_north"))
    body = {"value": 1000, "reason": "because"}
    url = f"/api/v1/forecasts/{forecast_id}/adjustments"
    assert client.post(url, json=body, headers=_as(settings, world, "rep_n1")).status_code == 403
    assert client.post(url, json=body, headers=_as(settings, world, "mgr_south")).status_code == 404
    assert client.post(url, json=body, headers=_as(settings, world, "admin")).status_code == 201


def test_recompute_on_demand_is_incremental(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = forecast_world(store.url)
    headers = _as(settings, world, "admin")
    first = client.post(
        "/api/v1/forecasts/recompute", json={"granularities": ["month"]}, headers=headers
    )
    second = client.post(
        "/api/v1/forecasts/recompute", json={"granularities": ["month"]}, headers=headers
    )
    assert first.status_code == second.status_code == 201
    # The seeded forecasts were made "in June 2025"; today's first run refits for today's month.
    assert first.json()["series_refit"] == 11
    assert second.json()["series_refit"] == 0
    assert (
        client.post(
            "/api/v1/forecasts/recompute", headers=_as(settings, world, "rep_n1")
        ).status_code
        == 403
    )


def test_accuracy_is_scoped_to_the_callers_region(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    from tests.server.forecasting.world import recompute_at

    world = forecast_world(store.url)
    from datetime import UTC, datetime

    recompute_at(store.url, now=datetime(2025, 8, 2, tzinfo=UTC))
    north = client.get(
        "/api/v1/forecasts/accuracy", headers=_as(settings, world, "mgr_north")
    ).json()
    admin = client.get("/api/v1/forecasts/accuracy", headers=_as(settings, world, "admin")).json()
    assert set(north["by_rep"]) == {world.user("rep_n1"), world.user("rep_n2")}
    assert set(north["by_region"]) == {world.regions["NORTH"]}
    assert len(admin["by_rep"]) == 4
    assert north["methods"]["system"]["n"] > 0
    assert set(north["methods"]) == {"system", "adjusted", "run_rate", "pipeline", "seasonal_naive"}
    other = client.get(
        f"/api/v1/forecasts/accuracy?region_id={world.regions['SOUTH']}",
        headers=_as(settings, world, "mgr_north"),
    )
    assert other.status_code == 404
