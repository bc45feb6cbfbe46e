"""User bodies: what an admin sends to create or change a user, and what any caller sees."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from server.auth.schemas import MIN_PASSWORD_LENGTH
from server.rest import Id

__all__ = ["RoleName", "UserCreate", "UserOut", "UserUpdate"]

RoleName = Literal["rep", "manager", "backoffice", "admin"]
Username = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._@-]{2,80}$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=160)]
Email = Annotated[str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+$", max_length=200)]
Lat = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Lon = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Weekday = Annotated[int, msgspec.Meta(ge=0, le=6)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class UserOut(msgspec.Struct, kw_only=True):
    id: str
    username: str
    full_name: str
    email: str | None
    role: str
    region_id: str | None
    territory_id: str | None
    home_lat: float | None
    home_lon: float | None
    service_radius_km: float
    capacity: int
    daily_quota: int
    weight: float
    skills: list[str]
    languages: list[str]
    working_days: list[int]
    on_leave_until: date | None
    active: bool
    created_at: datetime
    updated_at: datetime


class UserCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    username: Username
    password: Annotated[str, msgspec.Meta(min_length=MIN_PASSWORD_LENGTH, max_length=1024)]
    full_name: Name
    role: RoleName
    email: Email | None = None
    region_id: Id | None = None
    """Required for managers; for reps it follows from the territory."""
    territory_id: Id | None = None
    """Required for reps."""
    home_lat: Lat | None = None
    home_lon: Lon | None = None
    service_radius_km: Annotated[float, msgspec.Meta(gt=0, le=2000)] = 50.0
    capacity: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 25
    daily_quota: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 10
    weight: Annotated[float, msgspec.Meta(ge=0, le=100)] = 1.0
    skills: list[Tag] = []
    languages: list[Tag] = []
    working_days: list[Weekday] = msgspec.field(default_factory=lambda: [0, 1, 2, 3, 4])
    on_leave_until: date | None = None


class UserUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    full_name: Name | Unset = UNSET
    email: Email | Unset | None = UNSET
    role: RoleName | Unset = UNSET
    region_id: Id | Unset | None = UNSET
    territory_id: Id | Unset | None = UNSET
    home_lat: Lat | Unset | None = UNSET
    home_lon: Lon | Unset | None = UNSET
    service_radius_km: Annotated[float, msgspec.Meta(gt=0, le=2000)] | Unset = UNSET
    capacity: Annotated[int, msgspec.Meta(ge=0, le=10_000)] | Unset = UNSET
    daily_quota: Annotated[int, msgspec.Meta(ge=0, le=10_000)] | Unset = UNSET
    weight: Annotated[float, msgspec.Meta(ge=0, le=100)] | Unset = UNSET
    skills: list[Tag] | Unset = UNSET
    languages: list[Tag] | Unset = UNSET
    working_days: list[Weekday] | Unset = UNSET
    on_leave_until: date | Unset | None = UNSET
    active: bool | Unset = UNSET
    """False deactivates the user: their tokens stop working at once."""
