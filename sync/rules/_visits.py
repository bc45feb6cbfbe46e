"""Visits (check-in and check-out with GPS) and their notes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sync.constraints import Bool, Day, Number, Ref, Tags, Text
from sync.errors import InvalidValue
from sync.rules._declare import (
    COMPUTED,
    LABEL,
    LAT,
    LON,
    LWW,
    METRES,
    NO_DEVICE_DELETE,
    NOTES,
    ONCE,
    OWN_IN_TERRITORY,
    USER,
    WHEN,
    Access,
    Erasure,
    FieldRule,
    Reach,
    Subject,
    declare,
    declare_note,
    delete,
    field_rules,
    position_together,
    state,
    states,
)

__all__ = [
    "ENTITIES",
]


def _check_out_after_check_in(values: Mapping[str, Any]) -> None:
    check_in, check_out = values.get("check_in_at"), values.get("check_out_at")
    if check_in is None or check_out is None:
        return
    if _moment(check_out) < _moment(check_in):
        raise InvalidValue("check_out_at", "check-out is before check-in")


def _moment(value: Any) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


ENTITIES = (
    declare(
        entity="visit",
        fields=field_rules(
            (ONCE, "account_id rep_id"),
            state("status", "visit"),
            (LWW, "planned_for route_position purpose"),
            FieldRule(
                "check_in_at", ONCE, note="the check-in happens once (append-only in spirit)"
            ),
            (ONCE, "check_in_lat check_in_lon check_in_accuracy_m"),
            FieldRule("check_out_at", ONCE, note="the check-out happens once"),
            (ONCE, "outcome"),
            (LWW, "notes"),
            (ONCE, "duration_s"),
            FieldRule("distance_m", COMPUTED, note="recomputed from the fix (sync.domain.visits)"),
            (COMPUTED, "verified verification_score flags"),
        ),
        checks={
            "account_id": Ref("account"),
            "rep_id": USER,
            "status": states("visit"),
            "planned_for": Day(),
            "route_position": Number(ge=0, le=1000, integer=True),
            "purpose": Text(max_length=200, min_length=1),
            "check_in_at": WHEN,
            "check_in_lat": LAT,
            "check_in_lon": LON,
            "check_in_accuracy_m": Number(ge=0, le=100_000),
            "check_out_at": WHEN,
            "outcome": LABEL,
            "notes": NOTES,
            "duration_s": Number(ge=0, le=100 * 365 * 86_400, integer=True),
            "distance_m": METRES,
            "verified": Bool(),
            "verification_score": Number(ge=0, le=1),
            "flags": Tags(),
        },
        optional="planned_for route_position purpose check_in_at check_in_lat check_in_lon "
        "check_in_accuracy_m check_out_at outcome notes duration_s distance_m verification_score",
        personal="check_in_lat check_in_lon check_in_accuracy_m",
        # The rep's whereabouts are the rep's personal data; the visit itself is the
        # business's record of the rep's work and stays.
        subjects=(Subject("user", "rep_id"),),
        erasure=Erasure.REDACT,
        invariants=(
            ("the check-out is not before the check-in", _check_out_after_check_in),
            ("a position has both coordinates, or neither", position_together),
        ),
        access=Access(
            reads=frozenset({Reach.OWNER}),
            creates=OWN_IN_TERRITORY,
            owner=("rep_id",),
            account="account_id",
        ),
        device_can_create=True,
        device_can_delete=False,
        scope="The rep's own visits. Managers: their region's, read-only.",
        delete_rule=delete(
            "Devices cannot delete a visit; they cancel it (status `cancelled`). "
            + NO_DEVICE_DELETE
        ),
    ),
    declare_note("visit_note", parent="visit"),
)
