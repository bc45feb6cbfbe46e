"""The privacy endpoints and consent through both doors: who may ask, what bad input hears, and
that a refusal changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.models import AuditEntry
from server.privacy.models import ContactConsent
from sync.ids import new_id
from sync.messages import Applied, Rejected
from sync.rules import PURPOSES
from tests.seed import run_db, token_for
from tests.server.resources.conftest import Env
from tests.server.sync.device import Device

PROBLEM = "application/problem+json"


def _device(env: Env, user_id: str) -> Device:
    token, device_id = token_for(env.settings, user_id, device_name="privacy tablet")
    return Device(env.client, token, device_id)


def _count(env: Env, model: Any, *where: Any) -> int:
    async def work(session: AsyncSession) -> int:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    return run_db(env.settings.database_url, work)


def _contact(env: Env, last_name: str) -> str:
    response = env.post(
        "rep",
        "/contacts",
        {"account_id": env.records.inside.account, "first_name": "Test", "last_name": last_name},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.mark.parametrize("caller", ["rep", "manager", "rep_s1", "mgr_south", "key:all"])
@pytest.mark.parametrize("action", ["export", "erasure"])
def test_only_an_admin_exports_or_erases(env: Env, caller: str, action: str) -> None:
    contact = env.records.inside.contact
    path = f"/privacy/subjects/contact/{contact}/{action}"
    response = env.get(caller, path) if action == "export" else env.post(caller, path)
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "admin" in response.json()["detail"]
    assert _count(env, AuditEntry, AuditEntry.target_id == contact) == 0


@pytest.mark.parametrize(
    ("kind", "field"), [("customer", "kind"), ("contact", "id"), ("lead", "id"), ("user", "id")]
)
@pytest.mark.parametrize("action", ["export", "erasure"])
def test_an_unknown_subject_is_not_found(env: Env, kind: str, field: str, action: str) -> None:
    path = f"/privacy/subjects/{kind}/{new_id()}/{action}"
    response = env.get("admin", path) if action == "export" else env.post("admin", path)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["field"] == field


def test_a_subject_id_that_is_no_id_is_refused(env: Env) -> None:
    response = env.get("admin", "/privacy/subjects/contact/not-an-id/export")
    assert response.status_code == 400
    assert response.json()["field"] == "subject_id"


def test_export_and_erasure_are_audited_without_the_values(env: Env) -> None:
    contact = _contact(env, "Auditfall")
    exported = env.get("admin", f"/privacy/subjects/contact/{contact}/export")
    assert exported.status_code == 200, exported.text
    (record,) = exported.json()["records"]
    assert record["fields"]["last_name"] == "Auditfall"
    assert env.post("admin", f"/privacy/subjects/contact/{contact}/erasure").status_code == 200

    async def entries(session: AsyncSession) -> list[AuditEntry]:
        rows = await session.execute(select(AuditEntry).where(AuditEntry.target_id == contact))
        return list(rows.scalars())

    logged = run_db(env.settings.database_url, entries)
    assert sorted(e.action for e in logged) == ["privacy.erased", "privacy.exported"]
    assert all("Auditfall" not in str(e.details) for e in logged)
    assert {e.actor_user_id for e in logged} == {env.records.world.user("admin")}


def test_consent_is_recorded_and_read_over_rest_latest_wins(env: Env) -> None:
    contact = _contact(env, "Einwilliger")
    path = f"/contacts/{contact}/consents"
    given = env.post(
        "rep",
        path,
        {
            "purpose": "email_marketing",
            "status": "given",
            "channel": "web_form",
            "recorded_at": "2026-03-01T09:00:00Z",
        },
    )
    assert given.status_code == 201, given.text
    assert given.json()["source"] == "rest"
    assert given.json()["recorded_by_id"] == env.records.inside.rep
    withdrawn = env.post(
        "manager",
        path,
        {
            "purpose": "email_marketing",
            "status": "withdrawn",
            "channel": "email",
            "recorded_at": "2026-04-01T09:00:00Z",
            "source": "import",
        },
    )
    assert withdrawn.status_code == 201, withdrawn.text
    # An older decision recorded later does not override the newer one.
    late = env.post(
        "rep",
        path,
        {
            "purpose": "email_marketing",
            "status": "given",
            "channel": "paper",
            "recorded_at": "2026-02-01T09:00:00Z",
        },
    )
    assert late.status_code == 201, late.text
    state = env.get("rep", path).json()
    assert state["current"]["email_marketing"] == "withdrawn"
    assert state["current"]["phone_calls"] == "withdrawn"  # never asked: no consent
    assert [h["recorded_at"][:10] for h in state["history"]] == [
        "2026-02-01",
        "2026-03-01",
        "2026-04-01",
    ]
    assert env.get("manager", path).status_code == 200


@pytest.mark.parametrize("caller", ["rep_s1", "mgr_south"])
def test_consent_outside_the_callers_reach_is_not_found(env: Env, caller: str) -> None:
    contact = env.records.inside.contact
    path = f"/contacts/{contact}/consents"
    assert env.get(caller, path).status_code == 404
    body = {"purpose": "phone_calls", "status": "given", "channel": "phone"}
    assert env.post(caller, path, body).status_code == 404
    assert _count(env, ContactConsent, ContactConsent.contact_id == contact) == 0


def test_an_api_key_records_no_consent(env: Env) -> None:
    path = f"/contacts/{env.records.inside.contact}/consents"
    body = {"purpose": "phone_calls", "status": "given", "channel": "phone"}
    assert env.post("key:all", path, body).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"purpose": "newsletter", "status": "given", "channel": "phone"}, "purpose"),
        ({"purpose": "phone_calls", "channel": "phone"}, "status"),
        ({"purpose": "phone_calls", "status": "maybe", "channel": "phone"}, "status"),
        ({"purpose": "phone_calls", "status": "given", "channel": "pigeon"}, "channel"),
        (
            {
                "purpose": "phone_calls",
                "status": "given",
                "channel": "phone",
                "recorded_at": "1999-12-31T10:00:00Z",
            },
            "recorded_at",
        ),
        (
            {
                "purpose": "phone_calls",
                "status": "given",
                "channel": "phone",
                "recorded_at": "yesterday",
            },
            "recorded_at",
        ),
        ({"purpose": "phone_calls", "status": "given", "channel": "phone", "mood": "ok"}, "mood"),
        (
            {"purpose": "phone_calls", "status": "given", "channel": "phone", "source": "erasure"},
            "source",
        ),
    ],
)
def test_malformed_consent_is_refused_by_both_doors_naming_the_field(
    env: Env, body: dict[str, Any], field: str
) -> None:
    contact = env.records.inside.contact
    before = _count(env, ContactConsent)
    response = env.post("rep", f"/contacts/{contact}/consents", body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["field"] == field
    if field not in ("mood", "source"):  # no such field a device may send
        device = _device(env, env.records.inside.rep)
        pushed = {"contact_id": contact, "recorded_at": "2026-05-01T10:00:00Z", **body}
        (answer,) = device.push(device.upsert("contact_consent", new_id(), pushed))
        assert isinstance(answer, Rejected)
        # A missing field meets the table's NOT NULL on the push, which names no field.
        named = field if field in body else None
        assert (answer.reason, answer.field) == ("validation", named), answer.detail
    assert _count(env, ContactConsent) == before


def test_a_device_records_consent_through_the_sync_door(env: Env) -> None:
    contact = _contact(env, "Geraetlich")
    device = _device(env, env.records.inside.rep)
    consent_id = new_id()
    fields = {
        "contact_id": contact,
        "purpose": "visit_notes",
        "status": "given",
        "channel": "in_person",
        "recorded_at": "2026-05-01T10:00:00Z",
    }
    (answer,) = device.push(device.upsert("contact_consent", consent_id, fields))
    assert isinstance(answer, Applied), answer
    (stored,) = env.get("rep", f"/contacts/{contact}/consents").json()["history"]
    assert (stored["id"], stored["source"]) == (consent_id, "device")
    assert stored["recorded_by_id"] == env.records.inside.rep
    # History is never edited: a changed decision is a new record.
    (edit,) = device.push(
        device.upsert("contact_consent", consent_id, {**fields, "status": "withdrawn"})
    )
    assert isinstance(edit, Rejected)
    other = _device(env, env.records.outside.rep)
    (foreign,) = other.push(other.upsert("contact_consent", new_id(), fields))
    assert isinstance(foreign, Rejected) and foreign.reason == "out_of_scope"


def test_nothing_pushed_after_an_erasure_brings_the_subject_back(env: Env) -> None:
    contact = _contact(env, "Vergessen")
    device = _device(env, env.records.inside.rep)
    assert env.post("admin", f"/privacy/subjects/contact/{contact}/erasure").status_code == 200
    state = env.get("admin", f"/privacy/subjects/contact/{contact}/export").json()["consent"]
    assert state["current"] == dict.fromkeys(PURPOSES, "withdrawn")
    assert {h["source"] for h in state["history"]} == {"erasure"}

    (edit,) = device.push(device.upsert("contact", contact, {"last_name": "Zurueck"}))
    assert isinstance(edit, Rejected) and edit.reason == "deleted"
    consent = {
        "contact_id": contact,
        "purpose": "email_marketing",
        "status": "given",
        "channel": "in_person",
        "recorded_at": "2099-01-01T10:00:00Z",
    }
    (late,) = device.push(device.upsert("contact_consent", new_id(), consent))
    assert isinstance(late, Rejected), late
    assert (late.reason, late.field) == ("out_of_scope", "contact_id")  # as an unknown contact
    assert env.get("rep", f"/contacts/{contact}").status_code == 404
    assert (
        env.post(
            "rep",
            f"/contacts/{contact}/consents",
            {"purpose": "email_marketing", "status": "given", "channel": "phone"},
        ).status_code
        == 404
    )


def test_an_erased_reps_position_is_not_stored_again(env: Env) -> None:
    rep = env.records.outside.rep
    visit = env.records.outside.visit
    erased = env.post("admin", f"/privacy/subjects/user/{rep}/erasure")
    assert erased.status_code == 200, erased.text
    assert erased.json()["records"]["visit"] >= 1
    device = _device(env, rep)
    (check_in,) = device.push(
        device.upsert(
            "visit",
            visit,
            {
                "status": "in_progress",
                "check_in_at": "2026-05-01T10:00:00Z",
                "check_in_lat": 48.1,
                "check_in_lon": 11.5,
            },
        )
    )
    assert isinstance(check_in, Rejected), check_in
    assert (check_in.reason, check_in.field) == ("deleted", "check_in_lat")
    (plain,) = device.push(device.upsert("visit", visit, {"purpose": "restock"}))
    assert isinstance(plain, Applied)  # the visit itself is kept and goes on
