"""The assignment engine: plain values in, a ``Decision`` with its full trace out. No database, no
HTTP, no clock: the caller passes ``today``, the reps, their current load and a seed.

Theory of operation. A lead first tries the account-owner override. Otherwise the reps of its
region pass through the precedence steps of ``server.leads.rules.PRECEDENCE`` (territory, skills,
availability, capacity); the step that leaves nobody names the unassigned reason. The survivors
are scored (fairness deficit, distance, load; see ``rules.score``) and the best score wins; an
exact tie is settled by ``random.Random(seed)`` drawing an index into the tied reps sorted by id,
so the outcome is reproducible from the stored seed yet favours no one.

Speed: a lat/lon grid maps each cell to the reps whose coverage (territory polygon, home-base
disc) could reach into it, so a lead only looks at the reps of its own cell. The grid is a
conservative superset; the exact territory test still decides. ``bruteforce.py`` evaluates the
same rules over every rep without any of this, and a property test holds the two equal.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from server.leads.geo import (
    BAND,
    EARTH_RADIUS_KM,
    great_circle_km,
    point_in_polygon,
    radius_decided,
    within_radius,
)
from server.leads.rules import PRECEDENCE, AssignmentRules, UnassignedReason, total_weight
from server.leads.rules import SCORE_DIGITS as _DIGITS

__all__ = [
    "WEEKDAYS",
    "Decision",
    "Engine",
    "LeadFacts",
    "RepLoad",
    "RepProfile",
    "apply_decision",
    "explain_rep",
]

WEEKDAYS: frozenset[int] = frozenset({0, 1, 2, 3, 4})
_TRACE_EXCLUDED_CAP = 10
_TRACE_TERRITORY_CAP = 5
"""Excluded reps the hot loop keeps per lead; the stored trace lists up to
``_TRACE_TERRITORY_LIST_CAP``, found by its own pass over every rep."""
_TRACE_TERRITORY_LIST_CAP = 50
_TRACE_CANDIDATE_CAP = 50
_KM_PER_DEG_LAT_MIN = 110.0  # a degree of latitude is never shorter than 110.57 km
_KM_PER_DEG_LON_EQ = 111.0  # a degree of longitude is at least 111.32 km × cos(latitude)


@dataclass(frozen=True, slots=True)
class RepProfile:
    id: str
    name: str = ""
    region_id: str | None = None
    active: bool = True
    on_leave_until: date | None = None
    working_days: frozenset[int] = WEEKDAYS
    home_lat: float | None = None
    home_lon: float | None = None
    service_radius_km: float = 50.0
    territory: tuple[tuple[float, float], ...] | None = None
    skills: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    capacity: int = 25
    daily_quota: int = 10
    weight: float = 1.0

    @property
    def has_home(self) -> bool:
        return self.home_lat is not None and self.home_lon is not None


@dataclass(frozen=True, slots=True)
class LeadFacts:
    id: str
    lat: float | None = None
    lon: float | None = None
    product_line: str | None = None
    language: str | None = None
    account_owner_id: str | None = None
    """The owner of the account whose name matches the lead's company, if any."""
    exclude: frozenset[str] = frozenset()
    """Reps that may not get it (those who already held it, when the SLA re-routes it)."""


@dataclass(slots=True)
class RepLoad:
    open_leads: int = 0
    assigned_today: int = 0
    window_count: int = 0
    """Leads received within the rolling fairness window."""


@dataclass(frozen=True, slots=True)
class Decision:
    lead_id: str
    winner_id: str | None
    reason: UnassignedReason | None
    via: Literal["account_owner", "score"] | None
    eligible: tuple[str, ...]
    ties: tuple[str, ...]
    seed: int
    draw: int | None
    record: Trace | None = field(default=None, repr=False, compare=False)

    @property
    def trace(self) -> dict[str, Any]:
        """The trace as stored and explained, built from the compact record on each call."""
        return {} if self.record is None else self.record.as_dict(self)


# Rule checks: each returns None when the rep passes, or a sentence saying why not. -------------


