"""``POST /api/v1/sync/push`` and ``GET /api/v1/sync/pull``, plus the conflict log and the
quarantine for managers. Both sync endpoints speak JSON or MessagePack (Content-Type / Accept)
and check the protocol version header once, here at the edge."""

from __future__ import annotations

import logging
import time
import zlib
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask, BackgroundTasks
from litestar.datastructures import ResponseHeader, State
from litestar.exceptions import HTTPException
from litestar.params import Parameter
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import principal_of, requires_role, requires_user
from server.auth.models import Role
from server.auth.principal import Principal
from server.db import statistics
from server.db.base import utcnow
from server.errors import (
    BadRequest,
    FieldlineError,
    PayloadTooLarge,
    UnsupportedMediaType,
    UpgradeRequired,
)
from server.metrics import METRICS
from server.problems import field_from_msgspec_message
from server.sync import pull as pull_service
from server.sync import push as push_service
from server.sync import review
from server.sync.log import compact
from server.sync.models import DeviceSyncState
from sync import codec
from sync.errors import MalformedMessage, ProtocolMismatch, SyncError
from sync.messages import PullPage, PushRequest, Upsert

__all__ = ["SyncController"]

logger = logging.getLogger("fieldline.sync")

_PULL_TOUCH_INTERVAL_S = 60.0
_last_pull_touch: dict[str, float] = {}


class ConflictOut(msgspec.Struct, kw_only=True):
    id: int
    at: datetime
    entity: str
    record_id: str
    field: str
    kept: Any
    discarded: Any
    kept_hlc: str | None
    discarded_hlc: str | None
    kept_origin: str | None
    discarded_origin: str | None
    rule: str
    loser_user_id: str | None


class QuarantineOut(msgspec.Struct, kw_only=True):
    id: int
    at: datetime
    device_id: str
    user_id: str
    seq: int
    tx: str
    entity: str
    record_id: str
    reason: str
    detail: str
    mutation: dict[str, Any]


class CompactIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    retention_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None


class CompactOut(msgspec.Struct, kw_only=True):
    removed: int
    retention_days: int


def _check_protocol(request: Request[Any, Any, Any]) -> None:
    try:
        codec.check_protocol(request.headers.get(codec.PROTOCOL_HEADER))
    except ProtocolMismatch as exc:
        raise UpgradeRequired(exc.detail, extra={"code": exc.reason}) from exc
    except MalformedMessage as exc:
        raise BadRequest(exc.detail, field=codec.PROTOCOL_HEADER) from exc


def _as_http(exc: SyncError) -> FieldlineError:
    if exc.http_status == 415:
        return UnsupportedMediaType(exc.detail, extra={"code": exc.reason})
    # The decoder's message names the path of the bad value ("… - at `$.mutations[3].seq`").
    field = field_from_msgspec_message(exc.detail)
    return BadRequest(exc.detail, field=field, extra={"code": exc.reason})


MAX_FIELD_DEPTH = 32
"""How deep a pushed field's value may nest (a list or object counts one level). Record fields
are flat or nearly so; without a bound, a value nested a few thousand deep overflowed the
decoder's recursion, and one just under that would have reached the stores' JSON encoders."""


ACCEPTED_PUSH_ENCODING = {"Accept-Encoding": "gzip"}
"""On every sync answer (RFC 7694): the push body codings the server takes, so a device learns
it may compress before its first large push."""


def _inflate(body: bytes, encoding: str | None, max_bytes: int) -> bytes:
    """A push body as sent: identity, or gzip (what the SDK sends once the server has said it
    takes it, ``Accept-Encoding`` on sync answers). Inflated within the body limit, so a small
    compressed body cannot expand into a large one."""
    coding = (encoding or "identity").strip().lower()
    if coding == "identity":
        return body
    if coding != "gzip":
        raise UnsupportedMediaType(
            f"a push body may be sent as gzip or as is, not {coding!r}",
            field="Content-Encoding",
            extra={"code": "unsupported_encoding"},
        )
    inflater = zlib.decompressobj(wbits=31)
    try:
        inflated = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise BadRequest(
            f"the push body is not valid gzip: {exc}",
            field="Content-Encoding",
            extra={"code": "malformed"},
        ) from exc
    if len(inflated) > max_bytes or inflater.unconsumed_tail:
        raise PayloadTooLarge(
            f"the push body inflates past {max_bytes} bytes",
            extra={"max_body_bytes": max_bytes},
        )
    if not inflater.eof:
        raise BadRequest(
            "the gzip push body is cut short", field="Content-Encoding", extra={"code": "malformed"}
        )
    return inflated


