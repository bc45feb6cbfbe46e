"""Who is calling: the one value every service receives to scope its queries."""

from __future__ import annotations

import msgspec

from server.auth.models import Role

__all__ = ["Principal"]


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """A logged-in user on a device, or a back-office API key (``user_id`` None)."""

    role: Role
    user_id: str | None = None
    username: str | None = None
    device_id: str | None = None
    region_id: str | None = None
    territory_id: str | None = None
    territory_region_id: str | None = None
    """The region of the user's territory, read with the user: the scope keys of what a rep
    pushes in their own territory need it, and it saves each push a lookup."""
    api_key_id: str | None = None
    scopes: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def actor(self) -> str:
        return self.username or (f"api-key:{self.api_key_id}" if self.api_key_id else "anonymous")
