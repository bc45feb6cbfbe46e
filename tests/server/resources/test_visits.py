from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.server.resources.conftest import Env

HAMBURG = (53.5511, 9.9937)  # the first N1 account sits exactly here


def _plan(env: Env, **extra: Any) -> dict[str, Any]:
    response = env.post(
        "rep",
        "/visits",
        {"account_id": env.records.inside.account, "planned_for": "2024-06-03", **extra},
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_a_rep_plans_a_visit_for_themself(env: Env) -> None:
    visit = _plan(env, purpose="quarterly review")
    assert visit["rep_id"] == env.records.inside.rep
    assert visit["status"] == "planned"
    assert visit["verified"] is False


def test_a_check_in_at_the_account_is_verified_by_the_server(env: Env) -> None:
    visit = _plan(env)
    lat, lon = HAMBURG
    response = env.patch(
        "rep",
        f"/visits/{visit['id']}",
        {
            "status": "in_progress",
            "check_in_lat": lat,
            "check_in_lon": lon,
            "check_in_accuracy_m": 10,
        },
    )
    assert response.status_code == 200, response.text
    checked_in = response.json()
    assert checked_in["check_in_at"] is not None
    assert checked_in["distance_m"] < 1
    assert checked_in["verified"] is True


def test_a_check_in_far_from_the_account_is_flagged(env: Env) -> None:
    visit = _plan(env)
    response = env.patch(
        "rep",
        f"/visits/{visit['id']}",
        {
            "status": "in_progress",
            "check_in_lat": 48.1351,
            "check_in_lon": 11.582,
            "check_in_accuracy_m": 10,
        },
    )
    body = response.json()
    assert body["verified"] is False
    assert "outside_radius" in body["flags"]


def test_verification_fields_cannot_be_sent(env: Env) -> None:
    visit = _plan(env)
    response = env.patch("rep", f"/visits/{visit['id']}", {"verified": True})
    assert response.status_code == 400
    assert response.json()["field"] == "verified"


def test_checking_out_records_the_duration(env: Env) -> None:
    start = datetime.now(UTC) - timedelta(minutes=30)
    visit = _plan(env, status="in_progress", check_in_at=start.isoformat())
    done = env.patch("rep", f"/visits/{visit['id']}", {"status": "completed", "outcome": "order"})
    assert done.status_code == 200
    assert 29 * 60 <= done.json()["duration_s"] <= 31 * 60


def test_a_planned_visit_cannot_jump_to_completed(env: Env) -> None:
    visit = _plan(env)
    response = env.patch("rep", f"/visits/{visit['id']}", {"status": "completed"})
    assert response.status_code == 409
    assert response.json()["current"]["status"] == "planned"
    assert "in_progress" in response.json()["allowed"]


def test_a_manager_plans_visits_for_reps_of_their_region_only(env: Env) -> None:
    rep_n2 = env.records.world.user("rep_n2")
    n2_account = env.records.world.accounts["N2"][0]
    ok = env.post("manager", "/visits", {"account_id": n2_account, "rep_id": rep_n2})
    assert ok.status_code == 201
    assert ok.json()["rep_id"] == rep_n2
    away = env.post(
        "manager", "/visits", {"account_id": n2_account, "rep_id": env.records.outside.rep}
    )
    assert away.status_code == 404
    assert away.json()["field"] == "rep_id"


def test_visits_filter_by_day_and_rep(env: Env) -> None:
    visit = _plan(env, planned_for="2031-02-03")
    items = env.get("manager", "/visits", date="2031-02-03", rep_id=env.records.inside.rep).json()
    assert [v["id"] for v in items["items"]] == [visit["id"]]


def test_notes_are_appended_by_their_author(env: Env) -> None:
    visit = _plan(env)
    note = env.post("rep", f"/visits/{visit['id']}/notes", {"body": "Wants a demo"})
    assert note.status_code == 201
    assert note.json()["author_id"] == env.records.inside.rep
    listed = env.get("manager", f"/visits/{visit['id']}/notes").json()["items"]
    assert [n["body"] for n in listed] == ["Wants a demo"]
