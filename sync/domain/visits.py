"""Visit verification and route planning, shared by the device (shown to the rep at once) and the
server (recomputed on push: a device can never declare itself verified).

This module is the one place in ``sync`` that imports a third-party library besides msgspec:
``geopy.distance`` — pure geodesic arithmetic (WGS-84 ellipsoid, Karney's algorithm), no I/O.

Verification
------------
A check-in is a GPS fix (lat, lon, accuracy in metres, time). Flags, in this order:

==================== ====== ==========================================================
flag                 weight when
==================== ====== ==========================================================
no_location          1.0    the check-in has no fix
account_not_located  0.5    the account has no coordinates to compare with
outside_radius       0.5    distance > radius + min(accuracy, radius)
low_accuracy         0.2    accuracy unknown or worse than ``max_accuracy_m``
impossible_travel    0.6    from the previous check-in, faster than ``max_speed_kmh``
too_short            0.3    checked out less than ``min_minutes`` after checking in
overlapping_visit    0.4    another visit of the rep was in progress at the same time
==================== ====== ==========================================================

The fix's accuracy widens the radius by at most the radius itself, so a vague fix cannot verify
a check-in from across town. For travel speed, both fixes' accuracies are taken off the distance
first, so GPS noise between two neighbouring shops is never "impossible".

``verified`` means: a fix, a located account, inside the radius, and none of the ghost-visit
flags (impossible travel, too short, overlapping). ``score`` starts at 1.0, loses each raised
flag's weight, is clamped to [0, 1] and rounded to three places: a review queue sorts by it.

Routes
------
``plan_route`` orders the day's stops from the rep's position: nearest neighbour first, then 2-opt
(reverse any stretch of the path while that shortens it) on geodesic distances. Ties break on the
stop id, so the same input always gives the same route.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from types import MappingProxyType

from sync.domain.geo import LAMBERT_MAX_KM, lambert_km

__all__ = [
    "FLAGS",
    "FLAG_WEIGHTS",
    "GHOST_FLAGS",
    "Fix",
    "Verification",
    "distance_m",
    "located",
    "plan_route",
    "route_length_m",
    "verify_visit",
]

FLAG_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "no_location": 1.0,
        "account_not_located": 0.5,
        "outside_radius": 0.5,
        "low_accuracy": 0.2,
        "impossible_travel": 0.6,
        "too_short": 0.3,
        "overlapping_visit": 0.4,
    }
)
FLAGS: tuple[str, ...] = tuple(FLAG_WEIGHTS)
GHOST_FLAGS = frozenset({"impossible_travel", "too_short", "overlapping_visit"})


@dataclass(frozen=True)
class Fix:
    lat: float
    lon: float
    accuracy_m: float | None
    at: datetime


@dataclass(frozen=True)
class Verification:
    verified: bool
    distance_m: float | None
    flags: tuple[str, ...]
    score: float


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance in metres between two (lat, lon) points on the WGS-84 ellipsoid: Lambert's
    formula (centimetres from the geodesic over a visit's distances, sync/domain/geo.py), the
    exact geodesic for the rare pair further apart than it holds for."""
    km = lambert_km(a[0], a[1], b[0], b[1])
    if km < LAMBERT_MAX_KM:
        return km * 1000.0
    # Imported here: geopy loads a geodesic library that a device not measuring a visit (a
    # status read, the rep command line) should not wait for.
    from geopy.distance import geodesic  # type: ignore[import-untyped]

    return float(geodesic(a, b).meters)


def located(lat: float | None, lon: float | None) -> bool:
    """A usable position: both coordinates present and on the globe. Records stored before the
    rulebook bounded coordinates may hold others; they count as not located rather than
    breaking the geodesic maths (which raises on them)."""
    return (
        lat is not None
        and lon is not None
        and -90.0 <= lat <= 90.0
        and -180.0 <= lon <= 180.0  # NaN fails both comparisons
    )


