"""docs/forecasting.md prints the policy tables; these keep it from drifting from the code."""

from __future__ import annotations

from pathlib import Path

from server.forecasting.blend import RUN_RATE_WEIGHTS
from server.forecasting.pipeline import PRIOR_STRENGTH, PRIOR_WIN_RATE, STAGE_PRIOR
from server.forecasting.runrate import RULES

DOC = (Path(__file__).resolve().parents[3] / "docs" / "forecasting.md").read_text()
FLAT = " ".join(DOC.split())


def test_the_rule_table_is_documented_row_by_row() -> None:
    for condition, method in RULES:
        row = next((line for line in DOC.splitlines() if line.startswith(f"| {condition} |")), None)
        assert row is not None, condition
        assert method.split(":")[0].split(" ")[0] in row


def test_the_blend_weights_are_documented() -> None:
    row = next(line for line in DOC.splitlines() if line.startswith("| run-rate weight"))
    assert [float(c) for c in row.strip("|").split("|")[1:] if c.strip()] == list(RUN_RATE_WEIGHTS)


def test_the_win_rate_priors_are_documented() -> None:
    for stage, rate in STAGE_PRIOR.items():
        assert f"{stage} {rate:.2f}" in FLAT
    assert f"r₀ = {PRIOR_WIN_RATE:.2f}" in FLAT
    assert f"k = {PRIOR_STRENGTH:g}" in FLAT


def test_every_forecast_command_is_documented() -> None:
    for command in ("fieldline forecast backtest", "fieldline forecast recompute"):
        assert f"`{command}" in DOC
