"""``fieldline jobs …`` and ``fieldline leads …`` run in-process against a store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from server.cli import main
from server.leads.models import Lead
from tests.seed import run_db
from tests.server.leads.world import HAMBURG, lead, leads_world, update_user
from tests.stores import Store


def test_jobs_run_executes_a_job_and_jobs_list_shows_the_run(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    leads_world(store.url)
    assert main(["--database-url", store.url, "jobs", "run", "leads.assign_pending"]) == 0
    ran = json.loads(capsys.readouterr().out)
    assert (ran["job"], ran["status"], ran["result"]) == (
        "leads.assign_pending",
        "succeeded",
        {"evaluated": 0, "assigned": 0},
    )
    assert main(["--database-url", store.url, "jobs", "list"]) == 0
    listing = capsys.readouterr().out
    assert "leads.assign_pending  every 120s" in listing
    assert "succeeded" in listing and "manual" in listing and "cli:" in listing
    assert "leads.first_touch_sla  every 300s" in listing and "(never ran)" in listing


def test_jobs_run_refuses_an_unknown_job(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--database-url", store.url, "jobs", "run", "nope"]) == 2
    assert "no job 'nope'" in capsys.readouterr().out


def test_leads_assign_pending_assigns_the_queue(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    world = leads_world(store.url)

    async def add(session: AsyncSession) -> str:
        row = Lead(company="Queued", status="new", region_id=world.regions["NORTH"], **HAMBURG)
        session.add(row)
        await session.flush()
        return row.id

    lead_id = run_db(store.url, add)
    assert main(["--database-url", store.url, "leads", "assign-pending"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "evaluated": 1,
        "assigned": 1,
        "still_unassigned": 0,
    }
    assert lead(store.url, lead_id).assignee_id == world.user("rep_n1")


def test_leads_simulate_prints_the_per_rep_difference(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = leads_world(store.url)
    update_user(store.url, world.user("rep_n2"), service_radius_km=200.0)
    draft = tmp_path / "draft.json"
    draft.write_text(json.dumps({"weights": {"fairness": 0, "distance": 1}}))
    assert (
        main(
            [
                "--database-url",
                store.url,
                "leads",
                "simulate",
                "--region",
                "NORTH",
                "--rules",
                str(draft),
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["region_id"] == world.regions["NORTH"] and out["leads"] == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"weights": {"distance": "far"}}))
    assert (
        main(
            [
                "--database-url",
                store.url,
                "leads",
                "simulate",
                "--region",
                "NORTH",
                "--rules",
                str(bad),
            ]
        )
        == 2
    )
    assert "rules.weights.distance" in capsys.readouterr().err


def test_leads_simulate_takes_a_region_code_or_name_in_any_case_and_names_the_reps(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    world = leads_world(store.url)
    for spelling in ("north", "North", "NORTH", " nOrTh "):
        assert main(["--database-url", store.url, "leads", "simulate", "--region", spelling]) == 0
        out = json.loads(capsys.readouterr().out)
        assert (out["region_id"], out["region"]) == (world.regions["NORTH"], "North")
    with pytest.raises(SystemExit, match="no region 'middle' \\(regions: NORTH, SOUTH\\)"):
        main(["--database-url", store.url, "leads", "simulate", "--region", "middle"])
