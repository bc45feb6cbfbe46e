"""The consent in force, from an append-only history: one rule for the device and the server."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["current_consent"]


def current_consent(history: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Purpose → the decision in force: the latest by ``recorded_at``, then by id (ids are
    time-ordered, so of two decisions stamped alike the one recorded later wins). Decisions are
    never edited; a later one overrides. ``recorded_at`` is compared as text: both doors store
    it in one ISO 8601 UTC form."""
    current: dict[str, Mapping[str, Any]] = {}
    for record in sorted(history, key=lambda r: (_instant(r["recorded_at"]), str(r["id"]))):
        current[str(record["purpose"])] = record
    return current


def _instant(value: Any) -> str:
    text = value if isinstance(value, str) else value.isoformat()
    # One form whatever the writer used: "Z" and "+00:00" both mean UTC.
    return text.replace("+00:00", "Z")
