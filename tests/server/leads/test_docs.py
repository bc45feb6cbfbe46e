"""docs/leads.md stays in step with the precedence table, the reasons, the rules and the jobs."""

from __future__ import annotations

from pathlib import Path

import msgspec

from server.jobs.registry import registered_jobs
from server.leads.rules import PRECEDENCE, AssignmentRules, UnassignedReason
from server.settings import Settings

DOC = (Path(__file__).resolve().parents[3] / "docs" / "leads.md").read_text()


def test_every_precedence_step_is_a_row_of_the_documented_table_in_order() -> None:
    rows = [line for line in DOC.splitlines() if line.startswith("| ") and "| `" in line]
    documented = [
        row.split("|")[2].strip().strip("`") for row in rows if row.split("|")[1].strip().isdigit()
    ]
    assert documented == [step.rule for step in PRECEDENCE]


def test_every_unassigned_reason_and_rule_field_is_documented() -> None:
    for reason in UnassignedReason:
        assert f"`{reason.value}`" in DOC
    for field in msgspec.structs.fields(AssignmentRules):
        assert f"`{field.name}" in DOC, field.name


def test_every_job_and_command_is_documented() -> None:
    for spec in registered_jobs(Settings(env="test", jobs_test_interval_s=1)):
        if not spec.name.startswith(("leads.", "jobs.")):
            continue  # other areas document their own jobs
        assert f"`{spec.name}`" in DOC
    for command in (
        "fieldline jobs list",
        "fieldline jobs run NAME",
        "fieldline leads simulate",
        "fieldline leads assign-pending",
    ):
        assert command in DOC