def _decode_push(body: bytes, content_type: str | None) -> PushRequest:
    try:
        return codec.decode_push(body, content_type)
    except MalformedMessage as exc:
        raise _as_http(exc) from exc
    except RecursionError as exc:
        # Only ``fields`` holds values of any shape, so only it can nest this deep.
        raise BadRequest(
            f"a mutation's fields nest values deeper than {MAX_FIELD_DEPTH} levels",
            field="mutations",
            extra={"code": "malformed"},
        ) from exc


MAX_PENDING = 2**31 - 1
"""The largest outbox size the sync health page keeps: its column is a 32-bit INTEGER, which
PostgreSQL enforces (the wire type allows up to 2**63 - 1)."""


def _check_limits(message: PushRequest, max_mutations: int) -> None:
    """Refuse a push the server will not take whole, before any of it is applied."""
    if message.pending is not None and message.pending > MAX_PENDING:
        raise BadRequest(
            f"pending is {message.pending}; the server keeps at most {MAX_PENDING}",
            field="pending",
            extra={"code": "malformed"},
        )
    if len(message.mutations) > max_mutations:
        raise PayloadTooLarge(
            f"a push carries at most {max_mutations} mutations, this one "
            f"{len(message.mutations)}: send them in smaller batches, each ending with a whole "
            "client transaction",
            field="mutations",
            extra={"code": "too_many_mutations", "max_mutations": max_mutations},
        )
    no_containers = _CONTAINERS.isdisjoint
    for index, mutation in enumerate(message.mutations):
        # Most fields are scalars: one C-level pass per mutation finds those that are not, so
        # the depth walk runs only where there is something to walk.
        if type(mutation) is not Upsert or no_containers(map(type, mutation.fields.values())):
            continue
        for name, value in mutation.fields.items():
            if type(value) in _CONTAINERS and _deeper_than(value, MAX_FIELD_DEPTH):
                raise BadRequest(
                    f"{name} nests values deeper than {MAX_FIELD_DEPTH} levels",
                    field=f"mutations[{index}].fields.{name}",
                    extra={"code": "malformed"},
                )