def territory_failure(
    rep: RepProfile, lat: float, lon: float, rules: AssignmentRules
) -> str | None:
    use_polygon = rules.territory in ("polygon_or_radius", "polygon")
    use_radius = rules.territory in ("polygon_or_radius", "radius")
    if use_polygon and rep.territory and point_in_polygon(lat, lon, rep.territory):
        return None
    if (
        use_radius
        and rep.home_lat is not None
        and rep.home_lon is not None
        and within_radius(rep.home_lat, rep.home_lon, lat, lon, rep.service_radius_km)
    ):
        return None
    parts = []
    if use_polygon:
        parts.append("outside the territory" if rep.territory else "no territory boundary")
    if use_radius:
        if rep.home_lat is not None and rep.home_lon is not None:
            km = great_circle_km(rep.home_lat, rep.home_lon, lat, lon)
            parts.append(f"{km:.1f} km from home base, radius {rep.service_radius_km:g} km")
        else:
            parts.append("no home base")
    return "; ".join(parts) or "territory rule covers nothing"


def skills_failure(rep: RepProfile, lead: LeadFacts, rules: AssignmentRules) -> str | None:
    if lead.product_line:
        wanted = rules.skills_for(lead.product_line)
        if not any(skill in rep.skills for skill in wanted):
            return f"lacks skill {' or '.join(wanted)} for product line {lead.product_line}"
    if rules.match_language and lead.language and lead.language.lower() not in rep.languages:
        return f"does not speak {lead.language.lower()}"
    return None


def availability_failure(rep: RepProfile, today: date) -> str | None:
    if not rep.active:
        return "inactive"
    if rep.on_leave_until is not None and today <= rep.on_leave_until:
        return f"on leave until {rep.on_leave_until.isoformat()}"
    if today.weekday() not in rep.working_days:
        return f"{today.strftime('%A')} is not a working day"
    return None


def capacity_failure(rep: RepProfile, load: RepLoad) -> str | None:
    if load.open_leads >= rep.capacity:
        return f"{load.open_leads} open leads, capacity {rep.capacity}"
    if load.assigned_today >= rep.daily_quota:
        return f"{load.assigned_today} new leads today, daily quota {rep.daily_quota}"
    return None


def explain_rep(
    rep: RepProfile,
    lead: LeadFacts,
    load: RepLoad,
    rules: AssignmentRules,
    today: date,
) -> tuple[str, str] | None:
    """The first rule (in precedence order) ``rep`` fails for ``lead``: (rule, detail)."""
    if rep.id in lead.exclude:
        return "region", "already held this lead"
    if lead.lat is None or lead.lon is None:
        return "location", "the lead has no location"
    checks: tuple[tuple[str, str | None], ...] = (
        ("territory", territory_failure(rep, lead.lat, lead.lon, rules)),
        ("skills", skills_failure(rep, lead, rules)),
        ("availability", availability_failure(rep, today)),
        ("capacity", capacity_failure(rep, load)),
    )
    for rule, failure in checks:
        if failure is not None:
            return rule, failure
    return None


def apply_decision(decision: Decision, loads: dict[str, RepLoad]) -> None:
    """Count the assignment against the winner so the next lead of a batch sees it."""
    if decision.winner_id is None:
        return
    load = loads.setdefault(decision.winner_id, RepLoad())
    load.open_leads += 1
    load.assigned_today += 1
    load.window_count += 1


