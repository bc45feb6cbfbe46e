from __future__ import annotations

from sync.ids import new_id
from tests.server.resources.conftest import Env


def test_a_rep_creates_an_account_in_their_own_territory_by_default(env: Env) -> None:
    response = env.post("rep", "/accounts", {"name": "Hafen Bakery", "city": "Hamburg"})
    assert response.status_code == 201, response.text
    account = response.json()
    assert account["territory_id"] == env.records.inside.territory
    assert account["owner_id"] == env.records.inside.rep
    assert env.get("rep", f"/accounts/{account['id']}").json()["name"] == "Hafen Bakery"


def test_a_rep_cannot_create_an_account_in_another_territory(env: Env) -> None:
    response = env.post(
        "rep", "/accounts", {"name": "Elsewhere", "territory_id": env.records.outside.territory}
    )
    assert response.status_code == 404
    assert response.json()["field"] == "territory_id"


def test_a_client_chosen_id_is_kept_and_a_repeat_is_409(env: Env) -> None:
    account_id = new_id()
    first = env.post("rep", "/accounts", {"id": account_id, "name": "Offline Made"})
    assert first.status_code == 201
    assert first.json()["id"] == account_id
    again = env.post("rep", "/accounts", {"id": account_id, "name": "Offline Made"})
    assert again.status_code == 409
    assert again.json()["field"] == "id"


def test_accounts_filter_by_segment_and_text(env: Env) -> None:
    segment = f"seg-{new_id()[-6:]}"
    made = [
        env.post("rep", "/accounts", {"name": name, "segment": segment}).json()["id"]
        for name in ("Nordic Tools", "Elbe Supplies", "Nordic Paper")
    ]
    by_segment = env.get("rep", "/accounts", segment=segment).json()["items"]
    assert {a["id"] for a in by_segment} == set(made)
    nordic = env.get("rep", "/accounts", segment=segment, q="nordic").json()["items"]
    assert {a["name"] for a in nordic} == {"Nordic Tools", "Nordic Paper"}


def test_accounts_filter_by_territory(env: Env) -> None:
    n2 = env.records.world.territories["N2"]
    items = env.get("manager", "/accounts", territory_id=n2, limit=200).json()["items"]
    assert {a["id"] for a in items} == set(env.records.world.accounts["N2"])


def test_a_rep_edits_an_account_of_their_territory(env: Env) -> None:
    account = env.records.world.accounts["N1"][1]
    response = env.patch("rep", f"/accounts/{account}", {"phone": "+49 40 1234", "email": None})
    assert response.status_code == 200
    assert response.json()["phone"] == "+49 40 1234"
    assert env.get("rep", f"/accounts/{account}").json()["phone"] == "+49 40 1234"


def test_a_manager_moves_an_account_between_territories_of_their_region_only(env: Env) -> None:
    account = env.post("rep", "/accounts", {"name": "Mover"}).json()["id"]
    n2 = env.records.world.territories["N2"]
    moved = env.patch("manager", f"/accounts/{account}", {"territory_id": n2})
    assert moved.status_code == 200
    assert moved.json()["territory_id"] == n2
    away = env.patch(
        "manager", f"/accounts/{account}", {"territory_id": env.records.outside.territory}
    )
    assert away.status_code == 404
    assert away.json()["field"] == "territory_id"
    # The rep of N1 no longer sees it.
    assert env.get("rep", f"/accounts/{account}").status_code == 404


def test_contacts_are_created_on_accounts_in_scope_and_listed_by_account(env: Env) -> None:
    account = env.post("rep", "/accounts", {"name": "Contacts Ltd"}).json()["id"]
    made = env.post(
        "rep",
        "/contacts",
        {"account_id": account, "first_name": "Ines", "last_name": "Berg", "title": "Owner"},
    )
    assert made.status_code == 201
    listed = env.get("rep", "/contacts", account_id=account).json()["items"]
    assert [c["id"] for c in listed] == [made.json()["id"]]
    changed = env.patch("rep", f"/contacts/{made.json()['id']}", {"phone": "+49 40 99"})
    assert changed.json()["phone"] == "+49 40 99"


def test_a_contact_never_moves_to_another_account_as_on_a_sync_push(env: Env) -> None:
    contact = env.records.inside.contact
    response = env.patch("rep", f"/contacts/{contact}", {"account_id": env.records.outside.account})
    assert response.status_code == 400
    assert response.json()["field"] == "account_id"
    assert "write-once" in response.json()["detail"]
