"""Push: exactly-once, atomic client transactions, per-mutation answers."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account, Contact
from server.sync.models import ChangeLog, QuarantinedMutation
from sync.ids import new_id
from sync.messages import Applied, Rejected
from tests.seed import World, run_db
from tests.server.sync.device import Device
from tests.stores import Store


def _count(url: str, model: type, *where: object) -> int:
    async def work(session: AsyncSession) -> int:
        return int(
            (
                await session.execute(select(func.count()).select_from(model).where(*where))
            ).scalar_one()
        )

    return run_db(url, work)


def test_a_new_contact_is_applied_and_reaches_the_log(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    rep = device_for("rep_n1")
    contact_id = new_id()
    account_id = world.accounts["N1"][0]
    [result] = rep.push(
        rep.upsert(
            "contact",
            contact_id,
            {"account_id": account_id, "first_name": "Grace", "last_name": "Hopper"},
        )
    )
    assert isinstance(result, Applied)
    assert result.version == 1
    assert _count(store.url, ChangeLog, ChangeLog.record_id == contact_id) == 1


def test_a_resent_batch_gets_the_same_answers_and_no_second_effect(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    rep = device_for("rep_n1")
    account_id = world.accounts["N1"][0]
    contact_id = new_id()
    batch = [
        rep.upsert(
            "contact", contact_id, {"account_id": account_id, "first_name": "A", "last_name": "B"}
        ),
        rep.upsert("account", account_id, {"phone": "+49 40 1234"}, base_version=1),
    ]
    first = rep.push(*batch)
    log_rows = _count(store.url, ChangeLog)
    second = rep.push(*batch)
    assert first == second
    assert _count(store.url, ChangeLog) == log_rows
    assert _count(store.url, Contact, Contact.id == contact_id) == 1


def test_a_client_transaction_is_applied_whole_or_rejected_whole(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    rep = device_for("rep_n1")
    own = world.accounts["N1"][0]
    foreign = world.accounts["S1"][0]
    tx = new_id()
    good, bad = new_id(), new_id()
    other = new_id()
    results = rep.push(
        rep.upsert(
            "contact", good, {"account_id": own, "first_name": "In", "last_name": "Scope"}, tx=tx
        ),
        rep.upsert(
            "contact",
            bad,
            {"account_id": foreign, "first_name": "Out", "last_name": "Scope"},
            tx=tx,
        ),
        rep.upsert("contact", other, {"account_id": own, "first_name": "Other", "last_name": "Tx"}),
    )
    assert [type(r) for r in results] == [Rejected, Rejected, Applied]
    assert isinstance(results[0], Rejected) and results[0].reason == "transaction_failed"
    assert isinstance(results[1], Rejected) and results[1].reason == "out_of_scope"
    assert _count(store.url, Contact, Contact.id.in_([good, bad])) == 0
    assert _count(store.url, ChangeLog, ChangeLog.record_id.in_([good, bad])) == 0
    assert _count(store.url, QuarantinedMutation) == 2


def test_a_device_cannot_move_an_account_to_another_territory(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    rep = device_for("rep_n1")
    account_id = world.accounts["N1"][0]
    [result] = rep.push(
        rep.upsert("account", account_id, {"territory_id": world.territories["S1"]}, base_version=1)
    )
    assert isinstance(result, Rejected)
    assert result.reason == "server_owned_field"
    assert result.field == "territory_id"

    async def territory(session: AsyncSession) -> str | None:
        return (await session.get(Account, account_id)).territory_id  # type: ignore[union-attr]

    assert run_db(store.url, territory) == world.territories["N1"]


def test_a_pushed_value_of_the_wrong_type_is_rejected_naming_the_field(
    device_for: Callable[[str], Device], world: World
) -> None:
    rep = device_for("rep_n1")
    [result] = rep.push(rep.upsert("account", world.accounts["N1"][0], {"lat": "north-ish"}))
    assert isinstance(result, Rejected)
    assert (result.reason, result.field) == ("validation", "lat")


def test_a_push_for_another_device_is_forbidden(
    device_for: Callable[[str], Device], world: World
) -> None:
    rep = device_for("rep_n1")
    other = device_for("rep_n2")
    # `other` sends a batch naming `rep`'s device with its own token: refused.
    other.device_id = rep.device_id
    response = other.push_raw([rep.upsert("account", world.accounts["N1"][0], {"phone": "1"})])
    assert response.status_code == 403
    assert response.json()["field"] == "device_id"


def test_a_product_is_read_only_for_devices(
    device_for: Callable[[str], Device], world: World
) -> None:
    rep = device_for("rep_n1")
    [result] = rep.push(rep.upsert("product", world.products[0], {"name": "Cheaper"}))
    assert isinstance(result, Rejected)
    assert result.reason == "read_only"


def test_a_device_clock_days_ahead_is_bounded_so_it_cannot_win_every_conflict(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    from sync import clock

    rep = device_for("rep_n1")
    rep.wall_offset_ms = 3 * 24 * 3600 * 1000
    account_id = world.accounts["N1"][0]
    rep.push(rep.upsert("account", account_id, {"phone": "from the future"}, base_version=1))

    async def stamp(session: AsyncSession) -> str:
        account = await session.get(Account, account_id)
        assert account is not None
        return str(account.field_clocks["phone"][0])

    stored = clock.Hlc.parse(run_db(store.url, stamp))
    assert stored.wall_ms <= clock.wall_now_ms() + 300_000


def test_an_oversize_push_body_is_413_and_changes_nothing(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    rep = device_for("rep_n1")
    before = _count(store.url, ChangeLog)
    response = rep.push_raw(
        [rep.upsert("account", world.accounts["N1"][0], {"notes": "x" * (9 * 1024 * 1024)})]
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert _count(store.url, ChangeLog) == before


def test_managers_see_their_region_s_refused_mutations_and_reps_their_own(
    device_for: Callable[[str], Device], world: World
) -> None:
    rep = device_for("rep_n1")
    rep.push(rep.upsert("product", world.products[0], {"name": "Cheaper"}))
    manager, other_region = device_for("mgr_north"), device_for("mgr_south")
    north = manager.client.get("/api/v1/sync/quarantine", headers=manager.headers).json()
    south = other_region.client.get("/api/v1/sync/quarantine", headers=other_region.headers)
    own = rep.client.get("/api/v1/sync/quarantine", headers=rep.headers).json()
    assert [(q["entity"], q["reason"]) for q in north] == [("product", "read_only")]
    assert south.json() == []
    assert [q["record_id"] for q in own] == [world.products[0]]


def test_the_losing_device_s_user_lists_the_conflict(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    rep = device_for("rep_n1")
    account_id = world.accounts["N1"][0]
    offline = rep.upsert("account", account_id, {"phone": "rep's"}, base_version=1)

    async def manager_edit(session: AsyncSession) -> None:
        account = await session.get(Account, account_id)
        assert account is not None
        account.phone = "manager's"

    run_db(store.url, manager_edit)
    rep.push(offline)
    listed = rep.client.get("/api/v1/sync/conflicts", headers=rep.headers).json()
    assert [(c["field"], c["kept"], c["discarded"]) for c in listed] == [
        ("phone", "manager's", "rep's")
    ]


def test_a_create_naming_a_record_that_exists_is_judged_against_that_record(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    own = world.contacts[world.accounts["N1"][0]][0]
    theirs = world.contacts[world.accounts["S1"][0]][0]

    async def stored(session: AsyncSession) -> dict[str, tuple[str | None, int]]:
        rows = await session.execute(
            select(Contact.id, Contact.phone, Contact.version).where(Contact.id.in_([own, theirs]))
        )
        return {r.id: (r.phone, r.version) for r in rows}

    before = run_db(store.url, stored)
    rep = device_for("rep_n1")
    # Sent as creates (no base version), as a device sends a record it made up.
    [edit, intrusion] = rep.push(
        rep.upsert("contact", own, {"phone": "+49 40 1"}),
        rep.upsert("contact", theirs, {"phone": "+49 40 2"}),
    )
    assert isinstance(edit, Applied) and edit.version == before[own][1] + 1
    assert isinstance(intrusion, Rejected) and intrusion.reason == "out_of_scope"
    assert run_db(store.url, stored) == {own: ("+49 40 1", edit.version), theirs: before[theirs]}


def _logged(url: str, ids: list[str]) -> list[tuple[str, str, int]]:
    async def work(session: AsyncSession) -> list[tuple[str, str, int]]:
        rows = await session.execute(
            select(ChangeLog.record_id, ChangeLog.op, ChangeLog.version)
            .where(ChangeLog.record_id.in_(ids))
            .order_by(ChangeLog.seq)
        )
        return [tuple(r) for r in rows]

    return run_db(url, work)


def test_a_push_that_creates_and_updates_logs_each_new_version_once(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    """New records and changed ones of one batch are logged in one write after the batch's
    flush; when a create collides and the batch is retried one transaction at a time, nothing
    the first attempt inserted is logged."""
    account = world.accounts["N1"][0]
    own = world.contacts[account][0]
    rep = device_for("rep_n1")
    before = set(_logged(store.url, [account, own]))
    visit, note = new_id(), new_id()
    results = rep.push(
        rep.upsert("visit", visit, {"account_id": account, "planned_for": "2026-12-08"}),
        rep.upsert("visit_note", note, {"visit_id": visit, "body": "bring samples"}),
        rep.upsert("account", account, {"phone": "+49 40 9"}, base_version=1),
    )
    assert all(isinstance(r, Applied) for r in results), results
    assert _logged(store.url, [visit, note]) == [(visit, "upsert", 1), (note, "upsert", 1)]
    assert set(_logged(store.url, [account])) - before == {(account, "upsert", results[2].version)}

    again, other = new_id(), new_id()
    retried = rep.push(
        rep.upsert("visit", again, {"account_id": account, "planned_for": "2026-12-09"}),
        rep.upsert("account", account, {"phone": "+49 40 8"}, base_version=results[2].version),
        rep.upsert("contact", own, {"phone": "+49 40 7"}),  # a create naming an existing id
        rep.upsert("visit", other, {"account_id": account, "planned_for": "2026-12-10"}),
    )
    assert all(isinstance(r, Applied) for r in retried), retried
    assert _logged(store.url, [again, other]) == [(again, "upsert", 1), (other, "upsert", 1)]
    new_rows = [r for r in _logged(store.url, [account, own]) if r not in before]
    assert sorted(new_rows) == sorted(
        [
            (account, "upsert", results[2].version),
            (account, "upsert", retried[1].version),
            (own, "upsert", retried[2].version),
        ]
    )
