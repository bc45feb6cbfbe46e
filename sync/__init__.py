"""Fieldline's sync protocol: wire messages, hybrid logical clock, conflict rules, state
machines and the merge function. No I/O — the server and the client SDK feed it values and act on
what it returns."""

from sync.clock import Hlc
from sync.errors import (
    CursorExpired,
    IllegalTransition,
    MalformedMessage,
    ProtocolMismatch,
    SyncError,
    UnknownEntity,
)
from sync.machines import Actor, check_transition
from sync.merge import Discard, Rejection, Resolution, Stored, apply_server_write, merge
from sync.messages import PROTOCOL_VERSION, Delete, PullPage, PushRequest, PushResponse, Upsert
from sync.rules import RULES, Policy, entity_rules, synced_fields

__all__ = [
    "PROTOCOL_VERSION",
    "RULES",
    "Actor",
    "CursorExpired",
    "Delete",
    "Discard",
    "Hlc",
    "IllegalTransition",
    "MalformedMessage",
    "Policy",
    "ProtocolMismatch",
    "PullPage",
    "PushRequest",
    "PushResponse",
    "Rejection",
    "Resolution",
    "Stored",
    "SyncError",
    "UnknownEntity",
    "Upsert",
    "apply_server_write",
    "check_transition",
    "entity_rules",
    "merge",
    "synced_fields",
]
