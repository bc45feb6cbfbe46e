"""The leads API over the real app, on every store."""

from __future__ import annotations

import re
from datetime import timedelta

from litestar import Litestar
from litestar.testing import TestClient

from server.settings import Settings
from tests.server.leads.world import (
    HAMBURG,
    MUNICH,
    api_key,
    audit,
    decisions,
    headers_for,
    lead,
    leads_world,
    new_region,
    update_user,
)
from tests.stores import Store

Client = TestClient[Litestar]


def test_a_lead_posted_by_a_manager_is_assigned_to_the_covering_rep_in_the_same_request(
    client: Client, store: Store, settings: Settings
) -> None:
    world = leads_world(store.url)
    response = client.post(
        "/api/v1/leads",
        json={"company": "Hafen Logistik", **HAMBURG, "product_line": "industrial"},
        headers=headers_for(settings, world, "mgr_north"),
    )
    assert response.status_code == 201, response.text
    (outcome,) = response.json()["leads"]
    assert outcome["status"] == "assigned"
    assert outcome["assignee_id"] == world.user("rep_n1")
    stored = lead(store.url, outcome["lead_id"])
    assert (stored.status, stored.assignment_kind, stored.source) == ("assigned", "auto", "api")
    assert stored.region_id == world.regions["NORTH"]
    assert stored.assigned_at is not None and stored.first_touch_due_at is not None
    assert stored.first_touch_due_at - stored.assigned_at == timedelta(hours=24)
    (decision,) = decisions(store.url, stored.id)
    assert decision.kind == "auto" and decision.winner_id == world.user("rep_n1")
    assert decision.trace["winner_id"] == world.user("rep_n1")


def test_a_json_batch_reports_each_lead(client: Client, store: Store, settings: Settings) -> None:
    world = leads_world(store.url)
    response = client.post(
        "/api/v1/leads",
        json=[{"company": "One", **HAMBURG}, {"company": "Two", "city": "Bremen", "country": "DE"}],
        headers=headers_for(settings, world, "mgr_north"),
    )
    assert response.status_code == 201
    assert [o["assignee_id"] for o in response.json()["leads"]] == [
        world.user("rep_n1"),
        world.user("rep_n2"),
    ]


def test_a_bad_item_rejects_the_json_batch_naming_it(
    client: Client, store: Store, settings: Settings
) -> None:
    world = leads_world(store.url)
    response = client.post(
        "/api/v1/leads",
        json=[{"company": "One", **HAMBURG}, {"company": "Two", "lat": 123.0, "lon": 9.0}],
        headers=headers_for(settings, world, "mgr_north"),
    )
    assert response.status_code == 400
    assert response.json()["field"] == "[1].lat"
    listed = client.get("/api/v1/leads", headers=headers_for(settings, world, "admin")).json()
    assert listed["items"] == []


