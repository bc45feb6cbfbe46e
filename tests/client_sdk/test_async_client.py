from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path

from client_sdk import AsyncFieldClient, FieldClient, MemoryTokenStore
from tests.client_sdk.conftest import pretend_logged_in


def test_the_async_client_runs_the_same_core_on_a_worker_thread(tmp_path: Path) -> None:
    core_threads: list[str] = []

    def now() -> datetime:
        core_threads.append(threading.current_thread().name)
        return datetime.now(UTC)

    async def main() -> tuple[str, int]:
        async with AsyncFieldClient(
            tmp_path / "rep.db", token_store=MemoryTokenStore(), now=now
        ) as client:
            pretend_logged_in(client.client)
            lead = await client.capture_lead("Async GmbH")
            assert await client.route() == []
            stored = await client.get("lead", lead.id)
            assert stored is not None and stored["company"] == "Async GmbH"
            status = await client.status()
            return threading.current_thread().name, status.unsent

    loop_thread, unsent = asyncio.run(main())
    assert core_threads and all(t.startswith("fieldline-sdk") for t in core_threads)
    assert loop_thread not in core_threads
    assert unsent == 1
    reopened = FieldClient(tmp_path / "rep.db", token_store=MemoryTokenStore())
    assert [m.fields["company"] for m in reopened.outbox.pending()] == ["Async GmbH"]
    reopened.close()