class Trace:
    """What the engine saw while deciding, kept as tuples and lists on the hot path (a batch of
    thousands of decisions would otherwise build and hold tens of thousands of small dicts);
    ``as_dict`` gives the stored shape.

    ``override``: (owner id, failed rule and detail or None) when the account owner was tried.
    ``in_region``: reps left after the exclusions, None when the override decided. ``counts``:
    reps passing territory, skills, availability and capacity, None when the lead has no
    location. ``missed``: per step, the first excluded reps, (rep id, territory polygon, radius,
    km) for the territory and (rep id, detail) otherwise. ``candidates``: (rep id, km, load
    ratio, deficit, score) in rep id order."""

    __slots__ = (
        "candidates",
        "counts",
        "engine",
        "in_region",
        "lead",
        "missed",
        "override",
        "today",
        "total",
    )

    def __init__(
        self,
        lead: LeadFacts,
        today: date,
        override: tuple[str, tuple[str, str] | None] | None,
        total: int = 0,
        in_region: int | None = None,
        counts: tuple[int, int, int, int] | None = None,
        missed: tuple[list[tuple[Any, ...]], ...] = (),
        candidates: list[tuple[str, float | None, float, float, float]] | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.engine = engine
        self.lead = lead
        self.today = today
        self.override = override
        self.total = total
        self.in_region = in_region
        self.counts = counts
        self.missed = missed
        self.candidates = candidates

    def as_dict(self, decision: Decision) -> dict[str, Any]:
        lead = self.lead
        stages: list[dict[str, Any]] = []
        trace: dict[str, Any] = {
            "lead": {
                "location": None if lead.lat is None else [lead.lat, lead.lon],
                "product_line": lead.product_line,
                "language": lead.language,
                "account_owner_id": lead.account_owner_id,
                "excluded_reps": sorted(lead.exclude),
            },
            "today": self.today.isoformat(),
            "seed": decision.seed,
            "stages": stages,
        }
        if self.override is not None:
            owner_id, failure = self.override
            trace["override"] = {
                "rule": "account_owner",
                "rep_id": owner_id,
                "applied": failure is None,
                "failed": None if failure is None else {"rule": failure[0], "detail": failure[1]},
            }
        if self.in_region is not None:
            stages.append({"rule": "region", "in": self.total, "out": self.in_region})
            if self.in_region > 0 and self.counts is None:
                stages.append({"rule": "location", "in": self.in_region, "out": 0})
        if self.counts is not None:
            entering = self.in_region
            for step, (rule, _) in enumerate(_STEPS):
                if step == 0:
                    excluded = self._territory_excluded()
                else:
                    excluded = [
                        self._rep(rep_id, detail=detail) for rep_id, detail in self.missed[step]
                    ]
                out = self.counts[step]
                stages.append(
                    {
                        "rule": rule,
                        "in": entering,
                        "out": out,
                        "excluded_count": (entering or 0) - out,
                        "excluded": excluded,
                    }
                )
                if out == 0:
                    break
                entering = out
        if self.candidates is not None:
            ranked = sorted(self.candidates, key=lambda c: -c[4])  # stable: ties stay in id order
            trace["candidates"] = [
                # Rounded for people reading the trace (metres, tenths of a percent, thousandths
                # of a lead); the score keeps the digits the ranking used.
                self._rep(
                    c[0],
                    distance_km=None if c[1] is None else round(c[1], 3),
                    load=round(c[2], 3),
                    deficit=round(c[3], 3),
                    score=c[4],
                )
                for c in ranked[:_TRACE_CANDIDATE_CAP]
            ]
            trace["eligible_count"] = len(self.candidates)
        if decision.winner_id is None:
            trace["winner_id"] = None
            trace["reason"] = None if decision.reason is None else decision.reason.value
        else:
            trace["ties"] = list(decision.ties)
            trace["draw"] = decision.draw
            trace["winner_id"] = decision.winner_id
            trace["via"] = decision.via
            trace["reason"] = None
        return trace

    def _rep(self, rep_id: str, **fields: Any) -> dict[str, Any]:
        """A rep's entry: its id, its name beside it when the engine knows one, the fields."""
        entry: dict[str, Any] = {"rep_id": rep_id}
        rep = self.engine.reps.get(rep_id) if self.engine is not None else None
        if rep is not None and rep.name:
            entry["rep_name"] = rep.name
        entry.update(fields)
        return entry

    def _territory_excluded(self) -> list[dict[str, Any]]:
        """Every rep of the region the territory rule turned away, in id order (up to a cap).
        The spatial index never visits reps far from the lead, so the hot loop's own list would
        leave them out; this pass asks the rule about every rep, which is why it runs only when
        a trace is read, not while a batch is assigned."""
        lead = self.lead
        seen = [
            self._rep(rep_id, detail=_territory_detail(poly, radius, km))
            for rep_id, poly, radius, km in self.missed[0]
        ]
        excluded = (self.in_region or 0) - (self.counts[0] if self.counts else 0)
        if self.engine is None or lead.lat is None or lead.lon is None or len(seen) >= excluded:
            # The hot loop saw every excluded rep (no index, or none far away): nothing to add.
            return seen
        out: list[dict[str, Any]] = []
        for rep in self.engine.reps.values():
            if rep.id in lead.exclude:
                continue
            failure = territory_failure(rep, lead.lat, lead.lon, self.engine.rules)
            if failure is not None:
                out.append(self._rep(rep.id, detail=failure))
                if len(out) >= min(excluded, _TRACE_TERRITORY_LIST_CAP):
                    break
        return out


class _Entry:
    """A rep prepared for the hot loop: radians, cosines and bounding boxes computed once."""

    __slots__ = ("cos_phi", "home_lat", "home_lon", "phi", "poly", "poly_box", "radius", "rep")

    rep: RepProfile

    def __init__(self, rep: RepProfile, rules: AssignmentRules) -> None:
        self.rep = rep
        use_polygon = rules.territory != "radius" and bool(rep.territory)
        self.poly = rep.territory if use_polygon else None
        self.poly_box: tuple[float, float, float, float] | None = None
        if self.poly:
            lats = [p[0] for p in self.poly]
            lons = [p[1] for p in self.poly]
            self.poly_box = (min(lats), max(lats), min(lons), max(lons))
        self.home_lat = rep.home_lat
        self.home_lon = rep.home_lon
        self.phi = math.radians(rep.home_lat) if rep.home_lat is not None else 0.0
        self.cos_phi = math.cos(self.phi)
        use_radius = rules.territory != "polygon" and rep.has_home
        self.radius = rep.service_radius_km if use_radius else None

    def row(self, index: int) -> _Row:
        rep = self.rep
        # No polygon: an empty box (lower bound above upper) fails the first comparison.
        box = self.poly_box or (math.inf, -math.inf, math.inf, -math.inf)
        return (
            rep,
            rep.id,
            index,
            self.home_lat,
            self.home_lon,
            self.phi,
            self.cos_phi,
            self.radius,
            *box,
            self.poly,
            rep.capacity,
            rep.daily_quota,
            rep.weight,
        )


_Row = tuple[
    RepProfile,
    str,
    int,
    float | None,
    float | None,
    float,
    float,
    float | None,
    float,
    float,
    float,
    float,
    tuple[tuple[float, float], ...] | None,
    int,
    int,
    float,
]
"""An entry flattened for the hot loop: rep, id, index, home lat/lon, home latitude in radians
and its cosine, radius, polygon box (lat min, lat max, lon min, lon max), polygon, capacity,
daily quota, weight."""

_UNKNOWN = object()


class Engine:
    def __init__(
        self,
        reps: Iterable[RepProfile],
        rules: AssignmentRules,
        *,
        owners: Mapping[str, RepProfile] | None = None,
        use_index: bool = True,
        cell_deg: float = 0.1,
    ) -> None:
        self.rules = rules
        self.reps: dict[str, RepProfile] = {r.id: r for r in sorted(reps, key=lambda r: r.id)}
        self.owners: dict[str, RepProfile] = dict(owners or {})
        self.use_index = use_index
        self._cell = cell_deg
        self._entries = [_Entry(r, rules) for r in self.reps.values()]
        self._all_rows: list[_Row] = [e.row(i) for i, e in enumerate(self._entries)]
        self._grid: dict[tuple[int, int], list[_Row]] = {}
        self._everywhere: list[_Row] = []
        self._merged: dict[tuple[int, int], list[_Row]] = {}
        # Skills verdicts (None: has them) per (product line, language), by rep index.
        self._skills: dict[tuple[str | None, str | None], list[Any]] = {}
        self._availability_day: date | None = None
        self._available: list[bool | None] = []
        if use_index:
            self._build_index()

    # Index -----------------------------------------------------------------------------------
    def _build_index(self) -> None:
        # Entries are in id order, so every bucket is filled in id order.
        for entry, row in zip(self._entries, self._all_rows, strict=True):
            cells: set[tuple[int, int]] = set()
            if entry.poly_box is not None:
                lat0, lat1, lon0, lon1 = entry.poly_box
                cells.update(
                    (i, j)
                    for i in range(self._key(lat0), self._key(lat1) + 1)
                    for j in range(self._key(lon0), self._key(lon1) + 1)
                )
            if entry.radius is not None:
                disc = self._disc_cells(entry)
                if disc is None:
                    self._everywhere.append(row)
                    continue
                cells.update(disc)
            for cell in cells:
                bucket = self._grid.get(cell)
                if bucket is None:
                    self._grid[cell] = [row]
                else:
                    bucket.append(row)

    def _key(self, degrees: float) -> int:
        return math.floor(degrees / self._cell)

    def _disc_cells(self, entry: _Entry) -> set[tuple[int, int]] | None:
        """Cells that may hold a point within the rep's radius, row by row: in each row of
        cells, the longitudes reachable from the row's latitude nearest the home base (on a
        sphere, with a generous margin over the geodesic). None: near a pole or the
        antimeridian, where boxes wrap; such a rep is checked for every lead."""
        assert entry.radius is not None and entry.home_lat is not None
        assert entry.home_lon is not None
        reach = entry.radius * 1.02 + 2.0
        dlat = reach / _KM_PER_DEG_LAT_MIN
        if abs(entry.home_lat) + dlat >= 89.0:
            return None
        cos_reach = math.cos(reach / EARTH_RADIUS_KM)
        sin_home = math.sin(entry.phi)
        c = self._cell
        cells: set[tuple[int, int]] = set()
        for i in range(self._key(entry.home_lat - dlat), self._key(entry.home_lat + dlat) + 1):
            near = math.radians(min(max(entry.home_lat, i * c), (i + 1) * c))
            x = (cos_reach - sin_home * math.sin(near)) / (entry.cos_phi * math.cos(near))
            if x > 1.0:
                continue
            dlon = math.degrees(math.acos(max(-1.0, x))) + 1e-6
            lon0, lon1 = entry.home_lon - dlon, entry.home_lon + dlon
            if lon0 < -180.0 or lon1 > 180.0:
                return None
            cells.update((i, j) for j in range(self._key(lon0), self._key(lon1) + 1))
        return cells

    def _nearby(self, lat: float, lon: float) -> list[_Row]:
        if not self.use_index:
            return self._all_rows
        key = (self._key(lat), self._key(lon))
        found = self._grid.get(key)
        if not self._everywhere:
            return found or []
        merged = self._merged.get(key)
        if merged is None:
            merged = sorted([*(found or []), *self._everywhere], key=lambda r: r[1])
            self._merged[key] = merged
        return merged

    # Decisions -------------------------------------------------------------------------------
    def decide(
        self, lead: LeadFacts, loads: Mapping[str, RepLoad], *, seed: int, today: date
    ) -> Decision:
        rules = self.rules
        empty = RepLoad()

        override: tuple[str, tuple[str, str] | None] | None = None
        if rules.account_owner_override and lead.account_owner_id:
            owner_id = lead.account_owner_id
            owner = self.reps.get(owner_id) or self.owners.get(owner_id)
            failure = self._owner_failure(owner, lead, loads.get(owner_id, empty), today)
            override = (owner_id, failure)
            if failure is None:
                record = Trace(lead, today, override)
                return Decision(
                    lead.id,
                    owner_id,
                    None,
                    "account_owner",
                    (owner_id,),
                    (owner_id,),
                    seed,
                    None,
                    record,
                )

        exclude = lead.exclude
        total = len(self.reps)
        in_region = total - sum(1 for rid in exclude if rid in self.reps)
        if in_region == 0:
            record = Trace(lead, today, override, total, in_region)
            return _unassigned(lead, seed, UnassignedReason.NO_ACTIVE_REP, record)
        if lead.lat is None or lead.lon is None:
            record = Trace(lead, today, override, total, in_region)
            return _unassigned(lead, seed, UnassignedReason.NO_LOCATION, record)
        lat, lon = lead.lat, lead.lon

        # One pass over the nearby reps applies territory, skills, availability and capacity
        # in precedence order; a rep stops at the first rule it fails. The great-circle
        # distance computed for the territory is the one the score uses. Everything the loop
        # touches is a local: attribute and global look-ups would cost as much as the rules.
        phi = math.radians(lat)
        cos_lat = math.cos(phi)
        sin, asin, sqrt, radians = math.sin, math.asin, math.sqrt, math.radians
        in_polygon = point_in_polygon
        two_r = 2 * EARTH_RADIUS_KM
        inner, outer = 1 + BAND, 1 - BAND  # the cheap verdicts of ``geo.radius_decided``
        language = lead.language.lower() if rules.match_language and lead.language else None
        skill_key = (lead.product_line or None, language)
        skills = self._skills.get(skill_key)
        if skills is None:
            skills = self._skills[skill_key] = [_UNKNOWN] * len(self._all_rows)
        if self._availability_day != today:
            self._availability_day = today
            self._available = [None] * len(self._all_rows)
        available = self._available
        get_load = loads.get
        passed_territory = passed_skills = passed_availability = 0
        missed: tuple[list[tuple[Any, ...]], ...] = ([], [], [], [])
        missed_territory, missed_skills, missed_availability, missed_capacity = missed
        eligible: list[tuple[str, float | None, RepLoad, int, float]] = []
        weights: list[float] = []
        window_sum = 0
        cap = _TRACE_EXCLUDED_CAP
        territory_cap = _TRACE_TERRITORY_CAP
        for (
            rep,
            rid,
            index,
            hlat,
            hlon,
            hphi,
            hcos,
            radius,
            lat0,
            lat1,
            lon0,
            lon1,
            poly,
            capacity,
            quota,
            weight,
        ) in self._nearby(lat, lon):
            if exclude and rid in exclude:
                continue
            km: float | None = None
            if hlat is not None:
                s_lat = sin((phi - hphi) / 2)
                s_lon = sin(radians(lon - hlon) / 2)  # type: ignore[operator]
                h = s_lat * s_lat + hcos * cos_lat * (s_lon * s_lon)
                km = two_r * asin(sqrt(h) if h < 1.0 else 1.0)
            if not (
                (lat0 <= lat <= lat1 and lon0 <= lon <= lon1 and in_polygon(lat, lon, poly))  # type: ignore[arg-type]
                or (
                    radius is not None
                    and km is not None
                    and (
                        km * inner <= radius
                        or (
                            km * outer <= radius
                            and radius_decided(km, hlat, hlon, lat, lon, radius)  # type: ignore[arg-type]
                        )
                    )
                )
            ):
                if len(missed_territory) < territory_cap:
                    missed_territory.append((rid, poly, radius, km))
                continue
            passed_territory += 1
            lacking = skills[index]
            if lacking is _UNKNOWN:
                lacking = skills[index] = skills_failure(rep, lead, rules)
            if lacking is not None:
                if len(missed_skills) < cap:
                    missed_skills.append((rid, lacking))
                continue
            passed_skills += 1
            free = available[index]
            if free is None:
                free = available[index] = availability_failure(rep, today) is None
            if not free:
                if len(missed_availability) < cap:
                    missed_availability.append((rid, availability_failure(rep, today)))
                continue
            passed_availability += 1
            load = get_load(rid, empty)
            if load.open_leads >= capacity or load.assigned_today >= quota:
                if len(missed_capacity) < cap:
                    # Worded now: the load changes as the batch goes on.
                    missed_capacity.append((rid, capacity_failure(rep, load)))
                continue
            eligible.append((rid, km, load, capacity, weight))
            weights.append(weight)
            window_sum += load.window_count

        counts = (passed_territory, passed_skills, passed_availability, len(eligible))
        if not eligible:
            record = Trace(lead, today, override, total, in_region, counts, missed, engine=self)
            reason = next(reason for (_, reason), n in zip(_STEPS, counts, strict=True) if n == 0)
            return _unassigned(lead, seed, reason, record)

        # The score: ``rules.deficit`` and ``rules.score`` written out (same operations in the
        # same order, so the same floats).
        w_fair, w_dist, w_load = rules.weights.fairness, rules.weights.distance, rules.weights.load
        scale = rules.distance_scale_km
        weight_sum = total_weight(weights)
        shared = window_sum + 1
        digits = _DIGITS
        candidates: list[tuple[str, float | None, float, float, float]] = []
        best = -math.inf
        tied: list[str] = []
        for rid, km, load, capacity, weight in eligible:
            if km is None:
                distance_norm = 1.0
            else:
                distance_norm = km / scale
                if distance_norm > 1.0:
                    distance_norm = 1.0
            load_ratio = load.open_leads / capacity if capacity > 0 else 1.0
            if weight_sum <= 0:
                owed = float(-load.window_count)
            else:
                owed = weight / weight_sum * shared - load.window_count
            value = round(w_fair * owed - w_dist * distance_norm - w_load * load_ratio, digits)
            candidates.append((rid, km, load_ratio, owed, value))
            if value > best:
                best = value
                tied = [rid]
            elif value == best:
                tied.append(rid)
        # Reps are visited in id order, so eligible ids and ties come out sorted.
        ties = tuple(tied)
        draw = random.Random(seed).randrange(len(ties)) if len(ties) > 1 else None
        record = Trace(
            lead, today, override, total, in_region, counts, missed, candidates, engine=self
        )
        return Decision(
            lead.id,
            ties[draw or 0],
            None,
            "score",
            tuple(c[0] for c in candidates),
            ties,
            seed,
            draw,
            record,
        )

    def _owner_failure(
        self, owner: RepProfile | None, lead: LeadFacts, load: RepLoad, today: date
    ) -> tuple[str, str] | None:
        if owner is None:
            return "account_owner", "the account owner is not an assignable rep"
        if owner.id in lead.exclude:
            return "region", "already held this lead"
        for rule, failure in (
            ("skills", skills_failure(owner, lead, self.rules)),
            ("availability", availability_failure(owner, today)),
            ("capacity", capacity_failure(owner, load)),
        ):
            if failure is not None:
                return rule, failure
        return None

    def assign(
        self, lead: LeadFacts, loads: dict[str, RepLoad], *, seed: int, today: date
    ) -> Decision:
        decision = self.decide(lead, loads, seed=seed, today=today)
        apply_decision(decision, loads)
        return decision


def _unassigned(lead: LeadFacts, seed: int, reason: UnassignedReason, record: Trace) -> Decision:
    return Decision(lead.id, None, reason, None, (), (), seed, None, record)


def _territory_detail(
    poly: tuple[tuple[float, float], ...] | None, radius: float | None, km: float | None
) -> str:
    parts = []
    if poly is not None:
        parts.append("outside the territory")
    if radius is not None and km is not None:
        parts.append(f"{km:.1f} km from home base, radius {radius:g} km")
    return "; ".join(parts) or "neither a territory boundary nor a home base to cover from"


# The per-rep steps of the precedence table, in order, with the reason each names when it
# leaves nobody.
_STEPS: tuple[tuple[str, UnassignedReason], ...] = tuple(
    (step.rule, step.empties_to)
    for step in PRECEDENCE
    if step.rule in ("territory", "skills", "availability", "capacity") and step.empties_to
)
assert [rule for rule, _ in _STEPS] == ["territory", "skills", "availability", "capacity"]