def test_malformed_csv_rows_are_reported_by_line_and_good_rows_imported(
    client: Client, store: Store, settings: Settings
) -> None:
    world = leads_world(store.url)
    body = (
        "company,city,country,lat,lon,product_line\n"
        "Good One,Hamburg,DE,,,industrial\n"
        "Bad Lat,,,north,9.9,\n"
        "Too,Many,DE,1,2,x,extra\n"
        ",Hamburg,DE,,,\n"
        "Good Two,,,53.08,8.80,office\n"
        "Half,,,53.08,,\n"
    )
    response = client.post(
        "/api/v1/leads",
        content=body,
        headers={**headers_for(settings, world, "mgr_north"), "Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    out = response.json()
    assert [(o["line"], o["status"]) for o in out["leads"]] == [(2, "assigned"), (6, "assigned")]
    assert [(e["line"], e["field"]) for e in out["errors"]] == [
        (3, "lat"),
        (4, None),
        (5, "company"),
        (7, "lon"),
    ]


def test_an_api_key_with_leads_write_imports_and_one_without_is_refused(
    client: Client, store: Store, settings: Settings
) -> None:
    leads_world(store.url)
    ok = client.post(
        "/api/v1/leads",
        json={"company": "Erp Import", **HAMBURG},
        headers=api_key(store.url, ["leads:write"]),
    )
    assert ok.status_code == 201
    assert lead(store.url, ok.json()["leads"][0]["lead_id"]).source == "import"
    refused = client.post(
        "/api/v1/leads",
        json={"company": "X", **HAMBURG},
        headers=api_key(store.url, ["orders:read"]),
    )
    assert refused.status_code == 403


def test_a_rep_cannot_post_leads(client: Client, store: Store, settings: Settings) -> None:
    world = leads_world(store.url)
    response = client.post(
        "/api/v1/leads",
        json={"company": "X", **HAMBURG},
        headers=headers_for(settings, world, "rep_n1"),
    )
    assert response.status_code == 403


def test_a_lead_without_a_location_waits_in_the_queue_as_no_location(
    client: Client, store: Store, settings: Settings
) -> None:
    world = leads_world(store.url)
    manager = headers_for(settings, world, "mgr_north")
    created = client.post(
        "/api/v1/leads", json={"company": "Nowhere", "city": "Atlantis"}, headers=manager
    ).json()["leads"][0]
    assert (created["status"], created["unassigned_reason"]) == ("unassigned", "no_location")
    queue = client.get("/api/v1/leads/queue", headers=manager).json()
    assert [item["id"] for item in queue["items"]] == [created["lead_id"]]
    assert queue["by_reason"] == {"no_location": 1}


def test_a_product_line_no_rep_sells_is_skill_missing(
    client: Client, store: Store, settings: Settings
) -> None:
    world = leads_world(store.url)
    out = client.post(
        "/api/v1/leads",
        json={"company": "Turbo", **HAMBURG, "product_line": "turbines"},
        headers=headers_for(settings, world, "mgr_north"),
    ).json()["leads"][0]
    assert out["unassigned_reason"] == "skill_missing"


def test_a_region_without_reps_leaves_leads_as_no_active_rep(
    client: Client, store: Store, settings: Settings
) -> None:
    world = leads_world(store.url)
    empty = new_region(store.url, "EAST")
    out = client.post(
        "/api/v1/leads",
        json={"company": "Far East", **MUNICH, "region_id": empty},
        headers=headers_for(settings, world, "admin"),
    ).json()["leads"][0]
    assert out["unassigned_reason"] == "no_active_rep"


def test_a_lead_matching_an_account_goes_to_its_owner(
    client: Client, store: Store, settings: Settings
) -> None:
    world = leads_world(store.url)
    # "Bremen Customer 1" is owned by the Bremen rep; the lead sits in Hamburg.
    out = client.post(
        "/api/v1/leads",
        json={"company": "bremen customer 1", **HAMBURG},
        headers=headers_for(settings, world, "mgr_north"),
    ).json()["leads"][0]
    assert (out["assignee_id"], out["via"]) == (world.user("rep_n2"), "account_owner")


def test_reps_see_their_own_leads_and_managers_their_region(
    client: Client, store: Store, settings: Settings
) -> None:
    world = leads_world(store.url)
    admin = headers_for(settings, world, "admin")
    for company, point in (("North", HAMBURG), ("South", MUNICH)):
        client.post("/api/v1/leads", json={"company": company, **point}, headers=admin)

    def companies(username: str) -> list[str]:
        items = client.get("/api/v1/leads", headers=headers_for(settings, world, username)).json()[
            "items"
        ]
        return sorted(item["company"] for item in items)

    assert companies("rep_n1") == ["North"]
    assert companies("rep_n2") == []
    assert companies("mgr_south") == ["South"]
    assert companies("admin") == ["North", "South"]


def test_a_lead_outside_the_callers_scope_is_not_found(
    client: Client, store: Store, settings: Settings
) -> None:
    world = leads_world(store.url)
    lead_id = client.post(
        "/api/v1/leads",
        json={"company": "North", **HAMBURG},
        headers=headers_for(settings, world, "admin"),
    ).json()["leads"][0]["lead_id"]
    assert (
        client.get(
            f"/api/v1/leads/{lead_id}", headers=headers_for(settings, world, "mgr_south")
        ).status_code
        == 404
    )
    assert (
        client.get(
            f"/api/v1/leads/{lead_id}", headers=headers_for(settings, world, "rep_n1")
        ).status_code
        == 200
    )


def test_the_assignment_explains_the_winner_and_why_not_another_rep(
    client: Client, store: Store, settings: Settings
) -> None:
    world = leads_world(store.url)
    manager = headers_for(settings, world, "mgr_north")
    lead_id = client.post(
        "/api/v1/leads", json={"company": "X", **HAMBURG}, headers=manager
    ).json()["leads"][0]["lead_id"]
    why = client.get(f"/api/v1/leads/{lead_id}/assignment", headers=manager).json()
    assert why["assignee_id"] == world.user("rep_n1")
    assert why["why"].startswith("highest score among eligible reps")
    assert why["decision"]["trace"]["stages"][1]["rule"] == "territory"
    why_not = client.get(
        f"/api/v1/leads/{lead_id}/assignment",
        params={"rep_id": world.user("rep_n2")},
        headers=manager,
    ).json()["rep"]
    assert (why_not["outcome"], why_not["rule"]) == ("excluded", "territory")
    assert "km from home base" in why_not["detail"]


def test_a_rep_may_ask_why_not_me_but_not_about_others(
    client: Client, store: Store, settings: Settings
) -> None:
    world = leads_world(store.url)
    lead_id = client.post(
        "/api/v1/leads",
        json={"company": "X", **HAMBURG},
        headers=headers_for(settings, world, "mgr_north"),
    ).json()["leads"][0]["lead_id"]
    rep = headers_for(settings, world, "rep_n2")
    mine = client.get(f"/api/v1/leads/{lead_id}/assignment", headers=rep).json()["rep"]
    assert mine["rep_id"] == world.user("rep_n2") and mine["outcome"] == "excluded"
    other = client.get(
        f"/api/v1/leads/{lead_id}/assignment", params={"rep_id": world.user("rep_n1")}, headers=rep
    )
    assert other.status_code == 403


def test_a_manual_assignment_is_audited_and_kept_by_the_engine(
    client: Client, store: Store, settings: Settings
) -> None:
    world = leads_world(store.url)
    manager = headers_for(settings, world, "mgr_north")
    lead_id = client.post(
        "/api/v1/leads", json={"company": "X", **HAMBURG}, headers=manager
    ).json()["leads"][0]["lead_id"]
    response = client.post(
        f"/api/v1/leads/{lead_id}/assign",
        json={"rep_id": world.user("rep_n2"), "reason": "speaks to their CEO"},
        headers=manager,
    )
    assert response.status_code == 200, response.text
    assert response.json()["assignment_kind"] == "manual"
    (entry,) = audit(store.url, "lead.reassigned")
    assert entry.region_id == world.regions["NORTH"]
    assert entry.details["from"] == world.user("rep_n1") and entry.details["to"] == world.user(
        "rep_n2"
    )
    assert entry.details["rules_overruled"]["rule"] == "territory"
    assert [d.kind for d in decisions(store.url, lead_id)] == ["auto", "manual"]


def test_a_manager_cannot_assign_to_a_rep_of_another_region(
    client: Client, store: Store, settings: Settings
) -> None:
    world = leads_world(store.url)
    manager = headers_for(settings, world, "mgr_north")
    lead_id = client.post(
        "/api/v1/leads", json={"company": "X", **HAMBURG}, headers=manager
    ).json()["leads"][0]["lead_id"]
    response = client.post(
        f"/api/v1/leads/{lead_id}/assign",
        json={"rep_id": world.user("rep_s1"), "reason": "wrong region"},
        headers=manager,
    )
    assert (response.status_code, response.json()["field"]) == (400, "rep_id")


def test_rules_are_validated_and_versioned(
    client: Client, store: Store, settings: Settings
) -> None:
    world = leads_world(store.url)
    manager = headers_for(settings, world, "mgr_north")
    url = f"/api/v1/regions/{world.regions['NORTH']}/assignment-rules"
    assert client.get(url, headers=manager).json()["version"] == 0
    bad = client.put(url, json={"rules": {"weights": {"load": -1}}}, headers=manager)
    assert (bad.status_code, bad.json()["field"]) == (400, "rules.weights.load")
    unknown_field = client.put(url, json={"rules": {"colour": "red"}}, headers=manager)
    assert (unknown_field.status_code, unknown_field.json()["field"]) == (400, "rules.colour")
    unknown_skill = client.put(
        url,
        json={"rules": {"product_line_skills": {"turbines": ["industrial", "juggling"]}}},
        headers=manager,
    )
    assert unknown_skill.status_code == 400
    assert unknown_skill.json()["field"] == "rules.product_line_skills.turbines[1]"
    for hours, version in ((8, 1), (12, 2)):
        saved = client.put(url, json={"rules": {"sla_hours": hours}}, headers=manager)
        assert (saved.status_code, saved.json()["version"]) == (200, version)
    current = client.get(url, headers=manager).json()
    assert (current["version"], current["rules"]["sla_hours"]) == (2, 12)
    assert client.get(url, headers=headers_for(settings, world, "mgr_south")).status_code == 404


def test_the_active_rules_set_the_sla(client: Client, store: Store, settings: Settings) -> None:
    world = leads_world(store.url)
    manager = headers_for(settings, world, "mgr_north")
    client.put(
        f"/api/v1/regions/{world.regions['NORTH']}/assignment-rules",
        json={"rules": {"sla_hours": 4}},
        headers=manager,
    )
    lead_id = client.post(
        "/api/v1/leads", json={"company": "X", **HAMBURG}, headers=manager
    ).json()["leads"][0]["lead_id"]
    stored = lead(store.url, lead_id)
    assert stored.first_touch_due_at - stored.assigned_at == timedelta(hours=4)  # type: ignore[operator]


def test_the_simulator_compares_a_draft_with_what_happened(
    client: Client, store: Store, settings: Settings
) -> None:
    world = leads_world(store.url)
    manager = headers_for(settings, world, "mgr_north")
    # Widen Bremen's rep so both reps cover Hamburg; today's rules give Hamburg leads to rep_n1.
    update_user(store.url, world.user("rep_n2"), service_radius_km=200.0)
    update_user(store.url, world.user("rep_n1"), active=False)
    for i in range(4):
        client.post("/api/v1/leads", json={"company": f"L{i}", **HAMBURG}, headers=manager)
    update_user(store.url, world.user("rep_n1"), active=True)
    response = client.post(
        "/api/v1/leads/assignment/simulate",
        json={
            "region_id": world.regions["NORTH"],
            "days": 7,
            "rules": {"weights": {"fairness": 0, "distance": 1}},
        },
        headers=manager,
    )
    assert response.status_code == 200, response.text
    out = response.json()
    by_rep = {r["rep_id"]: r for r in out["reps"]}
    assert by_rep[world.user("rep_n2")] == {
        "rep_id": world.user("rep_n2"),
        "rep_name": "Rep Bremen",
        "actual": 4,
        "simulated": 0,
        "difference": -4,
    }
    assert by_rep[world.user("rep_n1")]["simulated"] == 4
    assert out["changed"] == 4


def test_the_fairness_report_compares_shares_with_weights(
    client: Client, store: Store, settings: Settings
) -> None:
    world = leads_world(store.url)
    manager = headers_for(settings, world, "mgr_north")
    client.post(
        "/api/v1/leads", json=[{"company": f"L{i}", **HAMBURG} for i in range(3)], headers=manager
    )
    out = client.get("/api/v1/leads/fairness", params={"days": 30}, headers=manager).json()
    by_rep = {r["rep_id"]: r for r in out["reps"]}
    assert out["total"] == 3
    assert (
        by_rep[world.user("rep_n1")]["count"] == 3 and by_rep[world.user("rep_n1")]["target"] == 0.5
    )
    assert by_rep[world.user("rep_n2")]["count"] == 0
    assert out["spread"] == 1.0
    assert out["gini"] == 0.5
    # Only rep_n1 covers Hamburg, so it was entitled to all three: no unfairness there.
    assert out["gini_vs_entitlement"] == 0.0


def test_the_explanation_names_reps_and_rounds_its_figures_with_units(
    client: Client, store: Store, settings: Settings
) -> None:
    world = leads_world(store.url)
    manager = headers_for(settings, world, "mgr_north")
    lead_id = client.post(
        "/api/v1/leads", json={"company": "X", **HAMBURG}, headers=manager
    ).json()["leads"][0]["lead_id"]
    why = client.get(f"/api/v1/leads/{lead_id}/assignment", headers=manager).json()
    assert why["assignee_name"] == "Rep Hamburg"
    assert "Rep Hamburg" in why["why"] and " km away" in why["why"]
    assert "% of capacity" in why["why"]
    assert re.search(r"\d\.\d{3,}", why["why"]) is None  # no raw floats
    territory = next(s for s in why["decision"]["trace"]["stages"] if s["rule"] == "territory")
    names = {e["rep_id"]: e.get("rep_name") for e in territory["excluded"]}
    assert names == {world.user("rep_n2"): "Rep Bremen"}
    assert territory["excluded_count"] == 1
    for candidate in why["decision"]["trace"]["candidates"]:
        for figure in ("distance_km", "load", "deficit"):
            assert candidate[figure] == round(candidate[figure], 3)
