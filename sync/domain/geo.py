"""Distances on the WGS-84 ellipsoid, for the device and the server alike.

geopy's geodesic is exact and costs about 0.15 ms a call; Lambert's formula for long lines costs
about 2 µs and stays within 5 m of it up to 3,000 km, and within centimetres over the distances a
visit measures (checked against geopy by tests). A push of a field day's visits spent a quarter
of its server time in geodesic calls.
"""

from __future__ import annotations

import math

__all__ = ["LAMBERT_MAX_KM", "WGS84_A_KM", "WGS84_F", "lambert_km"]

WGS84_A_KM = 6378.137
WGS84_F = 1 / 298.257223563
LAMBERT_MAX_KM = 3000.0
"""Beyond this the formula's error grows past 5 m (and it fails near antipodes)."""


def lambert_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Lambert's formula for long lines on the WGS-84 ellipsoid."""
    b1 = math.atan((1 - WGS84_F) * math.tan(math.radians(lat1)))
    b2 = math.atan((1 - WGS84_F) * math.tan(math.radians(lat2)))
    dlam = math.radians(lon2 - lon1)
    h = math.sin((b2 - b1) / 2) ** 2 + math.cos(b1) * math.cos(b2) * math.sin(dlam / 2) ** 2
    sigma = 2 * math.asin(min(1.0, math.sqrt(h)))
    if sigma < 1e-9:
        return WGS84_A_KM * sigma
    p = (b1 + b2) / 2
    q = (b2 - b1) / 2
    x = (sigma - math.sin(sigma)) * math.sin(p) ** 2 * math.cos(q) ** 2 / math.cos(sigma / 2) ** 2
    y = (sigma + math.sin(sigma)) * math.cos(p) ** 2 * math.sin(q) ** 2 / math.sin(sigma / 2) ** 2
    return WGS84_A_KM * (sigma - WGS84_F / 2 * (x + y))
