from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from server.auth import tokens
from server.auth.tokens import issue_access_token
from server.settings import Settings
from tests.seed import auth_headers, seed_world, token_for
from tests.server.auth.helpers import audit_actions, login
from tests.stores import Store


def _refresh(client: TestClient[Litestar], token: str) -> object:
    return client.post("/api/v1/auth/refresh", json={"refresh_token": token})


def test_refresh_rotates_the_refresh_token(client: TestClient[Litestar], store: Store) -> None:
    seed_world(store.url)
    first = login(client).json()
    second = _refresh(client, first["refresh_token"])
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["refresh_token"] != first["refresh_token"]
    assert body["device_id"] == first["device_id"]
    assert (
        client.get("/api/v1/devices", headers=auth_headers(body["access_token"])).status_code == 200
    )
    third = _refresh(client, body["refresh_token"])
    assert third.status_code == 200


def test_a_rotated_out_refresh_token_ends_the_devices_sessions(
    client: TestClient[Litestar], store: Store
) -> None:
    seed_world(store.url)
    first = login(client).json()
    second = _refresh(client, first["refresh_token"]).json()
    replay = _refresh(client, first["refresh_token"])
    assert replay.status_code == 401
    # Whoever held the newer tokens is logged out too: the token may have been stolen.
    assert (
        client.get("/api/v1/devices", headers=auth_headers(second["access_token"])).status_code
        == 401
    )
    assert _refresh(client, second["refresh_token"]).status_code == 401
    assert "auth.refresh_reuse" in audit_actions(store.url)


def test_a_garbage_refresh_token_is_401(client: TestClient[Litestar], store: Store) -> None:
    seed_world(store.url)
    assert _refresh(client, "flr_not-a-device.abc").status_code == 401
    assert _refresh(client, "whatever").status_code == 401


def test_an_expired_refresh_token_is_refused(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    seed_world(store.url)
    app = client.app
    app.state.settings = settings.replace(refresh_token_ttl_s=-1)
    issued = login(client).json()
    app.state.settings = settings
    response = _refresh(client, issued["refresh_token"])
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_logout_ends_the_session_at_once(client: TestClient[Litestar], store: Store) -> None:
    seed_world(store.url)
    issued = login(client).json()
    headers = auth_headers(issued["access_token"])
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/devices", headers=headers).status_code == 401
    assert _refresh(client, issued["refresh_token"]).status_code == 401


def test_logout_needs_a_user_not_an_api_key(client: TestClient[Litestar], store: Store) -> None:
    from tests.server.resources.world import api_key

    seed_world(store.url)
    key = api_key(store.url, ["orders:read"])
    assert client.post("/api/v1/auth/logout", headers={"X-API-Key": key}).status_code == 403


def test_revoking_a_device_stops_its_tokens_at_once(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = seed_world(store.url)
    tablet = login(client).json()
    tablet_headers = auth_headers(tablet["access_token"])
    assert client.get("/api/v1/accounts", headers=tablet_headers).status_code == 200
    admin, _ = token_for(settings, world.user("admin"))
    revoked = client.post(
        f"/api/v1/devices/{tablet['device_id']}/revoke", headers=auth_headers(admin)
    )
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    after = client.get("/api/v1/accounts", headers=tablet_headers)
    assert after.status_code == 401
    assert "revoked" in after.json()["detail"]
    assert _refresh(client, tablet["refresh_token"]).status_code == 401
    assert "device.revoked" in audit_actions(store.url)


def test_a_manager_revokes_devices_of_their_region_only(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = seed_world(store.url)
    _, north_device = token_for(settings, world.user("rep_n1"))
    _, south_device = token_for(settings, world.user("rep_s1"))
    manager, _ = token_for(settings, world.user("mgr_north"))
    headers = auth_headers(manager)
    assert client.post(f"/api/v1/devices/{north_device}/revoke", headers=headers).status_code == 200
    assert client.post(f"/api/v1/devices/{south_device}/revoke", headers=headers).status_code == 404


def test_an_expired_access_token_is_401(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = seed_world(store.url)
    _, device_id = token_for(settings, world.user("rep_n1"))
    token, _ = issue_access_token(
        secret=settings.secret_key,
        user_id=world.user("rep_n1"),
        device_id=device_id,
        generation=1,
        now=datetime.now(UTC) - timedelta(hours=1),
        ttl_s=60,
    )
    response = client.get("/api/v1/accounts", headers=auth_headers(token))
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_a_token_accepted_before_is_refused_once_it_expires(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = seed_world(store.url)
    _, device_id = token_for(settings, world.user("rep_n1"))
    token, expires = issue_access_token(
        secret=settings.secret_key,
        user_id=world.user("rep_n1"),
        device_id=device_id,
        generation=1,
        now=datetime.now(UTC),
        ttl_s=2,
    )
    assert client.get("/api/v1/accounts", headers=auth_headers(token)).status_code == 200
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.05)
    response = client.get("/api/v1/accounts", headers=auth_headers(token))
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_a_token_signed_with_another_secret_is_401(
    client: TestClient[Litestar], store: Store, settings: Settings
) -> None:
    world = seed_world(store.url)
    _, device_id = token_for(settings, world.user("rep_n1"))
    token, _ = issue_access_token(
        secret="some-other-secret-that-is-long-enough-for-hs256",
        user_id=world.user("rep_n1"),
        device_id=device_id,
        generation=1,
        now=datetime.now(UTC),
        ttl_s=60,
    )
    assert client.get("/api/v1/accounts", headers=auth_headers(token)).status_code == 401


def test_no_credentials_is_401_on_every_resource(
    client: TestClient[Litestar], store: Store
) -> None:
    for path in ("/api/v1/accounts", "/api/v1/orders", "/api/v1/devices", "/api/v1/users"):
        response = client.get(path)
        assert response.status_code == 401, path


def test_the_verified_token_memory_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "_VERIFIED_MAX", 2)
    monkeypatch.setattr(tokens, "_verified", {})
    secret = "a-secret-that-is-long-enough-for-hs256-signing"
    now = datetime.now(UTC)
    issued = [
        issue_access_token(
            secret=secret, user_id=f"u{n}", device_id=f"d{n}", generation=1, now=now, ttl_s=60
        )[0]
        for n in range(3)
    ]
    for n, token in enumerate(issued):
        assert tokens.decode_access_token(token, secret=secret).device_id == f"d{n}"
    assert len(tokens._verified) == 2
    # A forgotten token is simply verified again.
    assert tokens.decode_access_token(issued[0], secret=secret).user_id == "u0"
