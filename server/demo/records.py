"""Row builders shared by the demo generators: plain dicts ready for a Core ``insert()``."""

from __future__ import annotations

import random
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sync.ids import new_id

__all__ = ["Row", "cents", "plain", "stochastic_round", "syncable"]

Row = dict[str, Any]
_CENT = Decimal("0.01")


def syncable(created_at: datetime, updated_at: datetime | None = None, **fields: Any) -> Row:
    """A syncable record as the sync layer expects a fresh one: version 1, no field clocks yet."""
    return {
        "id": new_id(),
        "version": 1,
        "field_clocks": {},
        "deleted_at": None,
        "origin_device_id": None,
        "created_at": created_at,
        "updated_at": updated_at or created_at,
        **fields,
    }


def plain(created_at: datetime, **fields: Any) -> Row:
    """A non-syncable record (regions, territories, users)."""
    return {"id": new_id(), "created_at": created_at, "updated_at": created_at, **fields}


def cents(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def stochastic_round(rng: random.Random, value: float) -> int:
    """``value`` rounded up with probability equal to its fraction, so small expected counts
    still add up to the right total over many draws."""
    whole = int(value)
    return whole + (1 if rng.random() < value - whole else 0)
