"""Distances and polygons for the territory rule.

The territory radius is a geodesic distance on the WGS-84 ellipsoid (geopy), which costs about
0.1-0.2 ms a call. Cheaper formulas decide almost every case exactly, because their errors are
bounded: the great-circle distance on a sphere of geopy's mean radius stays within 0.6 % of the
geodesic, and Lambert's formula for the ellipsoid within 5 m up to 3,000 km (both checked by
tests against geopy). Only a point whose distance falls inside the error band of both formulas
around the radius gets the exact geodesic answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# geopy ships no py.typed marker and typeshed has no stubs for it: ``geodesic_km`` is the one
# typed way into it.
from geopy.distance import geodesic  # type: ignore[import-untyped]

from sync.domain.geo import LAMBERT_MAX_KM, lambert_km

__all__ = [
    "BAND",
    "EARTH_RADIUS_KM",
    "geodesic_km",
    "great_circle_km",
    "lambert_km",
    "point_in_polygon",
    "radius_decided",
    "within_radius",
]

EARTH_RADIUS_KM = 6371.009
"""geopy's mean Earth radius (``geopy.distance.EARTH_RADIUS``)."""

BAND = 0.01
"""Relative band around a radius inside which the great-circle distance cannot decide."""
_LAMBERT_BAND_KM = 0.02

Polygon = Sequence[Sequence[float]]


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    # The engine's hot loop repeats this arithmetic operation for operation (same floats).
    phi1 = math.radians(lat1)
    phi2 = math.radians(lat2)
    s_lat = math.sin((phi2 - phi1) / 2)
    s_lon = math.sin(math.radians(lon2 - lon1) / 2)
    h = s_lat * s_lat + math.cos(phi1) * math.cos(phi2) * (s_lon * s_lon)
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h) if h < 1.0 else 1.0)


def geodesic_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return float(geodesic((lat1, lon1), (lat2, lon2)).km)


def within_radius(lat1: float, lon1: float, lat2: float, lon2: float, radius_km: float) -> bool:
    """Geodesic distance ≤ ``radius_km``, computed exactly only where it could matter."""
    return radius_decided(
        great_circle_km(lat1, lon1, lat2, lon2), lat1, lon1, lat2, lon2, radius_km
    )


def radius_decided(
    great_circle: float, lat1: float, lon1: float, lat2: float, lon2: float, radius_km: float
) -> bool:
    """``within_radius`` for a caller that already has the great-circle distance."""
    if great_circle * (1 + BAND) <= radius_km:
        return True
    if great_circle * (1 - BAND) > radius_km:
        return False
    if great_circle < LAMBERT_MAX_KM:
        approx = lambert_km(lat1, lon1, lat2, lon2)
        if approx + _LAMBERT_BAND_KM <= radius_km:
            return True
        if approx - _LAMBERT_BAND_KM > radius_km:
            return False
    return geodesic_km(lat1, lon1, lat2, lon2) <= radius_km


def point_in_polygon(lat: float, lon: float, polygon: Polygon) -> bool:
    """Even-odd ray casting over [lat, lon] vertices; a point on an edge counts as inside.
    Territories are small, so treating degrees as planar coordinates is accurate enough."""
    n = len(polygon)
    if n < 3:
        return False
    inside = False
    yj, xj = polygon[n - 1][0], polygon[n - 1][1]
    for i in range(n):
        yi, xi = polygon[i][0], polygon[i][1]
        if (
            (yi <= lat <= yj or yj <= lat <= yi)
            and (xi <= lon <= xj or xj <= lon <= xi)
            and (xj - xi) * (lat - yi) - (yj - yi) * (lon - xi) == 0
        ):
            return True  # on the edge
        if (yi > lat) != (yj > lat):
            x_cross = xi + (lat - yi) * (xj - xi) / (yj - yi)
            if lon < x_cross:
                inside = not inside
        yj, xj = yi, xi
    return inside
