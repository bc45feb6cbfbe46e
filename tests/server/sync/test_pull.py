"""Pull: bootstrap by scope, incremental changes, evictions, conflicts, checksums, expiry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import event, select, text, update
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account, Contact
from server.auth.models import Role
from server.sync.log import compact, decode_cursor, encode_cursor
from server.sync.models import ChangeLog, SyncRecord
from server.sync.scope import scope_filter
from sync import codec
from sync.checksum import scope_digest
from sync.ids import new_id
from sync.messages import Applied, Merged, PullRequest
from tests.seed import World, run_db
from tests.server.sync.device import Device
from tests.stores import Store


def _move_account(url: str, account_id: str, territory_id: str) -> None:
    async def work(session: AsyncSession) -> None:
        account = await session.get(Account, account_id)
        assert account is not None
        account.territory_id = territory_id

    run_db(url, work)


def _edit_account(url: str, account_id: str, **values: object) -> None:
    async def work(session: AsyncSession) -> None:
        account = await session.get(Account, account_id)
        assert account is not None
        for name, value in values.items():
            setattr(account, name, value)

    run_db(url, work)


def _expire_history(url: str) -> None:
    """Age every change past the retention horizon and compact: older cursors expire."""

    async def age_and_compact(session: AsyncSession) -> None:
        await session.execute(update(ChangeLog).values(at=datetime.now(UTC) - timedelta(days=100)))
        await compact(session, retention_days=45, now=datetime.now(UTC) + timedelta(days=50))

    run_db(url, age_and_compact)


def test_a_new_device_bootstraps_exactly_its_scope(
    device_for: Callable[[str], Device], world: World
) -> None:
    rep = device_for("rep_n1")
    pages = rep.pull(limit=4)
    assert pages > 1
    assert set(rep.of("account")) == set(world.accounts["N1"])
    assert set(rep.of("contact")) == {c for a in world.accounts["N1"] for c in world.contacts[a]}
    assert set(rep.of("product")) == set(world.products)
    assert not set(rep.of("account")) & set(world.accounts["N2"])


def test_a_page_with_more_after_it_names_its_cursor_in_a_header_for_asking_ahead(
    device_for: Callable[[str], Device],
) -> None:
    rep = device_for("rep_n1")
    seen: list[tuple[bool, str | None, str]] = []
    while True:
        params = {"limit": 4, **({"cursor": rep.cursor} if rep.cursor else {})}
        response = rep.client.get("/api/v1/sync/pull", params=params, headers=rep.headers)
        assert response.status_code == 200, response.text
        page = codec.decode_pull_page(response.content, response.headers["content-type"])
        seen.append((page.more, response.headers.get(codec.NEXT_CURSOR_HEADER), page.cursor))
        rep.apply(page)
        if not page.more:
            break
    *paged, last = seen
    assert paged, "the scope should take several pages of four"
    assert all(header == cursor for _, header, cursor in paged)
    assert last[1] is None  # caught up: nothing to ask ahead for


def test_a_manager_device_gets_the_whole_region(
    device_for: Callable[[str], Device], world: World
) -> None:
    manager = device_for("mgr_north")
    manager.pull()
    assert set(manager.of("account")) == set(world.accounts["N1"] + world.accounts["N2"])


def test_changes_after_bootstrap_arrive_in_order_and_only_in_scope(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    rep = device_for("rep_n1")
    rep.pull()
    _edit_account(store.url, world.accounts["N1"][0], phone="+49 40 555")
    _edit_account(store.url, world.accounts["S1"][0], phone="+49 89 555")
    page = rep.pull_page()
    assert [(i.entity, i.id) for i in page.items] == [("account", world.accounts["N1"][0])]
    assert rep.of("account")[world.accounts["N1"][0]]["phone"] == "+49 40 555"


def test_an_account_moving_territory_is_evicted_from_the_old_rep_and_sent_whole_to_the_new(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    old, new = device_for("rep_n1"), device_for("rep_n2")
    old.pull()
    new.pull()
    account_id = world.accounts["N1"][0]
    contact_id = world.contacts[account_id][0]
    _move_account(store.url, account_id, world.territories["N2"])
    old.pull()
    new.pull()
    assert ("account", account_id) in old.evicted and ("contact", contact_id) in old.evicted
    assert account_id not in old.of("account") and contact_id not in old.of("contact")
    assert new.of("account")[account_id]["territory_id"] == world.territories["N2"]
    assert contact_id in new.of("contact")


def test_a_device_sees_its_own_push_on_the_next_pull(
    device_for: Callable[[str], Device], world: World
) -> None:
    rep = device_for("rep_n1")
    rep.pull()
    contact_id = new_id()
    rep.push(
        rep.upsert(
            "contact",
            contact_id,
            {"account_id": world.accounts["N1"][0], "first_name": "Read", "last_name": "Own"},
        )
    )
    rep.pull()
    assert rep.of("contact")[contact_id]["first_name"] == "Read"


@pytest.mark.parametrize("media_type", [codec.MEDIA_JSON, codec.MEDIA_MSGPACK])
def test_a_push_that_asks_for_a_pull_answers_with_the_page_that_pull_would_return(
    device_for: Callable[[str], Device], world: World, media_type: str
) -> None:
    rep = device_for("rep_n1")
    rep.pull()
    before = rep.cursor
    contact_id = new_id()
    response = rep.push_and_pull(
        rep.upsert(
            "contact",
            contact_id,
            {"account_id": world.accounts["N1"][0], "first_name": "One", "last_name": "Trip"},
        ),
        pull=PullRequest(cursor=before, limit=50),
        media_type=media_type,
    )
    [result] = response.results
    assert isinstance(result, Applied) and response.pulls
    page = response.page
    assert page is not None and not page.more
    # Read-your-writes inside the one round trip: the page carries the push's own change.
    assert rep.of("contact")[contact_id]["first_name"] == "One"
    rep.cursor = before
    assert rep.pull_page(limit=50).items == page.items
    rep.cursor = page.cursor
    assert rep.pull_page().items == []


def test_a_push_that_asks_for_a_pull_holds_one_pooled_connection_for_everything(
    device_for: Callable[[str], Device], world: World, app: Litestar
) -> None:
    """Under a burst, a request that gave its connection back between the push and the page
    queued for one again behind every other request (server/db/session.py)."""
    rep = device_for("rep_n1")
    rep.pull()
    checkouts: list[int] = []
    pool = app.state.engine.sync_engine.pool

    def count(*_: Any) -> None:
        checkouts.append(1)

    event.listen(pool, "checkout", count)
    try:
        response = rep.push_and_pull(
            rep.upsert(
                "contact",
                new_id(),
                {"account_id": world.accounts["N1"][0], "first_name": "Once", "last_name": "Only"},
            ),
            pull=PullRequest(cursor=rep.cursor),
        )
    finally:
        event.remove(pool, "checkout", count)
    assert response.page is not None and response.page.items
    # Authentication reads with the same connection (PostgreSQL) or with one kept for such
    # reads (SQLite, server/db/lookup.py).
    assert len(checkouts) == 1


def test_a_push_that_asks_for_no_pull_gets_no_page_and_learns_that_it_could(
    device_for: Callable[[str], Device], world: World
) -> None:
    rep = device_for("rep_n1")
    response = rep.push_and_pull(
        rep.upsert(
            "contact",
            new_id(),
            {"account_id": world.accounts["N1"][0], "first_name": "No", "last_name": "Page"},
        ),
        pull=None,
    )
    assert isinstance(response.results[0], Applied)
    assert response.page is None and response.pulls


def test_a_push_whose_pull_cannot_be_answered_keeps_its_effect_and_leaves_the_page_out(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    rep = device_for("rep_n1")
    rep.pull()
    _expire_history(store.url)
    contact_id = new_id()
    response = rep.push_and_pull(
        rep.upsert(
            "contact",
            contact_id,
            {"account_id": world.accounts["N1"][0], "first_name": "Still", "last_name": "Kept"},
        ),
        pull=PullRequest(cursor=rep.cursor),
    )
    [result] = response.results
    assert isinstance(result, Applied) and response.page is None
    # The device pulls as usual and meets the error there; the push stands.
    gone = rep.client.get("/api/v1/sync/pull", params={"cursor": rep.cursor}, headers=rep.headers)
    assert gone.status_code == 410

    async def stored(session: AsyncSession) -> Contact | None:
        return await session.get(Contact, contact_id)

    contact = run_db(store.url, stored)
    assert contact is not None and contact.last_name == "Kept"


def test_a_concurrent_edit_that_loses_is_reported_to_the_losing_device(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    rep = device_for("rep_n1")
    rep.pull()
    account_id = world.accounts["N1"][0]
    base = rep.of("account")[account_id]["version"]
    offline_edit = rep.upsert("account", account_id, {"phone": "rep's number"}, base_version=base)
    # The manager's edit happens later in wall time, so it wins.
    _edit_account(store.url, account_id, phone="manager's number")
    [result] = rep.push(offline_edit)
    assert isinstance(result, Merged)
    assert result.discarded == ["phone"]
    assert result.fields["phone"] == "manager's number"
    rep.pull()
    [notice] = rep.conflicts
    assert (notice.field, notice.kept, notice.discarded) == (
        "phone",
        "manager's number",
        "rep's number",
    )
    assert notice.discarded_origin == rep.device_id


def test_checksums_match_a_device_that_holds_its_scope(
    device_for: Callable[[str], Device],
) -> None:
    rep = device_for("rep_n1")
    rep.pull()
    page = rep.pull_page(checksums=True)
    assert page.checksums
    for checksum in page.checksums:
        held = [(rid, data["version"]) for rid, data in rep.of(checksum.entity).items()]
        assert scope_digest(held) == (checksum.count, checksum.digest)


def test_a_cursor_older_than_the_retention_horizon_is_gone(
    device_for: Callable[[str], Device], store: Store
) -> None:
    rep = device_for("rep_n1")
    rep.pull()
    _expire_history(store.url)
    response = rep.client.get(
        "/api/v1/sync/pull", params={"cursor": rep.cursor}, headers=rep.headers
    )
    assert response.status_code == 410
    assert response.json()["retention_days"] == 45


def test_pull_speaks_msgpack_when_asked(device_for: Callable[[str], Device]) -> None:
    rep = device_for("rep_n1")
    response = rep.client.get(
        "/api/v1/sync/pull", headers={**rep.headers, "Accept": codec.MEDIA_MSGPACK}
    )
    assert response.headers["content-type"].startswith(codec.MEDIA_MSGPACK)
    page = codec.decode_pull_page(response.content, codec.MEDIA_MSGPACK)
    assert page.reset and page.items


def _bootstrap_items(rep: Device, media_type: str) -> list[tuple[Any, ...]]:
    items: list[tuple[Any, ...]] = []
    params: dict[str, Any] = {"limit": 7}
    while True:
        response = rep.client.get(
            "/api/v1/sync/pull", params=params, headers={**rep.headers, "Accept": media_type}
        )
        page = codec.decode_pull_page(response.content, media_type)
        items += [(i.entity, i.id, i.op, i.version, i.fields) for i in page.items]  # type: ignore[union-attr]
        if not page.snapshot:
            return sorted(items)
        params["cursor"] = page.cursor


def test_a_msgpack_bootstrap_sends_stored_items_that_match_the_json_page(
    device_for: Callable[[str], Device], store: Store
) -> None:
    """MessagePack pages are the items encoded when each record was written, laid side by side;
    rows indexed before that column existed are encoded from their JSON body instead."""

    def packed_rows() -> tuple[int, int]:
        async def work(session: AsyncSession) -> tuple[int, int]:
            table = SyncRecord.__table__
            rows = (await session.execute(select(table.c.deleted, table.c.packed))).all()
            live = [packed for deleted, packed in rows if not deleted]
            return len(live), sum(packed is not None for packed in live)

        return run_db(store.url, work)

    live, packed = packed_rows()
    assert live > 0 and packed == live
    rep = device_for("rep_n1")
    as_json = _bootstrap_items(rep, codec.MEDIA_JSON)
    assert as_json and _bootstrap_items(rep, codec.MEDIA_MSGPACK) == as_json

    async def unpack_contacts(session: AsyncSession) -> None:
        table = SyncRecord.__table__
        await session.execute(update(table).where(table.c.entity == "contact").values(packed=None))

    run_db(store.url, unpack_contacts)
    assert packed_rows()[1] < live
    assert _bootstrap_items(rep, codec.MEDIA_MSGPACK) == as_json


def test_an_unsupported_protocol_version_gets_426_with_a_clear_message(
    device_for: Callable[[str], Device],
) -> None:
    rep = device_for("rep_n1")
    response = rep.client.get(
        "/api/v1/sync/pull", headers={**rep.headers, codec.PROTOCOL_HEADER: "99"}
    )
    assert response.status_code == 426
    assert "update the app" in response.json()["detail"].lower()


def test_a_malformed_push_body_is_400_and_changes_nothing(
    device_for: Callable[[str], Device], client: TestClient[Litestar]
) -> None:
    rep = device_for("rep_n1")
    response = client.post(
        "/api/v1/sync/push",
        content=msgspec.json.encode(
            {"device_id": rep.device_id, "mutations": [{"kind": "upsert"}]}
        ),
        headers={**rep.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_rep_moved_to_another_territory_gets_a_fresh_consistent_view(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    from server.auth.models import User

    rep = device_for("rep_n1")
    rep.pull()
    assert set(rep.of("account")) == set(world.accounts["N1"])

    async def move(session: AsyncSession) -> None:
        user = await session.get(User, world.user("rep_n1"))
        assert user is not None
        user.territory_id = world.territories["N2"]

    run_db(store.url, move)
    page = rep.pull_page()
    assert page.reset
    rep.pull()
    assert set(rep.of("account")) == set(world.accounts["N2"])


def _stream(device: Device, *, limit: int) -> list[tuple[str, str]]:
    """Every (entity, id) the device receives until caught up, in order, repeats included."""
    seen: list[tuple[str, str]] = []
    while True:
        page = device.pull_page(limit=limit)
        device.apply(page)
        seen.extend((item.entity, item.id) for item in page.items if hasattr(item, "entity"))
        if not page.more:
            return seen


def test_a_record_in_two_branches_of_the_scope_arrives_once(
    device_for: Callable[[str], Device], world: World
) -> None:
    # A ticket the rep opened on an account of their territory matches the scope twice (the
    # territory and the opener): the change log's branches are merged into one ordered stream,
    # and a snapshot reads the branches one after another, leaving out what an earlier one sent.
    rep = device_for("rep_n1")
    rep.pull()
    ticket_id = new_id()
    rep.push(
        rep.upsert(
            "ticket", ticket_id, {"account_id": world.accounts["N1"][0], "subject": "Leaking"}
        )
    )
    incremental = _stream(rep, limit=500)
    assert incremental.count(("ticket", ticket_id)) == 1

    fresh = device_for("rep_n1")
    for limit in (1, 2, 3, 500):  # a page may end on either copy of the ticket
        fresh.cursor = None
        fresh.records = {}
        snapshot = _stream(fresh, limit=limit)
        assert len(snapshot) == len(set(snapshot)), limit
        assert ("ticket", ticket_id) in snapshot
        assert set(fresh.of("account")) == set(world.accounts["N1"])


def _snapshot_page_sizes(device: Device, *, limit: int) -> list[int]:
    sizes = []
    while True:
        page = device.pull_page(limit=limit)
        if not page.snapshot:
            return sizes
        sizes.append(len(page.items))


def test_snapshot_pages_are_full_when_records_are_on_two_branches(
    device_for: Callable[[str], Device], world: World
) -> None:
    # Merged across branches, a page was cut at a page's worth of rows before the copies of
    # the records on two branches were dropped: a run of such tickets came in half pages.
    rep = device_for("rep_n1")
    rep.pull()
    account = world.accounts["N1"][0]
    tickets = [new_id() for _ in range(12)]
    rep.push(
        *(rep.upsert("ticket", t, {"account_id": account, "subject": "Leak"}) for t in tickets)
    )

    rep.pull()

    fresh = device_for("rep_n1")
    sizes = _snapshot_page_sizes(fresh, limit=4)
    assert all(size == 4 for size in sizes[:-1]), sizes
    assert set(tickets) <= set(fresh.of("ticket"))
    assert fresh.records == rep.records


def test_a_snapshot_cursor_from_before_branches_were_read_in_turn_still_gets_everything(
    device_for: Callable[[str], Device], world: World
) -> None:
    # A device mid-bootstrap across the upgrade holds a position in the merged order: every
    # record of every branch up to it was sent. Read as a position in the first branch, the
    # later branches are read whole: some records come twice, none is missed.
    rep = device_for("rep_n1")
    rep.pull()
    account = world.accounts["N1"][0]
    rep.push(*(rep.upsert("ticket", new_id(), {"account_id": account}) for _ in range(3)))
    rep.pull()

    fresh = device_for("rep_n1")
    while True:
        page = fresh.pull_page(limit=3)
        position = decode_cursor(page.cursor)
        if position.a > 0:
            break
    assert page.more and position.b
    fresh.cursor = encode_cursor(msgspec.structs.replace(position, a=0))
    fresh.pull(limit=3)
    assert fresh.records == rep.records


def test_record_keys_sort_in_byte_order_on_postgresql(store: Store) -> None:
    """Bootstrap pages continue after the last key read, compared by the database, and the
    server orders keys by code point: the database must order them the same way whatever its
    default collation."""
    if store.is_sqlite:
        pytest.skip("SQLite compares text bytewise")

    async def work(session: AsyncSession) -> set[str]:
        rows = await session.execute(
            text(
                "SELECT collation_name FROM information_schema.columns "
                "WHERE table_name = 'sync_records' AND column_name IN ('entity', 'record_id')"
            )
        )
        return {name for (name,) in rows}

    assert run_db(store.url, work) == {"C"}


def test_a_scope_read_without_the_callers_keys_fails_instead_of_widening(
    store: Store, world: World
) -> None:
    table = SyncRecord.__table__
    query = select(table.c.record_id).where(scope_filter(Role.REP, table))

    async def unbound(session: AsyncSession) -> None:
        await session.execute(query)

    with pytest.raises(StatementError, match="scope_"):
        run_db(store.url, unbound)
