"""Manager pages over the real app (Litestar's test client): sign-in, scope, forms."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Device
from server.sync.models import ConflictRecord, DeviceSyncState, QuarantinedMutation
from tests.seed import PASSWORD, World, run_db
from tests.server.forecasting.world import forecast_world
from tests.stores import Store


def _sign_in(client: TestClient[Litestar], username: str) -> None:
    r = client.post(
        "/manager/login", data={"username": username, "password": PASSWORD}, follow_redirects=False
    )
    assert r.status_code == 303, r.text


def test_pages_send_a_visitor_without_a_session_to_sign_in(
    client: TestClient[Litestar], store: Store
) -> None:
    r = client.get("/manager/sync", follow_redirects=False)
    assert r.status_code in (302, 303, 307)
    assert r.headers["location"].startswith("/manager/login")


def test_signing_in_sets_an_httponly_same_site_strict_session_cookie(
    client: TestClient[Litestar], store: Store
) -> None:
    forecast_world(store.url)
    r = client.post(
        "/manager/login",
        data={"username": "mgr_north", "password": PASSWORD},
        follow_redirects=False,
    )
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("fieldline_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert r.headers["location"] == "/manager"


def test_a_wrong_password_shows_the_form_again(client: TestClient[Litestar], store: Store) -> None:
    forecast_world(store.url)
    r = client.post("/manager/login", data={"username": "mgr_north", "password": "nope"})
    assert r.status_code == 401
    assert "Wrong username or password" in r.text
    assert "fieldline_session" not in r.headers.get("set-cookie", "")


def _devices_of(url: str, user_id: str) -> list[str]:
    async def read(session: AsyncSession) -> list[str]:
        rows = await session.execute(select(Device.name).where(Device.user_id == user_id))
        return list(rows.scalars())

    return run_db(url, read)


def test_a_rep_is_refused_at_sign_in_before_any_session_or_device_exists(
    client: TestClient[Litestar], store: Store
) -> None:
    world = forecast_world(store.url)
    r = client.post(
        "/manager/login",
        data={"username": "rep_n1", "password": PASSWORD},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert "text/html" in r.headers["content-type"]
    assert "Not for your role" in r.text
    assert "fieldline_session" not in r.headers.get("set-cookie", "")
    assert "fieldline_refresh" not in r.headers.get("set-cookie", "")
    assert _devices_of(store.url, world.user("rep_n1")) == []


def test_a_managers_sign_ins_reuse_one_web_device(
    client: TestClient[Litestar], store: Store
) -> None:
    world = forecast_world(store.url)
    for _ in range(3):
        _sign_in(client, "mgr_north")
        client.post("/manager/logout", follow_redirects=False)
    assert _devices_of(store.url, world.user("mgr_north")) == ["manager-web"]


def test_a_second_browser_signed_in_at_once_gets_its_own_device(
    client: TestClient[Litestar], store: Store
) -> None:
    """One device keeps one refresh token: two browsers sharing it would end each other's
    sessions at their next refresh (taken for a stolen token)."""
    world = forecast_world(store.url)
    _sign_in(client, "mgr_north")
    desk = dict(client.cookies)
    client.cookies.clear()
    _sign_in(client, "mgr_north")  # the phone: a browser with no cookie of the desk's
    phone = dict(client.cookies)
    for jar in (desk, phone):
        client.cookies.clear()
        client.cookies.update(jar)
        assert client.get("/manager", follow_redirects=False).status_code == 200
    assert _devices_of(store.url, world.user("mgr_north")) == ["manager-web", "manager-web"]


def test_the_overview_shows_the_managers_region_with_chart_categories_and_reps(
    client: TestClient[Litestar], store: Store
) -> None:
    forecast_world(store.url)
    _sign_in(client, "mgr_north")
    r = client.get("/manager")
    assert r.status_code == 200
    assert '<h1 data-testid="region-name">North</h1>' in r.text
    assert 'class="forecast"' in r.text and 'class="band"' in r.text
    assert "Rep Hamburg" in r.text and "Rep Bremen" in r.text
    assert "Rep Munich" not in r.text
    assert 'data-testid="categories"' in r.text


def test_a_manager_gets_not_found_for_a_rep_of_another_region(
    client: TestClient[Litestar], store: Store
) -> None:
    world = forecast_world(store.url)
    _sign_in(client, "mgr_north")
    assert client.get(f"/manager/reps/{world.user('rep_n2')}").status_code == 200
    other = client.get(f"/manager/reps/{world.user('rep_s1')}")
    assert other.status_code == 404
    assert "outside your region" in other.text
    # A manager cannot pick another region either: the picker is for admins.
    assert "South" not in client.get(f"/manager?region={world.regions['SOUTH']}").text


def test_an_admin_picks_any_region(client: TestClient[Litestar], store: Store) -> None:
    world = forecast_world(store.url)
    _sign_in(client, "admin")
    r = client.get(f"/manager?region={world.regions['SOUTH']}")
    assert '<h1 data-testid="region-name">South</h1>' in r.text
    assert 'name="region"' in r.text
    assert client.get(f"/manager/reps/{world.user('rep_s1')}").status_code == 200


def test_the_adjustment_form_needs_a_reason_and_keeps_it_in_the_history(
    client: TestClient[Litestar], store: Store
) -> None:
    forecast_world(store.url)
    _sign_in(client, "mgr_north")
    page = client.get("/manager").text
    forecast_id = re.findall(r'<option value="([0-9a-f-]{36})"', page)[0]
    form = {"forecast_id": forecast_id, "value": "31000", "back": "/manager"}
    refused = client.post(
        "/manager/forecasts/adjust", data={**form, "reason": " "}, follow_redirects=False
    )
    assert "error=" in refused.headers["location"]
    saved = client.post(
        "/manager/forecasts/adjust",
        data={**form, "reason": "Key account reorder"},
        follow_redirects=False,
    )
    assert saved.headers["location"] == "/manager?saved=1"
    page = client.get("/manager").text
    assert "Key account reorder" in page
    assert "€31,000" in page


def test_signing_out_ends_the_session(client: TestClient[Litestar], store: Store) -> None:
    forecast_world(store.url)
    _sign_in(client, "mgr_north")
    client.post("/manager/logout", follow_redirects=False)
    r = client.get("/manager", follow_redirects=False)
    assert r.headers["location"].startswith("/manager/login")


def _seed_sync_trouble(url: str, world: World) -> None:
    async def work(session: AsyncSession) -> None:
        stamp = datetime(2025, 6, 14, 8, tzinfo=UTC)
        for username, pending in (("rep_n1", 12), ("rep_s1", 3), ("rep_n2", 0)):
            session.add(
                DeviceSyncState(
                    device_id=f"dev-{username}",
                    user_id=world.user(username),
                    pending=pending,
                    oldest_pending_at=stamp if pending else None,
                    rejected=1 if username == "rep_n1" else 0,
                )
            )
        for username, region in (("rep_n1", "NORTH"), ("rep_s1", "SOUTH")):
            session.add(
                QuarantinedMutation(
                    device_id=f"dev-{username}",
                    user_id=world.user(username),
                    region_id=world.regions[region],
                    seq=4,
                    tx="tx-1",
                    entity="order",
                    record_id=f"order-{username}",
                    mutation={},
                    reason="out_of_scope",
                    detail=f"account not in {username}'s territory",
                )
            )
        session.add(
            ConflictRecord(
                entity="account",
                record_id="acc-1",
                field="phone",
                kept="+49 40 1",
                discarded="+49 40 2",
                rule="lww",
                loser_user_id=world.user("rep_n1"),
                region_id=world.regions["NORTH"],
            )
        )

    run_db(url, work)


def test_sync_health_lists_the_regions_devices_quarantine_and_conflicts(
    client: TestClient[Litestar], store: Store
) -> None:
    world = forecast_world(store.url)
    _seed_sync_trouble(store.url, world)
    _sign_in(client, "mgr_north")
    page = client.get("/manager/sync").text
    devices = page.split('data-testid="devices"')[1].split("</table>")[0]
    assert "Rep Hamburg" in devices
    assert "Rep Munich" not in devices  # another region
    assert "Rep Bremen" in devices  # nothing unsent, nothing refused: listed all the same
    assert "account not in rep_n1&#39;s territory" in page
    assert "rep_s1" not in page
    assert "+49 40 2" in page


def _sync_state(url: str, world: World, username: str, last: datetime | None) -> None:
    async def work(session: AsyncSession) -> None:
        session.add(
            DeviceSyncState(
                device_id=f"dev-{username}",
                user_id=world.user(username),
                last_push_at=last,
                last_pull_at=last,
            )
        )

    run_db(url, work)


def test_the_devices_page_flags_a_rep_silently_offline_past_the_threshold(
    client: TestClient[Litestar], store: Store
) -> None:
    """rep_n2's tablet last synced three days ago and never reported unsent changes: it is
    flagged all the same. rep_n1 synced an hour ago."""
    world = forecast_world(store.url)
    now = datetime.now(UTC)
    _sync_state(store.url, world, "rep_n1", now - timedelta(hours=1))
    _sync_state(store.url, world, "rep_n2", now - timedelta(days=3))
    _sign_in(client, "mgr_north")
    page = client.get("/manager/sync").text
    offline = page.split('data-testid="offline-reps"')[1].split("</table>")[0]
    assert "Rep Bremen" in offline and "Rep Hamburg" not in offline
    assert "3 days" in offline
    devices = page.split('data-testid="devices"')[1].split("</table>")[0]
    assert devices.count("data-flagged") == 1
    # A longer threshold forgives the three days.
    wider = client.get("/manager/sync?hours=96").text
    assert "Rep Bremen" not in wider.split('data-testid="offline-reps"')[1].split("</table>")[0]


def test_a_rep_who_never_synced_is_flagged(client: TestClient[Litestar], store: Store) -> None:
    forecast_world(store.url)
    _sign_in(client, "mgr_north")
    offline = client.get("/manager/sync").text.split('data-testid="offline-reps"')[1]
    assert "Rep Hamburg" in offline and "never synced" in offline


def test_a_bad_threshold_is_a_message_on_the_page(
    client: TestClient[Litestar], store: Store
) -> None:
    forecast_world(store.url)
    _sign_in(client, "mgr_north")
    for bad in ("-3", "lots", "99999"):
        r = client.get(f"/manager/sync?hours={bad}")
        assert r.status_code == 200
        assert "is not a number of hours" in r.text
