"""Placing a lead on the map. Pluggable: anything with an async ``locate`` will do.

The default, ``OfflineGeocoder``, needs no network: it takes the lead's own coordinates, else a
bundled table of city centroids (``data/city_centroids.csv``: about 370 cities of Germany,
Austria, Switzerland, the Netherlands and France with their central postal code). It tries, in
order: the city name (with aliases, accents and case ignored; within the given country, or
unambiguous across all), the exact postal code, and, when the country is known, the table city of
the same two-digit postal area with the numerically nearest code (a coarse but useful guess: in
all five countries the first two digits name a region or département). Anything else yields None,
which the engine reports as "no location"; it never raises.

``GeopyGeocoder`` wraps any geopy geocoder for online use. It is never the default: geopy's
services need a network and have usage policies of their own.
"""

from __future__ import annotations

import asyncio
import csv
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

__all__ = [
    "GeoPoint",
    "Geocoder",
    "GeopyGeocoder",
    "OfflineGeocoder",
    "default_geocoder",
]

_TABLE = Path(__file__).parent / "data" / "city_centroids.csv"

Precision = Literal["given", "city", "postal_code", "postal_area", "online"]


@dataclass(frozen=True, slots=True)
class GeoPoint:
    lat: float
    lon: float
    precision: Precision
    place: str | None = None


class Geocoder(Protocol):
    async def locate(
        self,
        *,
        lat: float | None = None,
        lon: float | None = None,
        city: str | None = None,
        postal_code: str | None = None,
        country: str | None = None,
        address_line: str | None = None,
    ) -> GeoPoint | None: ...


@dataclass(frozen=True, slots=True)
class _Place:
    country: str
    postal_code: str
    city: str
    lat: float
    lon: float


def _fold(text: str) -> str:
    text = text.replace("ß", "ss").casefold()
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return " ".join(text.split())


def _postal_digits(code: str) -> str:
    # Dutch codes carry two letters ("1012 AB"); the table keys on the four digits.
    return re.sub(r"[^0-9]", "", code)


def _valid(lat: float | None, lon: float | None) -> bool:
    return (
        lat is not None
        and lon is not None
        and -90.0 <= lat <= 90.0
        and -180.0 <= lon <= 180.0
        and not (lat != lat or lon != lon)  # NaN
    )


class OfflineGeocoder:
    def __init__(self, table: Path = _TABLE) -> None:
        self._by_name: dict[str, list[_Place]] = {}
        self._by_postal: dict[tuple[str, str], _Place] = {}
        self._by_area: dict[tuple[str, str], list[_Place]] = {}
        with table.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                place = _Place(
                    country=row["country"],
                    postal_code=row["postal_code"],
                    city=row["city"],
                    lat=float(row["lat"]),
                    lon=float(row["lon"]),
                )
                names = [place.city, *filter(None, row["aliases"].split("|"))]
                for name in {_fold(n) for n in names}:
                    self._by_name.setdefault(name, []).append(place)
                self._by_postal[(place.country, place.postal_code)] = place
                self._by_area.setdefault((place.country, place.postal_code[:2]), []).append(place)

    def __len__(self) -> int:
        return len(self._by_postal)

    async def locate(
        self,
        *,
        lat: float | None = None,
        lon: float | None = None,
        city: str | None = None,
        postal_code: str | None = None,
        country: str | None = None,
        address_line: str | None = None,
    ) -> GeoPoint | None:
        return self.locate_now(
            lat=lat, lon=lon, city=city, postal_code=postal_code, country=country
        )

    def locate_now(
        self,
        *,
        lat: float | None = None,
        lon: float | None = None,
        city: str | None = None,
        postal_code: str | None = None,
        country: str | None = None,
    ) -> GeoPoint | None:
        if _valid(lat, lon):
            assert lat is not None and lon is not None
            return GeoPoint(lat, lon, "given")
        country_code = country.strip().upper() if country else None
        if city:
            matches = self._by_name.get(_fold(city), [])
            if country_code:
                matches = [p for p in matches if p.country == country_code]
            if len(matches) == 1:
                return self._point(matches[0], "city")
        digits = _postal_digits(postal_code) if postal_code else ""
        if digits:
            countries = [country_code] if country_code else ["DE", "AT", "CH", "NL", "FR"]
            exact = [
                self._by_postal[(c, digits)] for c in countries if (c, digits) in self._by_postal
            ]
            if len(exact) == 1:
                return self._point(exact[0], "postal_code")
            if country_code and len(digits) >= 2:
                area = self._by_area.get((country_code, digits[:2]), [])
                if area:
                    nearest = min(
                        area, key=lambda p: (abs(int(p.postal_code) - int(digits)), p.postal_code)
                    )
                    return self._point(nearest, "postal_area")
        return None

    @staticmethod
    def _point(place: _Place, precision: Precision) -> GeoPoint:
        return GeoPoint(place.lat, place.lon, precision, f"{place.city}, {place.country}")


class GeopyGeocoder:
    """Online geocoding through a geopy geocoder (e.g. ``geopy.geocoders.Nominatim``), falling
    back to the offline table when the service finds nothing or cannot be reached."""

    def __init__(self, geocoder: Any, *, fallback: OfflineGeocoder | None = None) -> None:
        self._geocoder = geocoder
        self._fallback = fallback or default_geocoder()

    async def locate(
        self,
        *,
        lat: float | None = None,
        lon: float | None = None,
        city: str | None = None,
        postal_code: str | None = None,
        country: str | None = None,
        address_line: str | None = None,
    ) -> GeoPoint | None:
        if _valid(lat, lon):
            assert lat is not None and lon is not None
            return GeoPoint(lat, lon, "given")
        query = ", ".join(p for p in (address_line, postal_code, city, country) if p)
        if query:
            try:
                found = await asyncio.to_thread(self._geocoder.geocode, query)
            except Exception:  # any geopy or network failure: fall back, never fail the lead
                found = None
            if found is not None:
                return GeoPoint(float(found.latitude), float(found.longitude), "online", query)
        return await self._fallback.locate(
            city=city, postal_code=postal_code, country=country, address_line=address_line
        )


@lru_cache(maxsize=1)
def default_geocoder() -> OfflineGeocoder:
    return OfflineGeocoder()
