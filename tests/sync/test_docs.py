"""docs/conflict-rules.md is generated from the tables; the committed page must match."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sync import docgen
from sync.machines import MACHINES
from sync.rules import RULES

PAGE = Path(__file__).resolve().parents[2] / "docs" / "conflict-rules.md"


def test_committed_rules_page_matches_the_generator() -> None:
    assert PAGE.read_text(encoding="utf-8") == docgen.render(), (
        "docs/conflict-rules.md is stale: run `python -m sync.docgen > docs/conflict-rules.md`"
    )


def test_generator_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sync.docgen"],
        capture_output=True,
        check=True,
        cwd=PAGE.parents[1],
    )
    assert done.stdout.decode("utf-8") == docgen.render()


def test_page_has_a_row_for_every_field_and_every_transition() -> None:
    page = docgen.render()
    for entity, rules in RULES.items():
        assert f"### `{entity}`" in page
        for name, rule in rules.fields.items():
            assert f"| `{name}` | {rule.policy.value} |" in page
    for machine in MACHINES.values():
        for t in machine.transitions:
            assert f"| `{t.source}` | `{t.target}` |" in page


def test_the_privacy_page_names_every_declared_personal_field() -> None:
    page = (PAGE.parent / "privacy.md").read_text(encoding="utf-8")
    for entity, rules in RULES.items():
        if not rules.subjects:
            continue
        row = next((line for line in page.splitlines() if line.startswith(f"| `{entity}`")), "")
        if not row:
            row = next(line for line in page.splitlines() if f"`{entity}`" in line)
        for name in rules.personal_fields:
            assert f"`{name}`" in row, f"docs/privacy.md: {entity}.{name} is personal"
        assert f"`{rules.erasure.value}`" in row, f"docs/privacy.md: {entity}'s erasure"
