"""``/api/v1/attachments``: metadata of one attachment, and its content up and down. The
metadata itself is created by a device's sync push, like any synced record."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Request, Response, get, post, put
from litestar.datastructures import ETag
from litestar.params import Parameter
from litestar.response import File, Stream
from sqlalchemy.ext.asyncio import AsyncSession

from server.attachments import service
from server.attachments.schemas import (
    AttachmentOut,
    ContentStored,
    MissingContent,
    MissingContentQuery,
    UploadStatus,
)
from server.auth.guards import principal_of
from server.auth.models import Role
from server.db.session import begin_reading
from server.errors import NotFound
from server.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from server.rest import IdParam, OptionalIdQuery, ResourceController, allows, to_out

__all__ = ["AttachmentController"]

# API keys reach an attachment through its owner record (an orders key: delivery notes).
_SCOPES = ("orders:read", "orders:write", "tickets:read", "tickets:write")
_read = [allows(Role.REP, Role.MANAGER, scopes=_SCOPES)]
_upload = [allows(Role.REP)]


class AttachmentController(ResourceController):
    path = "/attachments"
    tags = ("attachments",)

    @get("/", guards=_read, summary="List attachments in scope (filter by owner record)")
    async def list_attachments(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        owner_entity: Annotated[
            Literal["visit", "ticket", "order"] | None, Parameter(required=False)
        ] = None,
        owner_id: OptionalIdQuery = None,
    ) -> Page[AttachmentOut]:
        return await service.list_attachments(
            db,
            principal_of(request),
            owner_entity=owner_entity,
            owner_id=owner_id,
            limit=limit,
            cursor=cursor,
        )

    @get("/{attachment_id:str}", guards=_read, summary="One attachment's metadata")
    async def get_attachment(
        self, request: Request[Any, Any, Any], db: AsyncSession, attachment_id: IdParam
    ) -> AttachmentOut:
        found = await service.find(db, principal_of(request), attachment_id)
        out = to_out(found, AttachmentOut)
        out.content_stored = service.blob_store(request.app.state.settings).has(found.sha256)
        return out

    @post(
        "/missing-content",
        guards=_upload,
        summary="Which of these attachments still need their content uploaded",
        status_code=200,
    )
    async def missing_content(
        self, request: Request[Any, Any, Any], db: AsyncSession, data: MissingContentQuery
    ) -> MissingContent:
        store = service.blob_store(request.app.state.settings)
        missing, unknown = await service.missing_content(db, principal_of(request), store, data.ids)
        return MissingContent(missing=missing, unknown=unknown)

    @put(
        "/{attachment_id:str}/content",
        guards=_upload,
        summary="Upload an attachment's content, whole or in parts (verified against its metadata)",
        description=(
            "Without Content-Range the body is the whole content. With "
            "`Content-Range: bytes START-END/TOTAL` it is one part of a resumable upload: START "
            "must be the offset the server holds (else 409 naming it), the part is appended "
            "durably and answered 202 with the new offset, and the last part is answered as a "
            "whole upload is."
        ),
        # The attachment limit is the configured one, checked while the body streams in.
        request_max_body_size=None,
        status_code=200,
    )
    async def put_content(
        self, request: Request[Any, Any, Any], db: AsyncSession, attachment_id: IdParam
    ) -> Response[ContentStored | UploadStatus]:
        settings = request.app.state.settings
        # Read the metadata in a reader's transaction and end it before the body streams in:
        # a slow upload must not hold a database connection (or SQLite's writer lock).
        await begin_reading(db, request.app.state)
        found = await service.find(db, principal_of(request), attachment_id)
        digest, size = found.sha256, found.byte_size
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        length = request.headers.get("content-length")
        content_length = int(length) if length and length.isdigit() else None
        content_range = request.headers.get("content-range")
        store = service.blob_store(settings)
        if content_range is not None:
            part = service.parse_content_range(content_range)
            service.check_part(
                found, media_type, part, content_length, settings.attachment_max_bytes
            )
            await db.commit()
            offset, stored = await service.store_part(
                store,
                attachment_id,
                digest,
                size,
                part,
                request.stream(),
                settings.attachment_max_bytes,
            )
            if stored is None:
                status = UploadStatus(
                    id=attachment_id, offset=offset, byte_size=size, complete=False
                )
                return Response(status, status_code=202, headers={"Upload-Offset": str(offset)})
            new = stored
        else:
            service.check_upload(found, media_type, content_length, settings.attachment_max_bytes)
            await db.commit()
            new = await service.store_content(
                store,
                attachment_id,
                digest,
                size,
                request.stream(),
                settings.attachment_max_bytes,
            )
            # A resumable upload of the same attachment, abandoned for this one, is moot now.
            store.discard_partial(attachment_id)
        body = ContentStored(id=attachment_id, sha256=digest, byte_size=size, newly_stored=new)
        return Response(body, status_code=201 if new else 200, headers={"Upload-Offset": str(size)})

    @get(
        "/{attachment_id:str}/upload",
        guards=_upload,
        summary="How many bytes of an attachment's content the server holds (resume after them)",
    )
    async def upload_status(
        self, request: Request[Any, Any, Any], db: AsyncSession, attachment_id: IdParam
    ) -> Response[UploadStatus]:
        found = await service.find(db, principal_of(request), attachment_id)
        store = service.blob_store(request.app.state.settings)
        await db.commit()
        offset = await service.upload_offset(store, attachment_id, found.sha256, found.byte_size)
        status = UploadStatus(
            id=attachment_id,
            offset=offset,
            byte_size=found.byte_size,
            complete=offset == found.byte_size and store.has(found.sha256),
        )
        return Response(status, headers={"Upload-Offset": str(offset), "Cache-Control": "no-store"})

    @get(
        "/{attachment_id:str}/content",
        guards=_read,
        summary="Download an attachment's content",
        media_type="application/octet-stream",
    )
    async def get_content(
        self, request: Request[Any, Any, Any], db: AsyncSession, attachment_id: IdParam
    ) -> Any:
        found = await service.find(db, principal_of(request), attachment_id)
        etag = f'"{found.sha256}"'
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=86400"}
        if request.headers.get("if-none-match") in (etag, found.sha256):
            return Response(b"", status_code=304, headers={**headers, "ETag": etag})
        store = service.blob_store(request.app.state.settings)
        if not store.has(found.sha256):
            raise NotFound(
                f"the content of attachment {attachment_id} has not been uploaded yet",
                extra={"reason": "not_uploaded"},
            )
        path = store.local_path(found.sha256)
        if path is None:
            return Stream(
                store.read(found.sha256),
                media_type=found.media_type,
                headers={
                    **headers,
                    "ETag": etag,
                    "Content-Disposition": f'attachment; filename="{found.file_name}"',
                },
            )
        return File(
            path,
            filename=found.file_name,
            media_type=found.media_type,
            content_disposition_type="attachment",
            etag=ETag(value=found.sha256),
            headers=headers,
        )
