"""``fieldline simulate`` lives on whatever the server already holds: run again on the same day
against the same server, the reps find the first run's visits completed, a visit still in
progress, one cancelled, orders submitted and a ticket closed, and plan their day around them:
no move the state machines refuse, nothing refused by the server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from client_sdk.client import FieldClient
from client_sdk.secrets import MemoryTokenStore
from client_sdk.simulate import SimConfig, SimResult, simulate
from tests.live import live_server
from tests.seed import PASSWORD, seed_world
from tests.stores import Store

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPS = ["rep_n1", "rep_s1"]


def _simulated_day() -> date:
    """The day ``simulate(days=1)`` lives: yesterday."""
    return datetime.now(UTC).date() - timedelta(days=1)


def _run(server_url: str, workdir: Path) -> SimResult:
    return simulate(
        SimConfig(
            server=server_url,
            reps=len(REPS),
            days=1,
            offline_ratio=0.5,
            password=PASSWORD,
            usernames=REPS,
            workdir=workdir,
            seed=5,
        )
    )


@contextmanager
def _phone(server_url: str, workdir: Path, username: str) -> Iterator[FieldClient]:
    """Another device of the rep, synced in on login."""
    workdir.mkdir(parents=True, exist_ok=True)
    client = FieldClient(
        workdir / f"{username}-phone.db", server_url=server_url, token_store=MemoryTokenStore()
    )
    try:
        client.login(username, PASSWORD, device_name="phone")
        client.sync()
        yield client
    finally:
        client.close()


def _lived_a_clean_day(result: SimResult) -> None:
    assert result.ok, [r.missing for r in result.reps]
    for rep in result.reps:
        assert rep.unsent == 0 and rep.rejected == 0 and rep.visits > 0
        assert rep.arrived == rep.captured > 0


def _leave_the_day_unfinished(client: FieldClient, day: date) -> dict[str, str]:
    """On the phone, later that day: a visit checked in and not out, a visit cancelled, an
    order taken, a ticket opened and closed. Returns the two visits' ids."""
    account, other = client.accounts()[:2]
    at = datetime(day.year, day.month, day.day, 16, 0, tzinfo=UTC)
    left_open = client.plan_visit(account.id, day, purpose="late call")
    client.check_in(left_open.id, lat=float(account["lat"]), lon=float(account["lon"]), at=at)
    called_off = client.cancel_visit(client.plan_visit(other.id, day, purpose="called off").id)
    client.take_order(account.id, [(client.products()[0].id, 2)])
    ticket = client.open_ticket(account.id, "Broken shelf")
    client.move_ticket(ticket.id, "resolved")
    client.move_ticket(ticket.id, "closed")
    assert client.sync().rejected == 0 and client.status().unsent == 0
    return {"in_progress": left_open.id, "cancelled": called_off.id}


def test_a_second_run_on_the_same_day_plans_around_what_the_day_left(
    store: Store, tmp_path: Path
) -> None:
    seed_world(store.url, accounts_per_territory=4)
    day = _simulated_day()
    with live_server(store.url, tmp_path) as server:
        first = _run(server.url, tmp_path / "first")
        _lived_a_clean_day(first)
        with _phone(server.url, tmp_path, REPS[0]) as phone:
            left = _leave_the_day_unfinished(phone, day)
            completed_before = {
                v.id: v.get("check_out_at")
                for v in phone.visits(day)
                if v.get("status") == "completed"
            }
        assert completed_before

        second = _run(server.url, tmp_path / "second")
        _lived_a_clean_day(second)

        with _phone(server.url, tmp_path / "after", REPS[0]) as phone:
            after = {v.id: v for v in phone.visits(day)}
    # The visit left in progress was checked out (after its check-in), the cancelled one left
    # alone, and the visits the first run completed keep their check-out.
    finished = after[left["in_progress"]]
    assert finished.get("status") == "completed"
    assert str(finished.get("check_out_at")) > str(finished.get("check_in_at"))
    assert after[left["cancelled"]].get("status") == "cancelled"
    for visit_id, check_out_at in completed_before.items():
        assert after[visit_id].get("status") == "completed"
        assert after[visit_id].get("check_out_at") == check_out_at
