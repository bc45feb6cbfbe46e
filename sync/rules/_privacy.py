"""Consent: what a contact or a lead agreed to, purpose by purpose, as an append-only history
recorded in the field and over REST (docs/privacy.md). Declared beside its subject
(``_accounts``, ``_leads``), as notes are beside theirs."""

from __future__ import annotations

from sync.constraints import Ref, Text
from sync.rules._declare import (
    AS_PARENT,
    ONCE,
    SERVER,
    USER,
    WHEN,
    EntityRules,
    Erasure,
    FieldRule,
    Parent,
    Subject,
    SubjectKind,
    declare,
    delete,
    field_rules,
)

__all__ = [
    "CHANNELS",
    "PURPOSES",
    "SOURCES",
    "STATUSES",
    "declare_consent",
]

PURPOSES = ("email_marketing", "phone_calls", "sms_marketing", "postal_marketing", "visit_notes")
"""What a person may agree to: marketing by e-mail, sales calls by phone, marketing by text
message, marketing by post, and personal remarks about them kept in visit notes."""
CHANNELS = ("in_person", "phone", "email", "web_form", "paper", "system")
"""How the consent (or its withdrawal) was expressed; ``system``: by an erasure."""
STATUSES = ("given", "withdrawn")
SOURCES = ("device", "rest", "import", "erasure")
"""Which door recorded it: a rep's device, the REST API, a bulk import, an erasure."""


def declare_consent(parent: SubjectKind) -> EntityRules:
    """A consent decision about a contact or a lead: append-only (a new decision is a new
    record; the latest per purpose is the one in force), following its subject's reach."""
    fk = f"{parent}_id"
    return declare(
        entity=f"{parent}_consent",
        fields=field_rules(
            (ONCE, fk),
            (ONCE, "purpose status channel recorded_at"),
            FieldRule("recorded_by_id", SERVER, note="whoever recorded it: the server says who"),
            FieldRule("source", SERVER, note="the door it came through: the server says which"),
        ),
        checks={
            fk: Ref(parent),
            "purpose": Text(max_length=40, choices=PURPOSES),
            "status": Text(max_length=20, choices=STATUSES),
            "channel": Text(max_length=20, choices=CHANNELS),
            "recorded_at": WHEN,
            "recorded_by_id": USER,
            "source": Text(max_length=20, choices=SOURCES),
        },
        optional="recorded_by_id",
        access=AS_PARENT,
        device_can_create=True,
        device_can_delete=False,
        append_only=True,
        subjects=(Subject(parent, fk),),
        erasure=Erasure.KEEP,
        scope=f"Follows its {parent}.",
        delete_rule=delete("Append-only: created once, never changed or deleted through sync."),
        parent=Parent(parent, fk),
        notes=(
            "The decision in force for a purpose is the latest by `recorded_at` (then id); "
            "history is never edited. Erasing the subject appends a withdrawal for every "
            "purpose and keeps the history, which holds no personal value.",
        ),
    )
