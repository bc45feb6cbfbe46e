from __future__ import annotations

from typing import Any

from tests.server.resources.conftest import Env


def _open(env: Env, **extra: Any) -> dict[str, Any]:
    response = env.post(
        "rep",
        "/tickets",
        {"account_id": env.records.inside.account, "subject": "Pump noise", **extra},
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_a_rep_opens_a_ticket_on_an_account_of_their_territory(env: Env) -> None:
    ticket = _open(env, priority="urgent")
    assert ticket["status"] == "open"
    assert ticket["opened_by_id"] == env.records.inside.rep
    assert ticket["priority"] == "urgent"


def test_resolving_stamps_the_time_and_reopening_clears_it(env: Env) -> None:
    ticket = _open(env)
    path = f"/tickets/{ticket['id']}"
    assert env.patch("rep", path, {"status": "in_progress"}).status_code == 200
    resolved = env.patch("manager", path, {"status": "resolved"}).json()
    assert resolved["resolved_at"] is not None
    reopened = env.patch("rep", path, {"status": "open"}).json()
    assert reopened["resolved_at"] is None


def test_a_closed_ticket_stays_closed(env: Env) -> None:
    ticket = _open(env)
    path = f"/tickets/{ticket['id']}"
    env.patch("rep", path, {"status": "resolved"})
    env.patch("rep", path, {"status": "closed"})
    response = env.patch("rep", path, {"status": "open"})
    assert response.status_code == 409
    assert response.json()["current"]["status"] == "closed"


def test_the_back_office_works_tickets_with_the_write_scope_only(env: Env) -> None:
    ticket = _open(env)
    path = f"/tickets/{ticket['id']}"
    assert env.patch("key:tickets:read", path, {"status": "in_progress"}).status_code == 403
    worked = env.patch("key:tickets:write", path, {"status": "in_progress"})
    assert worked.status_code == 200
    assert worked.json()["status"] == "in_progress"


def test_tickets_filter_by_status(env: Env) -> None:
    ticket = _open(env)
    env.patch("rep", f"/tickets/{ticket['id']}", {"status": "resolved"})
    resolved = env.get("rep", "/tickets", status="resolved", limit=200).json()["items"]
    assert ticket["id"] in {t["id"] for t in resolved}
    assert all(t["status"] == "resolved" for t in resolved)


def test_a_rep_sees_tickets_others_opened_on_their_accounts(env: Env) -> None:
    ticket = env.post(
        "admin", "/tickets", {"account_id": env.records.inside.account, "subject": "From HQ"}
    ).json()
    assert env.get("rep", f"/tickets/{ticket['id']}").status_code == 200


def test_comments_are_written_by_people_and_read_by_the_back_office(env: Env) -> None:
    ticket = _open(env)
    path = f"/tickets/{ticket['id']}/comments"
    assert env.post("rep", path, {"body": "Part ordered"}).status_code == 201
    assert env.post("key:tickets:write", path, {"body": "from the ERP"}).status_code == 403
    listed = env.get("key:tickets:read", path).json()["items"]
    assert [c["body"] for c in listed] == ["Part ordered"]
