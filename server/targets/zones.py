"""Which time zone a region's pages and figures are read in."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.org.models import Region
from server.settings import Settings

__all__ = ["display_zone", "valid_zone"]


def valid_zone(name: str | None) -> bool:
    if not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


async def display_zone(session: AsyncSession, settings: Settings, region_id: str | None) -> str:
    """The time zone setting when given; else the region's own; else UTC. A month, a day and
    "to date" all begin at local midnight in it."""
    configured = getattr(settings, "timezone", None)
    if valid_zone(configured):
        return str(configured)
    if region_id is not None:
        zone = (
            await session.execute(select(Region.timezone).where(Region.id == region_id))
        ).scalar_one_or_none()
        if valid_zone(zone):
            return str(zone)
    return "UTC"
