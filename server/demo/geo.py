"""Just enough plane geometry for the demo map.

Territory polygons are Voronoi cells: a regular polygon around each city, clipped by the
perpendicular bisector towards every neighbouring city, so neighbouring territories share an edge
and never overlap. The clipping happens on one equirectangular projection for the whole country;
the projection is affine, so straight edges stay straight in [lat, lon] and the cells stay
disjoint there too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["cells", "haversine_km", "inside", "offset"]

_REF_LAT = 51.0
_KM_PER_DEG_LAT = 111.2
_KM_PER_DEG_LON = 111.32 * math.cos(math.radians(_REF_LAT))
_EARTH_RADIUS_KM = 6371.0088

Point = tuple[float, float]


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def offset(lat: float, lon: float, north_km: float, east_km: float) -> Point:
    """The point ``north_km``/``east_km`` away (flat-earth approximation, fine below ~50 km)."""
    return (
        lat + north_km / _KM_PER_DEG_LAT,
        lon + east_km / (111.32 * math.cos(math.radians(lat))),
    )


def _project(lat: float, lon: float) -> Point:
    return (lon * _KM_PER_DEG_LON, lat * _KM_PER_DEG_LAT)


def _unproject(x: float, y: float) -> Point:
    return (y / _KM_PER_DEG_LAT, x / _KM_PER_DEG_LON)


def _clip(polygon: list[Point], a: Point, b: Point) -> list[Point]:
    """Keep the part of ``polygon`` nearer to ``a`` than to ``b`` (Sutherland–Hodgman)."""
    nx, ny = b[0] - a[0], b[1] - a[1]
    mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2

    def side(p: Point) -> float:
        return (p[0] - mx) * nx + (p[1] - my) * ny

    out: list[Point] = []
    for i, current in enumerate(polygon):
        previous = polygon[i - 1]
        s_cur, s_prev = side(current), side(previous)
        if s_cur <= 0:
            if s_prev > 0:
                out.append(_intersect(previous, current, s_prev, s_cur))
            out.append(current)
        elif s_prev <= 0:
            out.append(_intersect(previous, current, s_prev, s_cur))
    return out


def _intersect(p: Point, q: Point, sp: float, sq: float) -> Point:
    t = sp / (sp - sq)
    return (p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]))


def cells(
    centres: Sequence[Point], radii_km: Sequence[float], *, sides: int = 24
) -> list[list[list[float]]]:
    """One polygon per centre, as ``[[lat, lon], …]`` rounded to 6 decimals (~0.1 m)."""
    projected = [_project(lat, lon) for lat, lon in centres]
    result: list[list[list[float]]] = []
    for i, (cx, cy) in enumerate(projected):
        radius = radii_km[i]
        polygon = [
            (
                cx + radius * math.cos(2 * math.pi * k / sides),
                cy + radius * math.sin(2 * math.pi * k / sides),
            )
            for k in range(sides)
        ]
        for j, other in enumerate(projected):
            if j != i and math.dist((cx, cy), other) < radius + radii_km[j]:
                polygon = _clip(polygon, (cx, cy), other)
        result.append([[round(v, 6) for v in _unproject(x, y)] for x, y in polygon])
    return result


def inside(lat: float, lon: float, polygon: Sequence[Sequence[float]]) -> bool:
    """Ray casting on [lat, lon] vertices."""
    hit = False
    n = len(polygon)
    for i in range(n):
        lat_i, lon_i = polygon[i][0], polygon[i][1]
        lat_j, lon_j = polygon[i - 1][0], polygon[i - 1][1]
        if (lat_i > lat) != (lat_j > lat):
            cross = lon_i + (lat - lat_i) * (lon_j - lon_i) / (lat_j - lat_i)
            if lon < cross:
                hit = not hit
    return hit
