"""Server-side writers (REST) under the device rules: a write that names the version it last saw
(``If-Match``) and overwrites a value someone wrote after that version is a conflict, recorded
in ``sync_conflicts`` like a device's, with the two writers' HLC nodes as origins."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.settings import Settings
from server.sync.clock import NODE_PREFIX, ServerClock, server_clock
from server.sync.models import ConflictRecord
from sync import clock
from tests.seed import World, run_db, token_for
from tests.server.sync.device import Device
from tests.stores import Store


def _conflicts(url: str) -> list[ConflictRecord]:
    async def work(session: AsyncSession) -> list[ConflictRecord]:
        return list((await session.execute(select(ConflictRecord))).scalars())

    return run_db(url, work)


def _account(url: str, account_id: str) -> Account:
    async def work(session: AsyncSession) -> Account:
        found = await session.get(Account, account_id)
        assert found is not None
        return found

    return run_db(url, work)


class _Callers:
    def __init__(self, client: TestClient[Litestar], settings: Settings, world: World) -> None:
        self.client = client
        self.headers = {
            name: {"Authorization": f"Bearer {token_for(settings, world.user(name))[0]}"}
            for name in ("mgr_north", "admin")
        }

    def version(self, who: str, account_id: str) -> int:
        got = self.client.get(f"/api/v1/accounts/{account_id}", headers=self.headers[who])
        assert got.status_code == 200, got.text
        return int(got.json()["version"])

    def patch(self, who: str, account_id: str, body: dict[str, Any], **headers: str) -> Any:
        return self.client.patch(
            f"/api/v1/accounts/{account_id}", json=body, headers={**self.headers[who], **headers}
        )


def test_a_rest_overwrite_of_a_value_written_after_the_callers_if_match_is_a_conflict(
    client: TestClient[Litestar], settings: Settings, world: World, store: Store
) -> None:
    callers = _Callers(client, settings, world)
    account_id = world.accounts["N1"][0]
    seen = callers.version("mgr_north", account_id)
    assert callers.version("admin", account_id) == seen

    first = callers.patch(
        "admin", account_id, {"notes": "from the admin"}, **{"If-Match": f'"{seen}"'}
    )
    second = callers.patch(
        "mgr_north", account_id, {"notes": "from the manager"}, **{"If-Match": f'"{seen}"'}
    )

    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert second.json()["notes"] == "from the manager"
    [conflict] = _conflicts(store.url)
    assert (conflict.entity, conflict.record_id, conflict.field) == ("account", account_id, "notes")
    assert (conflict.kept, conflict.discarded) == ("from the manager", "from the admin")
    assert conflict.rule == "lww"
    # One process served both managers: its node names both writers, and the conflict is
    # recorded all the same (a server process is not sequential the way a device's outbox is).
    assert conflict.kept_origin == conflict.discarded_origin == server_clock.node
    assert conflict.kept_hlc is not None and conflict.discarded_hlc is not None
    assert conflict.kept_hlc > conflict.discarded_hlc
    assert conflict.region_id == world.regions["NORTH"]


def test_a_rest_write_without_if_match_is_a_deliberate_overwrite_and_logs_nothing(
    client: TestClient[Litestar], settings: Settings, world: World, store: Store
) -> None:
    callers = _Callers(client, settings, world)
    account_id = world.accounts["N1"][1]
    assert callers.patch("admin", account_id, {"notes": "one"}).status_code == 200
    assert callers.patch("mgr_north", account_id, {"notes": "two"}).status_code == 200
    assert _conflicts(store.url) == []


def test_if_match_naming_the_current_version_logs_nothing(
    client: TestClient[Litestar], settings: Settings, world: World, store: Store
) -> None:
    callers = _Callers(client, settings, world)
    account_id = world.accounts["N1"][1]
    assert callers.patch("admin", account_id, {"notes": "one"}).status_code == 200
    current = callers.version("mgr_north", account_id)
    answer = callers.patch(
        "mgr_north", account_id, {"notes": "two"}, **{"If-Match": f'W/"{current}"'}
    )
    assert answer.status_code == 200
    assert _conflicts(store.url) == []


def test_a_stale_if_match_on_another_field_is_no_conflict(
    client: TestClient[Litestar], settings: Settings, world: World, store: Store
) -> None:
    callers = _Callers(client, settings, world)
    account_id = world.accounts["N1"][1]
    seen = callers.version("admin", account_id)
    assert callers.patch("admin", account_id, {"notes": "theirs"}).status_code == 200
    answer = callers.patch(
        "mgr_north", account_id, {"phone": "+49 40 1234"}, **{"If-Match": f'"{seen}"'}
    )
    assert answer.status_code == 200
    assert answer.json()["notes"] == "theirs"
    assert _conflicts(store.url) == []


def test_a_malformed_if_match_is_a_400_problem_and_writes_nothing(
    client: TestClient[Litestar], settings: Settings, world: World, store: Store
) -> None:
    callers = _Callers(client, settings, world)
    account_id = world.accounts["N1"][2]
    before = _account(store.url, account_id)
    answer = callers.patch("admin", account_id, {"notes": "x"}, **{"If-Match": "seven"})
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["field"] == "If-Match"
    assert _account(store.url, account_id).version == before.version


def test_a_devices_value_overwritten_after_a_stale_if_match_reaches_that_device_as_a_conflict(
    client: TestClient[Litestar],
    settings: Settings,
    world: World,
    store: Store,
    device_for: Callable[[str], Device],
) -> None:
    callers = _Callers(client, settings, world)
    account_id = world.accounts["N1"][0]
    seen = callers.version("mgr_north", account_id)
    tablet = device_for("rep_n1")
    tablet.pull()
    [result] = tablet.push(
        tablet.upsert("account", account_id, {"notes": "rep's note"}, base_version=seen)
    )
    assert type(result).__name__ == "Applied", result

    answer = callers.patch(
        "mgr_north", account_id, {"notes": "manager's note"}, **{"If-Match": f'"{seen}"'}
    )

    assert answer.status_code == 200
    [conflict] = _conflicts(store.url)
    assert conflict.discarded == "rep's note"
    assert conflict.discarded_origin == tablet.device_id
    assert conflict.loser_user_id == world.user("rep_n1")
    tablet.pull()
    assert [(c.field, c.discarded, c.kept) for c in tablet.conflicts] == [
        ("notes", "rep's note", "manager's note")
    ]


def test_a_server_write_orders_after_the_clocks_the_record_holds_whatever_the_wall_clock(
    client: TestClient[Litestar], settings: Settings, world: World, store: Store
) -> None:
    # Another replica's wall clock ran a minute ahead when it wrote the name; this process's
    # later edit must still win under LWW, not lose to a stamp from "the future".
    account_id = world.accounts["S1"][0]
    ahead = clock.Hlc(clock.wall_now_ms() + 60_000, 0, "server-0123456789ab").encode()

    async def skew(session: AsyncSession) -> None:
        account = await session.get(Account, account_id)
        assert account is not None
        account.field_clocks = {**account.field_clocks, "name": [ahead, account.version]}

    run_db(store.url, skew)
    callers = _Callers(client, settings, world)
    assert callers.patch("admin", account_id, {"name": "Renamed"}).status_code == 200
    stamp = _account(store.url, account_id).field_clocks["name"][0]
    assert stamp > ahead
    assert stamp.endswith(server_clock.node)


def test_each_server_process_has_a_node_of_its_own() -> None:
    code = "from server.sync.clock import server_clock; print(server_clock.node)"
    nodes = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(3)
    }
    assert len(nodes) == 3
    assert all(node.startswith(NODE_PREFIX) and len(node) <= 36 for node in nodes)


def test_the_node_is_stable_for_the_process_and_renewed_in_a_forked_child() -> None:
    first = server_clock.node
    assert server_clock.now().endswith(first)
    assert server_clock.node == first
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports its node and leaves at once
        os.write(write, server_clock.node.encode())
        os._exit(0)
    os.waitpid(pid, 0)
    os.close(write)
    child = os.read(read, 100).decode()
    os.close(read)
    assert child.startswith(NODE_PREFIX)
    assert child != first


def test_two_server_clocks_in_one_millisecond_never_stamp_alike() -> None:
    stamps = {ServerClock().now() for _ in range(200)}
    assert len(stamps) == 200


def test_a_record_answer_carries_its_version_as_the_etag_to_send_back(
    client: TestClient[Litestar], settings: Settings, world: World, store: Store
) -> None:
    callers = _Callers(client, settings, world)
    account_id = world.accounts["N1"][2]
    headers = callers.headers["admin"]
    got = client.get(f"/api/v1/accounts/{account_id}", headers=headers)
    assert got.headers["etag"] == f'"{got.json()["version"]}"'
    changed = callers.patch(
        "admin", account_id, {"notes": "n"}, **{"If-Match": got.headers["etag"]}
    )
    assert changed.status_code == 200
    assert changed.headers["etag"] == f'"{changed.json()["version"]}"'
    assert "etag" not in client.get("/api/v1/accounts", headers=headers).headers
    assert _conflicts(store.url) == []
