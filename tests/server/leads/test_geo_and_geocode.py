"""Distances, polygons and the offline geocoder."""

from __future__ import annotations

import asyncio
import csv
import random
from pathlib import Path

from geopy.distance import geodesic

from server.leads.geo import great_circle_km, point_in_polygon, within_radius
from server.leads.geocode import OfflineGeocoder, default_geocoder
from sync.domain.geo import lambert_km
from sync.domain.visits import distance_m

TABLE = Path(__file__).resolve().parents[3] / "server" / "leads" / "data" / "city_centroids.csv"


def _pairs(count: int, seed: int) -> list[tuple[float, float, float, float, float]]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        lat, lon = rng.uniform(-75, 75), rng.uniform(-170, 170)
        km = rng.choice([rng.uniform(0, 3), rng.uniform(0, 150), rng.uniform(0, 2900)])
        p = geodesic(kilometers=km).destination((lat, lon), bearing=rng.uniform(0, 360))
        out.append(
            (lat, lon, p.latitude, p.longitude, geodesic((lat, lon), (p.latitude, p.longitude)).km)
        )
    return out


def test_the_cheap_distances_stay_within_their_stated_error_of_the_geodesic() -> None:
    for lat1, lon1, lat2, lon2, exact in _pairs(400, 1):
        assert abs(lambert_km(lat1, lon1, lat2, lon2) - exact) < 0.005
        if exact > 0.01:
            assert 0.994 < great_circle_km(lat1, lon1, lat2, lon2) / exact < 1.006


def test_a_visit_distance_is_the_geodesic_to_the_centimetre_and_exact_far_apart() -> None:
    rng = random.Random(3)
    for _ in range(300):
        lat, lon = rng.uniform(-75, 75), rng.uniform(-170, 170)
        km = rng.choice([rng.uniform(0, 0.5), rng.uniform(0, 20), rng.uniform(3500, 9000)])
        p = geodesic(kilometers=km).destination((lat, lon), bearing=rng.uniform(0, 360))
        exact = geodesic((lat, lon), (p.latitude, p.longitude)).meters
        measured = distance_m((lat, lon), (p.latitude, p.longitude))
        assert abs(measured - exact) < (0.1 if km < 20 else 1e-6)


def test_within_radius_agrees_with_the_geodesic_right_at_the_boundary() -> None:
    for lat1, lon1, lat2, lon2, exact in _pairs(300, 2):
        for radius in (exact - 0.001, exact + 0.001, exact * 0.995, exact * 1.005):
            assert within_radius(lat1, lon1, lat2, lon2, radius) == (exact <= radius)


def test_points_on_edges_and_corners_of_a_territory_are_inside() -> None:
    square = [[50.0, 10.0], [50.0, 11.0], [51.0, 11.0], [51.0, 10.0]]
    assert point_in_polygon(50.5, 10.5, square)
    assert point_in_polygon(50.0, 10.5, square) and point_in_polygon(51.0, 11.0, square)
    assert not point_in_polygon(51.0001, 10.5, square)
    assert not point_in_polygon(50.5, 10.5, square[:2])


def test_a_concave_territory_excludes_its_notch() -> None:
    u_shape = [[0, 0], [0, 3], [3, 3], [3, 2], [1, 2], [1, 1], [3, 1], [3, 0]]
    assert point_in_polygon(0.5, 1.5, u_shape)
    assert not point_in_polygon(2.0, 1.5, u_shape)


def test_the_bundled_table_holds_a_few_hundred_real_cities() -> None:
    with TABLE.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) >= 300
    assert {r["country"] for r in rows} == {"DE", "AT", "CH", "NL", "FR"}
    for r in rows:
        assert 41.0 < float(r["lat"]) < 55.5 and -5.0 < float(r["lon"]) < 17.0, r
    assert len(default_geocoder()) == len(rows)


def _locate(**kwargs: object) -> tuple[float, float, str] | None:
    point = asyncio.run(OfflineGeocoder().locate(**kwargs))  # type: ignore[arg-type]
    return None if point is None else (point.lat, point.lon, point.precision)


def test_given_coordinates_win() -> None:
    assert _locate(lat=1.5, lon=2.5, city="Berlin") == (1.5, 2.5, "given")


def test_cities_are_found_by_name_alias_and_without_accents() -> None:
    assert _locate(city="München") == (48.1351, 11.582, "city")
    assert _locate(city="munich") == (48.1351, 11.582, "city")
    assert _locate(city="GENEVE") == (46.2044, 6.1432, "city")
    assert _locate(city="  Den   Haag ") is not None


def test_postal_codes_are_found_exactly_or_by_postal_area() -> None:
    assert _locate(postal_code="20095") == (53.5511, 9.9937, "postal_code")
    assert _locate(postal_code="1012 AB", country="NL") == (52.3676, 4.9041, "postal_code")
    near = _locate(postal_code="80999", country="DE")
    assert near is not None and near[2] == "postal_area" and near[:2] == (48.1351, 11.582)


def test_ambiguous_or_unknown_places_are_no_location_not_an_error() -> None:
    assert _locate(city="Baden") is None  # Austria and Switzerland both have one
    assert _locate(city="Baden", country="CH") == (47.4733, 8.3083, "city")
    assert _locate(postal_code="9500") is None  # Villach (AT) or Wil (CH)
    assert _locate(city="Atlantis", postal_code="00000", country="XX") is None
    assert _locate() is None
    assert _locate(lat=float("nan"), lon=3.0) is None
