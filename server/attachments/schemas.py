"""What the attachment endpoints read and answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from server.rest import Id

__all__ = [
    "AttachmentOut",
    "ContentStored",
    "MissingContent",
    "MissingContentQuery",
    "UploadStatus",
]


class AttachmentOut(msgspec.Struct, kw_only=True):
    id: str
    owner_entity: str
    owner_id: str
    file_name: str
    media_type: str
    byte_size: int
    sha256: str
    captured_at: datetime
    author_id: str
    created_at: datetime
    content_stored: bool = False
    """Whether the server holds the bytes (a device uploads them after its push)."""


class ContentStored(msgspec.Struct, kw_only=True):
    id: str
    sha256: str
    byte_size: int
    newly_stored: bool
    """False when the server already held this content (another attachment, or a retry)."""


class MissingContentQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    ids: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=1000)]


class MissingContent(msgspec.Struct, kw_only=True):
    missing: list[str]
    """Attachments the caller may upload whose content the server does not hold yet."""
    unknown: list[str]
    """Ids the server has no attachment for in the caller's reach (metadata not pushed yet,
    refused, or out of scope)."""


class UploadStatus(msgspec.Struct, kw_only=True):
    """Where a resumable upload stands: the next part starts at ``offset``."""

    id: str
    offset: int
    """Bytes of the content the server holds (``byte_size`` once stored)."""
    byte_size: int
    complete: bool