_CONTAINERS = frozenset({dict, list})


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` lists and objects inside one another. Walked
    with a stack of its own: the check must not overflow where the decoder did not."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        for child in item.values() if type(item) is dict else item:
            if type(child) in _CONTAINERS:
                stack.append((child, depth + 1))
    return False


async def _page(
    db: AsyncSession,
    principal: Principal,
    state: State,
    media_type: str,
    *,
    cursor: str | None,
    limit: int | None,
    checksums: bool,
    resync: str | None = None,
) -> PullPage:
    page = await pull_service.pull(
        db,
        principal,
        state.settings,
        cursor=cursor,
        limit=limit or state.settings.sync_page_size,
        checksums=checksums,
        resync=resync,
        raw_json=media_type == codec.MEDIA_JSON,
    )
    METRICS.count("pulled_items", len(page.items))
    return page


async def _push(request: Request[Any, Any, Any], db: AsyncSession, state: State) -> Response[bytes]:
    """The push (``SyncController.push`` names the mutation limit on whatever this answers).
    Everything a push can be refused for as a whole is checked before any of it is applied."""
    _check_protocol(request)
    content_type = request.headers.get("content-type")
    body = _inflate(
        await request.body(),
        request.headers.get("content-encoding"),
        state.settings.max_body_bytes,
    )
    message = _decode_push(body, content_type)
    _check_limits(message, state.settings.sync_max_mutations)
    principal = principal_of(request)
    result = await push_service.push(db, principal, message, state.settings)
    result = msgspec.structs.replace(result, pulls=True)
    accept = request.headers.get("accept")
    media_type = codec.negotiate(accept) if accept else codec.canonical_media_type(content_type)
    background = None
    if message.pull is not None:
        if not state.is_sqlite:
            # On PostgreSQL the pull reads after the push is committed, as a separate GET
            # would: the push's changes must be visible to the snapshot the cursor takes.
            await db.commit()
        # On SQLite it reads inside the push's own transaction, which holds the only write
        # lock: the page is what a read just after the commit would return (no other
        # writer can come between), without a second transaction and connection.
        try:
            page = await _page(
                db,
                principal,
                state,
                media_type,
                cursor=message.pull.cursor,
                limit=message.pull.limit,
                checksums=message.pull.checksums,
            )
        except FieldlineError as exc:
            # The push stands; the device pulls as usual and gets the error there.
            logger.info("pull inside a push not answered: %s", exc.detail)
        else:
            result = msgspec.structs.replace(result, page=page)
            background = BackgroundTask(_touch_pull, state, principal)
    if not state.is_sqlite and statistics.due(state.engine, state.settings.analyze_after_rows):
        # A bulk load through pushes: the planner must not go on planning for empty tables.
        refresh = BackgroundTask(
            statistics.refresh, state.engine, state.settings.analyze_after_rows
        )
        tasks = BackgroundTasks([refresh] if background is None else [background, refresh])
        return Response(codec.encode(result, media_type), media_type=media_type, background=tasks)
    return Response(codec.encode(result, media_type), media_type=media_type, background=background)


class SyncController(Controller):
    path = "/sync"
    tags = ("sync",)

    @post(
        "/push",
        guards=[requires_user],
        summary="Push outbox mutations",
        status_code=200,
        response_headers=[
            ResponseHeader(
                name=codec.MAX_MUTATIONS_HEADER,
                description="The most mutations the server takes in one push (on every "
                "answer, errors included)",
                documentation_only=True,
            ),
            ResponseHeader(
                name=codec.UPLOAD_PARTS_HEADER,
                description="1: attachment content may be uploaded in parts (Content-Range)",
                documentation_only=True,
            ),
        ],
    )
    async def push(
        self, request: Request[Any, Any, Any], db: AsyncSession, state: State
    ) -> Response[bytes]:
        # Accept-Encoding on an answer (RFC 7694): the request codings this endpoint takes.
        limit = {
            codec.MAX_MUTATIONS_HEADER: str(state.settings.sync_max_mutations),
            codec.UPLOAD_PARTS_HEADER: "1",
            **ACCEPTED_PUSH_ENCODING,
        }
        try:
            response = await _push(request, db, state)
        except (FieldlineError, HTTPException) as exc:
            # Refusals name the limit too: a device learns it from whichever push it sends
            # first, a refused oversize one included.
            exc.headers = {**(exc.headers or {}), **limit}
            raise
        response.headers.update(limit)
        return response

    @get(
        "/pull",
        guards=[requires_user],
        summary="Pull changes after a cursor",
        response_headers=[
            ResponseHeader(
                name=codec.NEXT_CURSOR_HEADER,
                description="On a page with more after it: its cursor, to ask for the next "
                "page before this one is decoded",
                documentation_only=True,
            )
        ],
    )
    async def pull(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        state: State,
        cursor: str | None = None,
        limit: Annotated[int | None, Parameter(ge=1, le=5000)] = None,
        checksums: bool = False,
        resync: Annotated[str | None, Parameter(max_length=40)] = None,
    ) -> Response[bytes]:
        _check_protocol(request)
        principal = principal_of(request)
        media_type = codec.negotiate(request.headers.get("accept"))
        page = await _page(
            db,
            principal,
            state,
            media_type,
            cursor=cursor,
            limit=limit,
            checksums=checksums,
            resync=resync,
        )
        # After the response, with the request's own connection back in the pool: a pull that
        # waited for a second connection while holding one could starve the pool under load.
        return Response(
            codec.encode(page, media_type),
            media_type=media_type,
            headers={
                **ACCEPTED_PUSH_ENCODING,
                **({codec.NEXT_CURSOR_HEADER: page.cursor} if page.more else {}),
            },
            background=BackgroundTask(_touch_pull, state, principal),
        )

    @get(
        "/conflicts",
        guards=[requires_role(Role.MANAGER, Role.REP)],
        summary="Values discarded by conflict rules",
    )
    async def conflicts(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> list[ConflictOut]:
        rows = await review.recent_conflicts(db, principal_of(request), limit)
        return msgspec.convert(rows, list[ConflictOut], from_attributes=True)

    @get(
        "/quarantine",
        guards=[requires_role(Role.MANAGER, Role.REP)],
        summary="Mutations the server refused",
    )
    async def quarantine(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> list[QuarantineOut]:
        rows = await review.recent_rejections(db, principal_of(request), limit)
        return msgspec.convert(rows, list[QuarantineOut], from_attributes=True)

    @post("/compact", guards=[requires_role(Role.ADMIN)], summary="Compact the change log")
    async def compact(self, data: CompactIn, db: AsyncSession, state: State) -> CompactOut:
        days = data.retention_days or state.settings.sync_retention_days
        removed = await compact(db, retention_days=days)
        return CompactOut(removed=removed, retention_days=days)


async def _touch_pull(state: State, principal: Principal) -> None:
    """Note the device's last pull for the sync health page, at most once a minute and in a
    transaction of its own, so a pull stays a reader and never waits for the write lock."""
    device_id = principal.device_id
    if device_id is None:
        return
    now = time.monotonic()
    if now - _last_pull_touch.get(device_id, 0.0) < _PULL_TOUCH_INTERVAL_S:
        return
    _last_pull_touch[device_id] = now

    async with state.sessionmaker() as session:
        result = await session.execute(
            update(DeviceSyncState)
            .where(DeviceSyncState.device_id == device_id)
            .values(last_pull_at=utcnow())
        )
        if result.rowcount == 0 and principal.user_id:
            session.add(
                DeviceSyncState(
                    device_id=device_id, user_id=principal.user_id, last_pull_at=utcnow()
                )
            )
        await session.commit()
