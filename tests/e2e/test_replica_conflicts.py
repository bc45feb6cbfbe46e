"""Two real server processes on one database, two managers editing one record at once through
the REST API, one through each: the write that lands second overwrites a value its caller never
saw, and that is recorded as a conflict naming both replicas, as a device's would be."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.sync.clock import NODE_PREFIX
from server.sync.models import ConflictRecord
from tests.conftest import make_settings
from tests.live import live_server
from tests.seed import World, run_db, seed_world, token_for
from tests.stores import Store


def _conflicts(url: str) -> list[ConflictRecord]:
    async def work(session: AsyncSession) -> list[ConflictRecord]:
        return list((await session.execute(select(ConflictRecord))).scalars())

    return run_db(url, work)


@pytest.mark.e2e
def test_two_replicas_editing_one_record_at_once_record_the_conflict(
    store: Store, tmp_path: Path
) -> None:
    world: World = seed_world(store.url, accounts_per_territory=1)
    settings = make_settings(store)
    account_id = world.accounts["N1"][0]
    callers = {
        name: {"Authorization": f"Bearer {token_for(settings, world.user(name))[0]}"}
        for name in ("mgr_north", "admin")
    }
    with ExitStack() as stack:
        replicas = [stack.enter_context(live_server(store.url, tmp_path)) for _ in range(2)]
        path = f"/api/v1/accounts/{account_id}"
        seen = httpx.get(replicas[0].url + path, headers=callers["admin"]).json()["version"]

        start = threading.Barrier(2)
        answers: dict[str, Any] = {}

        def edit(who: str, url: str) -> None:
            headers = {**callers[who], "If-Match": f'"{seen}"'}
            start.wait()
            answers[who] = httpx.patch(
                url + path, json={"notes": f"note by {who}"}, headers=headers, timeout=30
            )

        threads = [
            threading.Thread(target=edit, args=(who, replica.url))
            for who, replica in zip(("admin", "mgr_north"), replicas, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        final = httpx.get(replicas[1].url + path, headers=callers["admin"]).json()

    assert {who: a.status_code for who, a in answers.items()} == {"admin": 200, "mgr_north": 200}
    assert final["version"] == seen + 2
    [conflict] = _conflicts(store.url)
    assert conflict.field == "notes"
    assert conflict.kept == final["notes"]
    assert {conflict.kept, conflict.discarded} == {"note by admin", "note by mgr_north"}
    # Each replica stamps with its own node: the record names which one's value was lost.
    assert conflict.kept_origin is not None and conflict.discarded_origin is not None
    assert conflict.kept_origin.startswith(NODE_PREFIX)
    assert conflict.discarded_origin.startswith(NODE_PREFIX)
    assert conflict.kept_origin != conflict.discarded_origin
    assert conflict.kept_hlc is not None and conflict.discarded_hlc is not None
    assert conflict.kept_hlc > conflict.discarded_hlc
