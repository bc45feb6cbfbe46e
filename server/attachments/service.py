"""Attachment content: who may upload and download it, and what an upload must hold. The
metadata is a synced record (``sync/rules/_attachments.py``) and reaches users as its owner
record does (``server.access``); these checks read it through the same ``get_visible``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.attachments.blobs import (
    BlobTooLarge,
    DigestMismatch,
    LocalBlobStore,
    OffsetMismatch,
    PartInProgress,
    SizeMismatch,
)
from server.attachments.models import Attachment
from server.attachments.schemas import AttachmentOut
from server.auth.principal import Principal
from server.errors import BadRequest, Conflict, PayloadTooLarge, UnsupportedMediaType
from server.pagination import Page, paginate
from server.rest import to_out
from server.scoping import get_visible, scoped_select, visible
from server.settings import Settings
from sync.rules._attachments import MEDIA_TYPES

__all__ = [
    "blob_store",
    "check_part",
    "check_upload",
    "find",
    "list_attachments",
    "missing_content",
    "parse_content_range",
    "store_content",
    "store_part",
    "upload_offset",
]

_CONTENT_RANGE = re.compile(r"^bytes (\d{1,12})-(\d{1,12})/(\d{1,12})$")


@cache
def _store_at(root: str) -> LocalBlobStore:
    store = LocalBlobStore(root)
    store.sweep()
    return store


def blob_store(settings: Settings) -> LocalBlobStore:
    """The blob store under the configured data directory (opened, and swept of dead uploads,
    once per process and directory)."""
    return _store_at(str(Path(settings.data_dir).resolve() / "attachments"))


async def find(session: AsyncSession, principal: Principal, attachment_id: str) -> Attachment:
    """The attachment if the caller reaches its owner record; 404 otherwise."""
    return await get_visible(session, principal, Attachment, attachment_id, what="attachment")


async def list_attachments(
    session: AsyncSession,
    principal: Principal,
    *,
    owner_entity: str | None,
    owner_id: str | None,
    limit: int,
    cursor: str | None,
) -> Page[AttachmentOut]:
    stmt = scoped_select(principal, Attachment)
    if owner_entity:
        stmt = stmt.where(Attachment.owner_entity == owner_entity)
    if owner_id:
        stmt = stmt.where(Attachment.owner_id == owner_id)
    return await paginate(
        session,
        stmt,
        key=Attachment.id,
        limit=limit,
        cursor=cursor,
        out=lambda a: to_out(a, AttachmentOut),
    )


def check_upload(
    attachment: Attachment, media_type: str, content_length: int | None, max_bytes: int
) -> None:
    """Refusals an upload gets before a byte of it is read."""
    if media_type not in MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"attachments may be {', '.join(MEDIA_TYPES)}; not {media_type or 'untyped'}",
            field="Content-Type",
        )
    if media_type != attachment.media_type:
        raise UnsupportedMediaType(
            f"attachment {attachment.id} is {attachment.media_type}; the upload is {media_type}",
            field="Content-Type",
        )
    if attachment.byte_size > max_bytes or (content_length or 0) > max_bytes:
        raise PayloadTooLarge(
            f"attachments may be at most {max_bytes} bytes; this one is "
            f"{max(attachment.byte_size, content_length or 0)}",
            field="byte_size",
            extra={"max_bytes": max_bytes},
        )
    if content_length is not None and content_length != attachment.byte_size:
        raise BadRequest(
            f"the upload is {content_length} bytes; attachment {attachment.id} is "
            f"{attachment.byte_size}",
            field="byte_size",
        )


async def store_content(
    store: LocalBlobStore,
    attachment_id: str,
    digest: str,
    size: int,
    chunks: AsyncIterable[bytes],
    max_bytes: int,
) -> bool:
    """Write the upload into the blob store, verified against the metadata; True when the
    content was not held before."""
    with _refusals(attachment_id, max_bytes, size_field="byte_size"):
        return await store.write(chunks, digest=digest, size=size, max_bytes=max_bytes)


@contextmanager
def _refusals(attachment_id: str, max_bytes: int, *, size_field: str) -> Iterator[None]:
    """The blob store's refusals as the problems every upload answers: too large (413), a size
    other than the one declared (400 on ``size_field``), content other than its digest (400)."""
    try:
        yield
    except BlobTooLarge as exc:
        raise PayloadTooLarge(
            f"attachment {attachment_id}: {exc}", field="byte_size", extra={"max_bytes": max_bytes}
        ) from None
    except SizeMismatch as exc:
        raise BadRequest(f"attachment {attachment_id}: {exc}", field=size_field) from None
    except DigestMismatch as exc:
        raise BadRequest(f"attachment {attachment_id}: {exc}", field="sha256") from None


def parse_content_range(header: str) -> tuple[int, int, int]:
    """``bytes START-END/TOTAL`` (END inclusive, RFC 9110 §14.4) as (start, length, total)."""
    match = _CONTENT_RANGE.match(header.strip())
    if match is None:
        raise BadRequest(
            f"Content-Range must read 'bytes START-END/TOTAL'; not {header!r}",
            field="Content-Range",
        )
    start, end, total = (int(g) for g in match.groups())
    if end < start:
        raise BadRequest(f"Content-Range {header!r} ends before it starts", field="Content-Range")
    return start, end - start + 1, total


def check_part(
    attachment: Attachment,
    media_type: str,
    content_range: tuple[int, int, int],
    content_length: int | None,
    max_bytes: int,
) -> None:
    """Refusals a part of a resumable upload gets before a byte of it is read: the whole
    upload's (media type, limit), then the part's own (its range inside the content)."""
    check_upload(attachment, media_type, None, max_bytes)
    start, length, total = content_range
    if total != attachment.byte_size:
        raise BadRequest(
            f"the upload is {total} bytes; attachment {attachment.id} is {attachment.byte_size}",
            field="byte_size",
        )
    if start + length > total:
        raise BadRequest(
            f"bytes {start}-{start + length - 1} pass the end of attachment {attachment.id} "
            f"({total} bytes)",
            field="Content-Range",
        )
    if content_length is not None and content_length != length:
        raise BadRequest(
            f"the part is {content_length} bytes; its Content-Range says {length}",
            field="Content-Length",
        )


async def store_part(
    store: LocalBlobStore,
    attachment_id: str,
    digest: str,
    size: int,
    content_range: tuple[int, int, int],
    chunks: AsyncIterable[bytes],
    max_bytes: int,
) -> tuple[int, bool | None]:
    """Append one part of a resumable upload: (offset held now, None) while bytes remain;
    (size, newly stored) once the content is complete, verified and stored."""
    start, length, _ = content_range
    try:
        with _refusals(attachment_id, max_bytes, size_field="Content-Range"):
            return await store.append(
                attachment_id,
                chunks,
                start=start,
                length=length,
                digest=digest,
                size=size,
                max_bytes=max_bytes,
            )
    except OffsetMismatch as exc:
        raise Conflict(
            f"attachment {attachment_id}: {exc}; send the part starting at byte {exc.held}",
            field="Content-Range",
            extra={"offset": exc.held, "byte_size": size},
            headers={"Upload-Offset": str(exc.held)},
        ) from None
    except PartInProgress as exc:
        raise Conflict(
            f"attachment {attachment_id}: {exc}; ask for the offset and resume after it",
            field="Content-Range",
            extra={"reason": "part_in_progress"},
        ) from None


async def upload_offset(store: LocalBlobStore, attachment_id: str, digest: str, size: int) -> int:
    """How many bytes of the attachment's content the server holds."""
    try:
        await store.settle(attachment_id, digest=digest, size=size)
    except DigestMismatch as exc:
        raise BadRequest(f"attachment {attachment_id}: {exc}", field="sha256") from None
    return store.offset(attachment_id, digest=digest, size=size)


async def missing_content(
    session: AsyncSession, principal: Principal, store: LocalBlobStore, ids: list[str]
) -> tuple[list[str], list[str]]:
    """(ids whose content the server lacks, ids it knows no attachment for in reach)."""
    stmt = select(Attachment.id, Attachment.sha256).where(
        visible(principal, Attachment), Attachment.deleted_at.is_(None), Attachment.id.in_(ids)
    )
    rows = (await session.execute(stmt)).all()
    found = {row.id: row.sha256 for row in rows}
    missing = [i for i in ids if i in found and not store.has(found[i])]
    unknown = [i for i in ids if i not in found]
    return missing, unknown
