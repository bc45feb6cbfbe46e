"""Service tickets and their comments."""

from __future__ import annotations

from sync.constraints import Ref, Text
from sync.rules._declare import (
    COMPUTED,
    LABEL,
    LWW,
    NAME,
    NO_DEVICE_DELETE,
    NOTES,
    ONCE,
    OWN_IN_TERRITORY,
    SERVER,
    USER,
    WHEN,
    Access,
    Event,
    FieldRule,
    Reach,
    declare,
    declare_note,
    delete,
    field_rules,
    state,
    states,
)

__all__ = [
    "ENTITIES",
]

ENTITIES = (
    declare(
        entity="ticket",
        fields=field_rules(
            (ONCE, "account_id"),
            FieldRule("opened_by_id", SERVER, note="whoever opened it: the server says who"),
            FieldRule("assignee_id", SERVER, note="assigned by managers or the back office"),
            (LWW, "subject description category priority"),
            state("status", "ticket"),
            FieldRule("resolved_at", COMPUTED, note="stamped when the status becomes resolved"),
        ),
        checks={
            "account_id": Ref("account"),
            "opened_by_id": USER,
            "assignee_id": USER,
            "subject": NAME,
            "description": NOTES,
            "category": LABEL,
            "priority": Text(max_length=10, choices=("low", "normal", "high", "urgent")),
            "status": states("ticket"),
            "resolved_at": WHEN,
        },
        optional="assignee_id description resolved_at",
        access=Access(
            reads=frozenset({Reach.OWNER, Reach.TERRITORY}),
            creates=OWN_IN_TERRITORY,
            owner=("opened_by_id",),
            account="account_id",
            api_scopes=frozenset({"tickets:read", "tickets:write"}),
        ),
        events=(Event("ticket.opened", changed=False),),
        device_can_create=True,
        device_can_delete=False,
        scope="Tickets the rep opened, and those of the accounts of the rep's territory. "
        "Managers: their region's, read-only.",
        delete_rule=delete("Devices cannot delete a ticket; they close it. " + NO_DEVICE_DELETE),
    ),
    declare_note("ticket_comment", parent="ticket"),
)
