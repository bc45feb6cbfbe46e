"""Opportunities: the pipeline the forecasts weigh."""

from __future__ import annotations

from sync.constraints import Day, Ref, Text
from sync.rules._declare import (
    COMPUTED,
    LWW,
    MONEY,
    NAME,
    NO_DEVICE_DELETE,
    ONCE,
    OWN_IN_TERRITORY,
    SERVER,
    USER,
    WHEN,
    Access,
    FieldRule,
    Reach,
    declare,
    delete,
    field_rules,
    state,
    states,
)

ENTITIES = (
    declare(
        entity="opportunity",
        fields=field_rules(
            (ONCE, "account_id"),
            FieldRule("owner_id", SERVER, note="a manager hands the opportunity to another rep"),
            (LWW, "name"),
            state("stage", "opportunity"),
            (LWW, "amount close_date forecast_category"),
            FieldRule("closed_at", COMPUTED, note="stamped when the stage becomes closed_*"),
        ),
        checks={
            "account_id": Ref("account"),
            "owner_id": USER,
            "name": NAME,
            "stage": states("opportunity"),
            "amount": MONEY,
            "close_date": Day(),
            "forecast_category": Text(max_length=20, choices=("commit", "best_case", "pipeline")),
            "closed_at": WHEN,
        },
        optional="forecast_category closed_at",
        access=Access(
            reads=frozenset({Reach.OWNER}),
            creates=OWN_IN_TERRITORY,
            owner=("owner_id",),
            account="account_id",
        ),
        device_can_create=True,
        device_can_delete=False,
        scope="The owner's opportunities. Managers: their region's, read-only.",
        delete_rule=delete(
            "Devices cannot delete an opportunity; they close it lost. " + NO_DEVICE_DELETE
        ),
    ),
)

__all__ = [
    "ENTITIES",
]
