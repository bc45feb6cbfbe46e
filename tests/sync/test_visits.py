"""Visit verification and route planning on real coordinates (Berlin, Munich)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.domain.visits import (
    FLAG_WEIGHTS,
    Fix,
    Verification,
    distance_m,
    plan_route,
    route_length_m,
    verify_visit,
)

ALEX = (52.5219, 13.4132)  # Berlin, Alexanderplatz
MUNICH = (48.1374, 11.5755)
T0 = datetime(2024, 5, 2, 9, 0, tzinfo=UTC)
RULES = {"min_minutes": 5.0, "max_speed_kmh": 130.0}


def fix(lat: float, lon: float, accuracy: float | None = 10.0, at: datetime = T0) -> Fix:
    return Fix(lat=lat, lon=lon, accuracy_m=accuracy, at=at)


def verify(check_in: Fix | None, **kw: object) -> Verification:
    args: dict[str, object] = {
        "check_in": check_in,
        "account_lat": ALEX[0],
        "account_lon": ALEX[1],
        "radius_m": 200.0,
        "check_out_at": T0 + timedelta(minutes=30),
        "previous_check_in": None,
        "overlapping": False,
        **RULES,
    }
    args.update(kw)
    return verify_visit(**args)  # type: ignore[arg-type]


def test_a_check_in_at_the_account_is_verified_with_full_score() -> None:
    got = verify(fix(*ALEX))
    assert (got.verified, got.flags, got.score, got.distance_m) == (True, (), 1.0, 0.0)


def test_a_check_in_inside_the_radius_is_verified_with_its_distance() -> None:
    got = verify(fix(ALEX[0] + 0.001, ALEX[1]))  # about 111 m north
    assert got.verified
    assert 105 < got.distance_m < 117


def test_a_check_in_outside_the_radius_is_kept_but_flagged() -> None:
    got = verify(fix(ALEX[0] + 0.003, ALEX[1], accuracy=10.0))  # about 334 m
    assert not got.verified
    assert got.flags == ("outside_radius",)
    assert got.score == pytest.approx(1.0 - FLAG_WEIGHTS["outside_radius"])


def test_accuracy_widens_the_radius() -> None:
    about_334_m = (ALEX[0] + 0.003, ALEX[1])
    assert "outside_radius" in verify(fix(*about_334_m, accuracy=90.0)).flags  # > 200 + 90
    assert "outside_radius" not in verify(fix(*about_334_m, accuracy=150.0)).flags  # ≤ 200 + 150


def test_accuracy_widens_the_radius_by_at_most_the_radius() -> None:
    about_556_m = (ALEX[0] + 0.005, ALEX[1])
    assert "outside_radius" in verify(fix(*about_556_m, accuracy=5_000.0)).flags  # > 200 + 200


def test_low_accuracy_is_flagged_without_unverifying() -> None:
    got = verify(fix(*ALEX, accuracy=150.0))
    assert got.flags == ("low_accuracy",)
    assert got.verified
    assert verify(fix(*ALEX, accuracy=None)).flags == ("low_accuracy",)


def test_no_location_scores_zero() -> None:
    got = verify(None)
    assert (got.verified, got.flags, got.score, got.distance_m) == (
        False,
        ("no_location",),
        0.0,
        None,
    )


def test_an_account_without_coordinates_cannot_verify() -> None:
    got = verify(fix(*ALEX), account_lat=None, account_lon=None)
    assert (got.verified, got.flags, got.distance_m) == (False, ("account_not_located",), None)


def test_impossible_travel_from_the_previous_check_in_is_a_ghost_flag() -> None:
    previous = fix(*MUNICH, at=T0 - timedelta(minutes=30))  # ~500 km in half an hour
    got = verify(fix(*ALEX), previous_check_in=previous)
    assert got.flags == ("impossible_travel",)
    assert not got.verified


def test_plausible_travel_is_not_flagged() -> None:
    previous = fix(ALEX[0] + 0.09, ALEX[1], at=T0 - timedelta(minutes=30))  # 10 km, 20 km/h
    assert verify(fix(*ALEX), previous_check_in=previous).flags == ()


def test_gps_noise_between_neighbours_is_not_impossible_travel() -> None:
    previous = fix(ALEX[0] + 0.0005, ALEX[1], accuracy=40.0, at=T0)  # 56 m, same instant
    assert verify(fix(*ALEX, accuracy=30.0), previous_check_in=previous).flags == ()


def test_too_short_visit_is_a_ghost_flag() -> None:
    got = verify(fix(*ALEX), check_out_at=T0 + timedelta(minutes=3))
    assert got.flags == ("too_short",)
    assert not got.verified
    assert verify(fix(*ALEX), check_out_at=None).flags == ()


def test_overlapping_visit_is_a_ghost_flag() -> None:
    got = verify(fix(*ALEX), overlapping=True)
    assert (got.flags, got.verified) == (("overlapping_visit",), False)


def test_flags_come_in_table_order_and_the_score_never_goes_negative() -> None:
    previous = fix(*MUNICH, at=T0 - timedelta(minutes=5))
    got = verify(
        fix(ALEX[0] + 0.01, ALEX[1], accuracy=500.0),
        previous_check_in=previous,
        check_out_at=T0 + timedelta(minutes=1),
        overlapping=True,
    )
    assert got.flags == (
        "outside_radius",
        "low_accuracy",
        "impossible_travel",
        "too_short",
        "overlapping_visit",
    )
    assert got.score == 0.0


def test_distance_is_geodesic() -> None:
    assert distance_m(ALEX, MUNICH) == pytest.approx(504_000, rel=0.01)


# --- routes -----------------------------------------------------------------------------


def test_route_visits_stops_along_a_line_in_order() -> None:
    stops = [("c", 52.03, 13.0), ("a", 52.01, 13.0), ("b", 52.02, 13.0)]
    assert plan_route((52.0, 13.0), stops) == ["a", "b", "c"]


def test_route_of_nothing_is_empty() -> None:
    assert plan_route(ALEX, []) == []


def test_route_does_not_depend_on_input_order() -> None:
    rng = random.Random(7)
    stops = [(f"s{i}", 52.4 + rng.random() * 0.3, 13.2 + rng.random() * 0.4) for i in range(12)]
    first = plan_route(ALEX, stops)
    rng.shuffle(stops)
    assert plan_route(ALEX, stops) == first


def _nearest_neighbour(
    start: tuple[float, float], stops: list[tuple[str, float, float]]
) -> list[tuple[str, float, float]]:
    left = sorted(stops)
    here, route = start, []
    while left:
        nxt = min(left, key=lambda s: (distance_m(here, (s[1], s[2])), s[0]))
        route.append(nxt)
        left.remove(nxt)
        here = (nxt[1], nxt[2])
    return route


coords = st.tuples(
    st.floats(min_value=52.3, max_value=52.7), st.floats(min_value=13.1, max_value=13.7)
)


@settings(max_examples=25, deadline=None)
@given(coords, st.lists(coords, min_size=1, max_size=9))
def test_route_is_a_permutation_no_longer_than_nearest_neighbour(
    start: tuple[float, float], points: list[tuple[float, float]]
) -> None:
    stops = [(f"s{i}", lat, lon) for i, (lat, lon) in enumerate(points)]
    route = plan_route(start, stops)
    assert sorted(route) == sorted(s[0] for s in stops)
    by_id = {s[0]: s for s in stops}
    length = route_length_m(start, [by_id[i] for i in route])
    assert length <= route_length_m(start, _nearest_neighbour(start, stops)) + 1e-6


def test_two_opt_shortens_some_nearest_neighbour_routes() -> None:
    rng = random.Random(11)
    improved = 0
    for _ in range(12):
        stops = [(f"s{i}", 52.3 + rng.random() * 0.4, 13.1 + rng.random() * 0.6) for i in range(8)]
        by_id = {s[0]: s for s in stops}
        planned = route_length_m(ALEX, [by_id[i] for i in plan_route(ALEX, stops)])
        if planned < route_length_m(ALEX, _nearest_neighbour(ALEX, stops)) - 1.0:
            improved += 1
    assert improved > 0
