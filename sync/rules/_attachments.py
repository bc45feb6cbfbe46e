"""Attachments: photos and documents captured on a visit, a ticket or an order (a shelf photo,
a broken machine, a signed delivery note). The record is the metadata; the bytes travel beside
the change log, through the attachment content endpoints (docs/attachments.md)."""

from __future__ import annotations

from sync.constraints import Number, Ref, Text
from sync.rules._declare import (
    ONCE,
    SERVER,
    USER,
    WHEN,
    Access,
    FieldRule,
    Parent,
    Reach,
    declare,
    delete,
    field_rules,
)

__all__ = [
    "ENTITIES",
    "FILE_NAME",
    "MAX_BYTES",
    "MEDIA_TYPES",
    "OWNER_KINDS",
    "SHA256",
]

OWNER_KINDS = ("visit", "ticket", "order")
"""The records an attachment may hang under. Its reach is its owner's, whichever kind that is:
every door reads these through ``Parent.entities`` / ``Parent.of``."""

MEDIA_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "application/pdf")
"""What a device may attach: photos and scanned documents. Anything else is refused on the
device, on the push (``validation``) and on upload (415)."""

MAX_BYTES = 100 * 1024 * 1024
"""The protocol's ceiling on one attachment. The server refuses uploads above its own,
smaller, configured limit (``FIELDLINE_ATTACHMENT_MAX_BYTES``) with 413."""

SHA256 = Text(
    max_length=64,
    min_length=64,
    pattern=r"^[0-9a-f]{64}$",
    hint="a SHA-256 digest as 64 lower-case hex digits",
)
FILE_NAME = Text(
    max_length=255,
    min_length=1,
    pattern=r"^[^/\\]+$",
    hint="a file name without a directory (no / or \\)",
)

ENTITIES = (
    declare(
        entity="attachment",
        fields=field_rules(
            FieldRule("owner_entity", ONCE, note="the kind of record it hangs under"),
            (ONCE, "owner_id file_name media_type byte_size sha256 captured_at"),
            FieldRule("author_id", SERVER, note="whoever captured it: the server says who"),
        ),
        checks={
            "owner_entity": Text(max_length=20, choices=OWNER_KINDS),
            "owner_id": Ref("visit, ticket or order"),
            "file_name": FILE_NAME,
            "media_type": Text(max_length=100, choices=MEDIA_TYPES),
            "byte_size": Number(ge=1, le=MAX_BYTES, integer=True),
            "sha256": SHA256,
            "captured_at": WHEN,
            "author_id": USER,
        },
        access=Access(reads=frozenset({Reach.PARENT}), creates=frozenset({Reach.PARENT})),
        device_can_create=True,
        device_can_delete=False,
        append_only=True,
        scope="Follows the visit, ticket or order it hangs under.",
        delete_rule=delete("Append-only: created once, never changed or deleted through sync."),
        parent=Parent("visit, ticket or order", "owner_id", kind="owner_entity", kinds=OWNER_KINDS),
    ),
)