def _impossible_travel(previous: Fix, current: Fix, max_speed_kmh: float) -> bool:
    slack = (previous.accuracy_m or 0.0) + (current.accuracy_m or 0.0)
    km = max(0.0, distance_m((previous.lat, previous.lon), (current.lat, current.lon)) - slack)
    km /= 1000.0
    hours = (current.at - previous.at).total_seconds() / 3600.0
    if km == 0.0:
        return False
    if hours <= 0.0:
        return True
    return km / hours > max_speed_kmh


def verify_visit(
    *,
    check_in: Fix | None,
    account_lat: float | None,
    account_lon: float | None,
    radius_m: float,
    check_out_at: datetime | None,
    previous_check_in: Fix | None,
    overlapping: bool,
    min_minutes: float,
    max_speed_kmh: float,
    max_accuracy_m: float = 100.0,
) -> Verification:
    raised: set[str] = set()
    distance: float | None = None
    inside = False
    if check_in is not None and not located(check_in.lat, check_in.lon):
        check_in = None
    if previous_check_in is not None and not located(previous_check_in.lat, previous_check_in.lon):
        previous_check_in = None
    if check_in is None:
        raised.add("no_location")
    else:
        accuracy = check_in.accuracy_m
        if accuracy is None or accuracy > max_accuracy_m:
            raised.add("low_accuracy")
        if account_lat is None or account_lon is None or not located(account_lat, account_lon):
            raised.add("account_not_located")
        else:
            distance = distance_m((check_in.lat, check_in.lon), (account_lat, account_lon))
            tolerance = min(accuracy or 0.0, radius_m)
            inside = distance <= radius_m + tolerance
            if not inside:
                raised.add("outside_radius")
        if previous_check_in is not None and _impossible_travel(
            previous_check_in, check_in, max_speed_kmh
        ):
            raised.add("impossible_travel")
        if check_out_at is not None:
            minutes = (check_out_at - check_in.at).total_seconds() / 60.0
            if minutes < min_minutes:
                raised.add("too_short")
    if overlapping:
        raised.add("overlapping_visit")
    flags = tuple(flag for flag in FLAGS if flag in raised)
    score = 1.0 - sum(FLAG_WEIGHTS[flag] for flag in flags)
    return Verification(
        verified=inside and not (raised & GHOST_FLAGS),
        distance_m=None if distance is None else round(distance, 1),
        flags=flags,
        score=round(min(1.0, max(0.0, score)), 3),
    )


def route_length_m(start: tuple[float, float], stops: Sequence[tuple[str, float, float]]) -> float:
    """Length of the open path from ``start`` through ``stops`` in order."""
    points = [start, *((lat, lon) for _, lat, lon in stops)]
    return sum(distance_m(a, b) for a, b in pairwise(points))


def plan_route(start: tuple[float, float], stops: Sequence[tuple[str, float, float]]) -> list[str]:
    if not stops:
        return []
    ordered_stops = sorted(stops, key=lambda stop: stop[0])
    points = [start, *((lat, lon) for _, lat, lon in ordered_stops)]
    n = len(points)
    dist = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            dist[i][j] = dist[j][i] = distance_m(points[i], points[j])

    # Nearest neighbour from the start (index 0); ties go to the lower index, i.e. the lower id.
    path = [0]
    remaining = set(range(1, n))
    while remaining:
        here = path[-1]
        nearest = min(remaining, key=lambda k: (dist[here][k], k))
        path.append(nearest)
        remaining.remove(nearest)

    # 2-opt on an open path with a fixed start: reverse path[i..j] while that shortens it.
    improved = True
    while improved:
        improved = False
        for i in range(1, n - 1):
            for j in range(i + 1, n):
                before = dist[path[i - 1]][path[i]]
                after = dist[path[i - 1]][path[j]]
                if j + 1 < n:
                    before += dist[path[j]][path[j + 1]]
                    after += dist[path[i]][path[j + 1]]
                if after < before - 1e-6:
                    path[i : j + 1] = reversed(path[i : j + 1])
                    improved = True
    return [ordered_stops[k - 1][0] for k in path[1:]]
