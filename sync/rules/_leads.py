"""Leads, captured in the field or arriving from the web and imports."""

from __future__ import annotations

from sync.constraints import Ref, Text
from sync.rules._declare import (
    COMPUTED,
    LAT,
    LON,
    LWW,
    NAME,
    NO_DEVICE_DELETE,
    ONCE,
    SERVER,
    USER,
    WHEN,
    Access,
    Erasure,
    Event,
    FieldRule,
    Reach,
    Subject,
    declare,
    delete,
    field_rules,
    position_together,
    state,
    states,
)
from sync.rules._privacy import declare_consent

__all__ = [
    "ENTITIES",
]

ENTITIES = (
    declare(
        entity="lead",
        fields=field_rules(
            (LWW, "company contact_name email phone address_line city postal_code country"),
            (LWW, "lat lon notes"),
            FieldRule("source", ONCE, note="api, import or field"),
            (LWW, "product_line language"),
            FieldRule("region_id", SERVER, note="decided by the assignment engine"),
            state("status", "lead"),
            FieldRule("captured_by_id", SERVER, note="whoever captured it: the server says who"),
            FieldRule("assignee_id", SERVER, note="the assignment engine or a manager"),
            (SERVER, "assigned_at assignment_kind unassigned_reason first_touch_due_at"),
            FieldRule("contacted_at", COMPUTED, note="stamped when the status becomes contacted"),
        ),
        checks={
            "company": NAME,
            # Leads arrive from web forms and CSV imports as well as from reps: their text is
            # taken as it comes (an empty cell is kept), within the columns' bounds.
            "contact_name": Text(max_length=200),
            "email": Text(max_length=200),
            "phone": Text(max_length=40),
            "address_line": Text(max_length=200),
            "city": Text(max_length=120),
            "postal_code": Text(max_length=20),
            "country": Text(max_length=2, pattern=r"^[A-Za-z]{2}$", hint="a two-letter code"),
            "lat": LAT,
            "lon": LON,
            "notes": Text(max_length=4000),
            "source": Text(max_length=20, choices=("api", "import", "field")),
            "product_line": Text(max_length=80, min_length=1),
            "language": Text(max_length=10, min_length=2),
            "region_id": Ref("region"),
            "status": states("lead"),
            "captured_by_id": USER,
            "assignee_id": USER,
            "assigned_at": WHEN,
            "assignment_kind": Text(max_length=20),
            "unassigned_reason": Text(max_length=40),
            "first_touch_due_at": WHEN,
            "contacted_at": WHEN,
        },
        optional="contact_name email phone address_line city postal_code country lat lon notes "
        "product_line language region_id captured_by_id assignee_id assigned_at assignment_kind "
        "unassigned_reason first_touch_due_at contacted_at",
        personal="contact_name email phone notes",
        subjects=(Subject("lead"),),
        erasure=Erasure.DELETE,
        invariants=(("a position has both lat and lon, or neither", position_together),),
        access=Access(
            reads=frozenset({Reach.OWNER}),
            creates=frozenset({Reach.OWNER}),
            owner=("assignee_id", "captured_by_id"),
            region="region_id",
            api_scopes=frozenset({"leads:read", "leads:write"}),
        ),
        events=(Event("lead.assigned", field="assignee_id"),),
        device_can_create=True,
        device_can_delete=False,
        scope="The lead's assignee (the capturing rep until it is assigned). Managers: their "
        "region's, read-only.",
        delete_rule=delete("Devices cannot delete a lead; they disqualify it. " + NO_DEVICE_DELETE),
    ),
    declare_consent("lead"),
)
