from __future__ import annotations

from typing import Any

from tests.server.resources.conftest import Env


def _open(env: Env, **extra: Any) -> dict[str, Any]:
    body = {
        "account_id": env.records.inside.account,
        "name": "Workshop refit",
        "amount": "12000.00",
        "close_date": "2024-11-30",
        **extra,
    }
    response = env.post("rep", "/opportunities", body)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_rep_opens_an_opportunity_they_own(env: Env) -> None:
    opportunity = _open(env)
    assert opportunity["owner_id"] == env.records.inside.rep
    assert opportunity["stage"] == "prospecting"
    assert opportunity["amount"] == "12000.00"


def test_stages_move_one_step_at_a_time(env: Env) -> None:
    opportunity = _open(env)
    path = f"/opportunities/{opportunity['id']}"
    jump = env.patch("rep", path, {"stage": "negotiation"})
    assert jump.status_code == 409
    assert jump.json()["current"]["stage"] == "prospecting"
    assert env.patch("rep", path, {"stage": "qualification"}).status_code == 200


def test_closing_stamps_closed_at(env: Env) -> None:
    opportunity = _open(env)
    won = env.patch("rep", f"/opportunities/{opportunity['id']}", {"stage": "closed_won"})
    assert won.json()["closed_at"] is not None


def test_a_manager_hands_an_opportunity_to_another_rep_of_the_region_only(env: Env) -> None:
    opportunity = _open(env)
    path = f"/opportunities/{opportunity['id']}"
    rep_n2 = env.records.world.user("rep_n2")
    assert env.patch("manager", path, {"owner_id": rep_n2}).json()["owner_id"] == rep_n2
    away = env.patch("manager", path, {"owner_id": env.records.outside.rep})
    assert away.status_code == 404
    assert away.json()["field"] == "owner_id"


def test_opportunities_filter_by_stage(env: Env) -> None:
    opportunity = _open(env)
    env.patch("rep", f"/opportunities/{opportunity['id']}", {"stage": "closed_lost"})
    lost = env.get("rep", "/opportunities", stage="closed_lost").json()["items"]
    assert opportunity["id"] in {o["id"] for o in lost}
    assert all(o["stage"] == "closed_lost" for o in lost)
