"""Account and contact bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from server.rest import Id

__all__ = [
    "AccountCreate",
    "AccountOut",
    "AccountUpdate",
    "ContactCreate",
    "ContactOut",
    "ContactUpdate",
]

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Segment = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Line = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
City = Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
Postal = Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
Country = Annotated[
    str, msgspec.Meta(max_length=2, pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
]
Phone = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Email = Annotated[str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+$", max_length=200)]
Notes = Annotated[str, msgspec.Meta(max_length=10_000)]
Lat = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Lon = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Radius = Annotated[float, msgspec.Meta(ge=1, le=10_000)]
PersonName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class AccountOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    segment: str
    address_line: str | None
    city: str | None
    postal_code: str | None
    country: str | None
    lat: float | None
    lon: float | None
    visit_radius_m: float
    phone: str | None
    email: str | None
    notes: str | None
    territory_id: str | None
    owner_id: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class AccountCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: Id | None = None
    """Optional client-made UUID (a retried create then answers 409 instead of a duplicate)."""
    name: Name
    segment: Segment = "standard"
    address_line: Line | None = None
    city: City | None = None
    postal_code: Postal | None = None
    country: Country | None = None
    lat: Lat | None = None
    lon: Lon | None = None
    visit_radius_m: Radius = 200.0
    phone: Phone | None = None
    email: Email | None = None
    notes: Notes | None = None
    territory_id: Id | None = None
    """Defaults to the rep's own territory."""
    owner_id: Id | None = None
    """Defaults to the creating rep."""


class AccountUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name | Unset = UNSET
    segment: Segment | Unset = UNSET
    address_line: Line | Unset | None = UNSET
    city: City | Unset | None = UNSET
    postal_code: Postal | Unset | None = UNSET
    country: Country | Unset | None = UNSET
    lat: Lat | Unset | None = UNSET
    lon: Lon | Unset | None = UNSET
    visit_radius_m: Radius | Unset = UNSET
    phone: Phone | Unset | None = UNSET
    email: Email | Unset | None = UNSET
    notes: Notes | Unset | None = UNSET
    territory_id: Id | Unset | None = UNSET
    owner_id: Id | Unset | None = UNSET


class ContactOut(msgspec.Struct, kw_only=True):
    id: str
    account_id: str
    first_name: str
    last_name: str
    title: str | None
    phone: str | None
    email: str | None
    notes: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class ContactCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: Id | None = None
    account_id: Id
    first_name: PersonName
    last_name: PersonName
    title: PersonName | None = None
    phone: Phone | None = None
    email: Email | None = None
    notes: Notes | None = None


class ContactUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    account_id: Id | Unset = UNSET
    first_name: PersonName | Unset = UNSET
    last_name: PersonName | Unset = UNSET
    title: PersonName | Unset | None = UNSET
    phone: Phone | Unset | None = UNSET
    email: Email | Unset | None = UNSET
    notes: Notes | Unset | None = UNSET
