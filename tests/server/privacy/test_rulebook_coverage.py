"""Export and erasure cover what the rulebook declares, and only from it: for every entity that
declares a data subject, every field it marks personal is filled with a value of its own, then
exported, then erased. A personal mark or a subject added to a declaration is covered here with
no change to this test."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Role
from server.auth.principal import Principal
from server.backoffice import webhooks
from server.backoffice.schemas import WebhookIn
from server.privacy.service import KINDS
from server.sync.entities import model_for
from server.sync.models import ChangeLog
from sync.rules import RULES, Erasure, erased_value
from tests.seed import run_db
from tests.server.privacy.helpers import marker_for, places_holding
from tests.server.resources.conftest import Env


def _new_subjects(env: Env) -> dict[str, str]:
    """One fresh subject of every kind, with records about it."""
    contact = env.post(
        "rep",
        "/contacts",
        {"account_id": env.records.inside.account, "first_name": "Ada", "last_name": ORIGINALS[0]},
    )
    assert contact.status_code == 201, contact.text
    lead = env.post(
        "admin",
        "/leads",
        {"company": "Datenschutz GmbH", "contact_name": ORIGINALS[1], "lat": 53.55, "lon": 9.99},
    )
    assert lead.status_code in (200, 201), lead.text
    (outcome,) = lead.json()["leads"]
    lead_id = outcome["lead_id"]
    subjects = {"contact": contact.json()["id"], "lead": lead_id, "user": env.records.outside.rep}
    assert set(subjects) == set(KINDS), "a new subject kind needs a subject here"
    return subjects


ORIGINALS = ("Lovelacewitz", "Ulla Kuehn-Privat")
"""What the contact and the lead said when they were created, before the test's markers."""


def _subscribe_and_deliver(env: Env, *, subscribe: bool) -> None:
    """A back-office webhook for lead assignments: its deliveries carry the lead's contact."""

    async def work(session: AsyncSession) -> None:
        if subscribe:
            spec = WebhookIn(url="https://erp.example.org/hooks", events=["lead.assigned"])
            admin = Principal(role=Role.ADMIN, user_id=env.records.world.user("admin"))
            await webhooks.create_subscription(session, spec, principal=admin)
        else:
            policy = webhooks.RetryPolicy(base_s=10, max_s=60, give_up_s=3600)
            await webhooks.enqueue(session, policy=policy, retention_days=45)

    run_db(env.settings.database_url, work)


def _about(kind: str) -> list[tuple[str, str]]:
    return [
        (entity, subject.via)
        for entity, rules in RULES.items()
        for subject in rules.subjects
        if subject.kind == kind and rules.personal_fields
    ]


def _fill(env: Env, kind: str, subject_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every personal field of every record about the subject, set to a marker by a server
    write; returns (entity, id) → the markers."""

    async def work(session: AsyncSession) -> dict[tuple[str, str], dict[str, Any]]:
        written: dict[tuple[str, str], dict[str, Any]] = {}
        for entity, via in _about(kind):
            model: Any = model_for(entity)
            rows = await session.execute(select(model).where(getattr(model, via) == subject_id))
            for n, obj in enumerate(rows.scalars().all()):
                values = {
                    name: marker_for(RULES[entity].fields[name], f"pm{n}x{entity}x{name}")
                    for name in RULES[entity].personal_fields
                }
                for name, value in values.items():
                    setattr(obj, name, value)
                written[(entity, obj.id)] = values
        return written

    return run_db(env.settings.database_url, work)


def _unique_text(check: Any, value: Any) -> bool:
    """A text only this test wrote (a choice may be held by any record)."""
    return isinstance(value, str) and not getattr(check, "choices", None)


def test_every_personal_field_is_exported_then_erased(env: Env) -> None:
    _subscribe_and_deliver(env, subscribe=True)
    subjects = _new_subjects(env)
    _subscribe_and_deliver(env, subscribe=False)

    async def holding(session: AsyncSession, text: str) -> list[str]:
        return await places_holding(session, text)

    assert "webhook_deliveries.payload" in run_db(
        env.settings.database_url, lambda s: holding(s, ORIGINALS[1])
    )
    for kind, subject_id in subjects.items():
        written = _fill(env, kind, subject_id)
        assert written, f"no record about the {kind}: the test would prove nothing"
        path = f"/privacy/subjects/{kind}/{subject_id}"

        exported = env.get("admin", f"{path}/export")
        assert exported.status_code == 200, exported.text
        got = {(r["entity"], r["id"]): r["fields"] for r in exported.json()["records"]}
        for key, values in written.items():
            assert got[key] == values, key

        erased = env.post("admin", f"{path}/erasure")
        assert erased.status_code == 200, erased.text
        assert erased.json()["already_erased"] is False

        async def check(session: AsyncSession, written: dict[Any, Any] = written) -> None:
            for (entity, record_id), values in written.items():
                rules = RULES[entity]
                model: Any = model_for(entity)
                obj = await session.get(model, record_id)
                for name in values:
                    assert getattr(obj, name) == erased_value(rules.fields[name]), (entity, name)
                assert (obj.deleted_at is not None) == (rules.erasure is Erasure.DELETE)
                for name, value in values.items():
                    if _unique_text(rules.fields[name].check, value):
                        assert await places_holding(session, value) == [], (entity, name)

        run_db(env.settings.database_url, check)

        original = dict(zip(("contact", "lead"), ORIGINALS, strict=True)).get(kind)
        if original is not None:  # the value it had before the markers, webhooks included
            url = env.settings.database_url
            assert run_db(url, lambda s, o=original: holding(s, o)) == [], kind

        again = env.get("admin", f"{path}/export").json()
        assert again["subject"]["erased_at"] is not None
        for record in again["records"]:
            rules = RULES[record["entity"]]
            assert record["fields"] == {
                n: erased_value(rules.fields[n]) for n in rules.personal_fields
            }


def test_an_erasure_is_idempotent(env: Env) -> None:
    contact = env.post(
        "rep",
        "/contacts",
        {"account_id": env.records.inside.account, "first_name": "Once", "last_name": "Only"},
    ).json()["id"]
    path = f"/privacy/subjects/contact/{contact}/erasure"
    first = env.post("admin", path)
    assert first.status_code == 200, first.text

    async def changes(session: AsyncSession) -> int:
        return int(await session.scalar(select(func.count()).select_from(ChangeLog)) or 0)

    logged = run_db(env.settings.database_url, changes)
    second = env.post("admin", path)
    assert second.status_code == 200, second.text
    assert second.json()["already_erased"] is True
    assert second.json()["subject"]["erased_at"] == first.json()["subject"]["erased_at"]
    assert run_db(env.settings.database_url, changes) == logged
