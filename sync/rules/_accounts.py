"""Accounts and their contacts."""

from __future__ import annotations

from sync.constraints import Number, Ref
from sync.rules._declare import (
    AS_PARENT,
    CITY,
    COUNTRY,
    EMAIL,
    LABEL,
    LAT,
    LON,
    LWW,
    NAME,
    NO_DEVICE_DELETE,
    NOTES,
    ONCE,
    PERSON,
    PHONE,
    POSTAL,
    SERVER,
    SHORT,
    USER,
    Access,
    Erasure,
    FieldRule,
    Parent,
    Reach,
    Subject,
    declare,
    delete,
    field_rules,
    position_together,
)
from sync.rules._privacy import declare_consent

__all__ = [
    "ENTITIES",
]

ENTITIES = (
    declare(
        entity="account",
        fields=field_rules(
            (LWW, "name segment address_line city postal_code country lat lon"),
            FieldRule("visit_radius_m", SERVER, note="set by admins; drives visit verification"),
            (LWW, "phone email notes"),
            FieldRule("territory_id", SERVER, note="moving it re-scopes the account"),
            (SERVER, "owner_id"),
        ),
        checks={
            "name": NAME,
            "segment": LABEL,
            "address_line": SHORT,
            "city": CITY,
            "postal_code": POSTAL,
            "country": COUNTRY,
            "lat": LAT,
            "lon": LON,
            "visit_radius_m": Number(ge=1, le=10_000),
            "phone": PHONE,
            "email": EMAIL,
            "notes": NOTES,
            "territory_id": Ref("territory"),
            "owner_id": USER,
        },
        optional="address_line city postal_code country lat lon phone email notes territory_id "
        "owner_id",
        invariants=(("a position has both lat and lon, or neither", position_together),),
        access=Access(
            reads=frozenset({Reach.TERRITORY}),
            creates=frozenset({Reach.TERRITORY}),
            territory="territory_id",
        ),
        device_can_create=True,
        device_can_delete=False,
        scope="Reps: the accounts of their territory. Managers: their region, read-only.",
        delete_rule=delete("Devices cannot delete an account. " + NO_DEVICE_DELETE),
    ),
    declare(
        entity="contact",
        fields=field_rules(
            FieldRule("account_id", ONCE, note="a contact never moves to another account"),
            (LWW, "first_name last_name title phone email notes"),
        ),
        checks={
            "account_id": Ref("account"),
            "first_name": PERSON,
            "last_name": PERSON,
            "title": PERSON,
            "phone": PHONE,
            "email": EMAIL,
            "notes": NOTES,
        },
        optional="title phone email notes",
        personal="first_name last_name title phone email notes",
        subjects=(Subject("contact"),),
        erasure=Erasure.DELETE,
        access=AS_PARENT,
        device_can_create=True,
        device_can_delete=True,
        scope="Follows its account's territory.",
        delete_rule=delete(
            "Delete wins: a delete is applied even over concurrent edits (they are logged as "
            "conflicts); an edit arriving after the delete is rejected as `deleted`."
        ),
        parent=Parent("account", "account_id"),
    ),
    declare_consent("contact"),
)
