"""Who is logged in on this device, as the server described them at login (kept in the store,
read offline)."""

from __future__ import annotations

import msgspec

__all__ = ["UserInfo"]


class UserInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    username: str
    full_name: str
    role: str
    region_id: str | None = None
    territory_id: str | None = None
    price_list_id: str | None = None
    """The price list of the rep's region, when the server sends it."""
