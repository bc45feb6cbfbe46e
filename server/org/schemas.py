"""Region and territory bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from server.rest import Id

__all__ = [
    "RegionCreate",
    "RegionOut",
    "RegionUpdate",
    "TerritoryCreate",
    "TerritoryOut",
    "TerritoryUpdate",
]

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType

Code = Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9_-]{1,20}$", description="e.g. NORTH, N1")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
TimeZone = Annotated[str, msgspec.Meta(min_length=1, max_length=60, description="IANA zone")]
Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217")]
Lat = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Lon = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Vertex = Annotated[list[float], msgspec.Meta(min_length=2, max_length=2, description="[lat, lon]")]
Polygon = Annotated[list[Vertex], msgspec.Meta(min_length=3, max_length=10_000)]


class RegionOut(msgspec.Struct, kw_only=True):
    id: str
    code: str
    name: str
    timezone: str
    currency: str
    price_list_id: str | None
    created_at: datetime
    updated_at: datetime


class RegionCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: Code
    name: Name
    timezone: TimeZone = "UTC"
    currency: Currency = "EUR"
    price_list_id: Id | None = None


class RegionUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: Code | Unset = UNSET
    name: Name | Unset = UNSET
    timezone: TimeZone | Unset = UNSET
    currency: Currency | Unset = UNSET
    price_list_id: Id | Unset | None = UNSET


class TerritoryOut(msgspec.Struct, kw_only=True):
    id: str
    region_id: str
    code: str
    name: str
    center_lat: float | None
    center_lon: float | None
    boundary: list[Any] | None
    created_at: datetime
    updated_at: datetime


class TerritoryCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    region_id: Id
    code: Code
    name: Name
    center_lat: Lat | None = None
    center_lon: Lon | None = None
    boundary: Polygon | None = None


class TerritoryUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    region_id: Id | Unset = UNSET
    code: Code | Unset = UNSET
    name: Name | Unset = UNSET
    center_lat: Lat | Unset | None = UNSET
    center_lon: Lon | Unset | None = UNSET
    boundary: Polygon | Unset | None = UNSET
