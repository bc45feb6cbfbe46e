"""What a device looks like through the API (never its refresh-token digest)."""

from __future__ import annotations

from datetime import datetime

import msgspec

__all__ = ["DeviceOut"]


class DeviceOut(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    name: str
    app_version: str | None
    last_seen_at: datetime | None
    last_ip: str | None
    revoked_at: datetime | None
    created_at: datetime
