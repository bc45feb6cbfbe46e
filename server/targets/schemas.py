"""Wire shapes of the targets API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

__all__ = ["AttainmentOut", "ImportOut", "LineErrorOut", "TargetIn", "TargetList", "TargetOut"]

Month = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")]


class TargetIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    scope: Literal["rep", "territory", "region"]
    scope_id: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
    """The rep's, territory's or region's id (a rep's username or a territory/region code also
    names it)."""
    month: Month
    amount: Annotated[float, msgspec.Meta(ge=0, le=1e12, description="The month's quota")]


class TargetOut(msgspec.Struct, kw_only=True):
    id: str
    scope: str
    scope_id: str
    region_id: str
    month: str
    amount: float
    currency: str
    set_by_id: str | None
    updated_at: datetime


class TargetList(msgspec.Struct, kw_only=True):
    items: list[TargetOut]


class LineErrorOut(msgspec.Struct, kw_only=True):
    line: int
    field: str | None
    message: str


class ImportOut(msgspec.Struct, kw_only=True):
    created: int
    updated: int


class AttainmentOut(msgspec.Struct, kw_only=True):
    scope: str
    scope_id: str
    scope_name: str
    month: str
    timezone: str
    target: float | None
    target_source: str
    """set, sum of reps, sum of territories, or none."""
    actual: float
    """Counted sales so far: submitted, accepted, fulfilled and invoiced orders."""
    expected_share: float
    """Share of the month's sales expected by now (working days and the seasonal shape)."""
    expected_to_date: float | None
    attainment: float | None
    pace: float | None
    projection: float | None
    status: str
    last_year: float
    last_year_to_date: float
    yoy: float | None
