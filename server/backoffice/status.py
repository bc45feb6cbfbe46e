"""Status write-back: the back office decides an order's fate (accepted, rejected, fulfilled,
invoiced, cancelled) and names it in its ERP.

The order is changed through the ORM, so the change capture bumps its version and logs it; the
rep's device receives the new status, reason and ERP reference on its next pull, as server-owned
fields no device can overwrite. The state machine is ``sync.machines.ORDER``, acting as
``backoffice``.

Idempotency: repeating a request has one effect. With an ``Idempotency-Key`` header, the first
successful answer is stored and replayed for the same key (a different request under the same
key is refused). Without one, a request naming the status the order already has is a no-op that
answers the current state (it may still add or correct the ERP reference or reason).
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.service import record as audit
from server.auth.principal import Principal
from server.backoffice.models import IdempotencyRecord
from server.backoffice.schemas import StatusIn, StatusOut
from server.db.base import utcnow
from server.errors import BadRequest, Conflict, NotFound, UnprocessableEntity
from server.orders.models import Order
from sync.errors import IllegalTransition
from sync.machines import check_transition

__all__ = ["Answer", "set_status", "set_status_once"]


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def _caller(principal: Principal) -> str:
    return principal.api_key_id or f"user:{principal.user_id}"


def _request_hash(order_id: str, change: StatusIn) -> str:
    canonical = msgspec.json.encode({"order": order_id, **msgspec.structs.asdict(change)})
    return hashlib.sha256(canonical).hexdigest()


async def set_status_once(
    session: AsyncSession,
    order_id: str,
    change: StatusIn,
    *,
    principal: Principal,
    idempotency_key: str | None,
) -> Answer:
    if idempotency_key is None:
        result = await set_status(session, order_id, change, principal=principal)
        return Answer(status_code=200, body=msgspec.to_builtins(result))
    if not 1 <= len(idempotency_key) <= 200:
        raise BadRequest("Idempotency-Key must be 1 to 200 characters", field="Idempotency-Key")
    caller = _caller(principal)
    request_hash = _request_hash(order_id, change)
    stored = await _stored(session, caller, idempotency_key)
    if stored is None:
        reserved = IdempotencyRecord(
            key=idempotency_key,
            api_key_id=caller,
            request_hash=request_hash,
            response_status=0,
            response_body={},
        )
        try:
            # Reserve the key before acting: a concurrent twin blocks on the unique index
            # until this transaction ends, then replays what it stored.
            async with session.begin_nested():
                session.add(reserved)
                await session.flush()
        except IntegrityError:
            stored = await _stored(session, caller, idempotency_key)
            if stored is None:
                raise
        else:
            result = await set_status(session, order_id, change, principal=principal)
            reserved.response_status = 200
            reserved.response_body = msgspec.to_builtins(result)
            await session.flush()
            return Answer(status_code=200, body=reserved.response_body)
    if stored.request_hash != request_hash:
        raise UnprocessableEntity(
            "this Idempotency-Key was already used for a different request",
            field="Idempotency-Key",
        )
    return Answer(status_code=stored.response_status, body=stored.response_body, replayed=True)


async def _stored(session: AsyncSession, caller: str, key: str) -> IdempotencyRecord | None:
    return await session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.api_key_id == caller, IdempotencyRecord.key == key
        )
    )


async def set_status(
    session: AsyncSession, order_id: str, change: StatusIn, *, principal: Principal
) -> StatusOut:
    if change.status == "rejected" and not change.reason:
        raise BadRequest("a rejection needs a reason", field="reason")
    order = await session.scalar(
        select(Order).where(Order.id == order_id, Order.deleted_at.is_(None)).with_for_update()
    )
    if order is None:
        raise NotFound(f"no order {order_id}")
    if order.status == change.status:
        _amend(order, change)
    else:
        try:
            check_transition("order", order.status, change.status, "backoffice")
        except IllegalTransition as exc:
            raise Conflict(
                f"order is '{order.status}'; it cannot become '{change.status}'",
                extra={
                    "current": {"status": order.status, "erp_ref": order.erp_ref},
                    "allowed": exc.allowed,
                },
            ) from exc
        previous = order.status
        order.status = change.status
        order.status_reason = change.reason
        if change.erp_ref is not None:
            order.erp_ref = change.erp_ref
        order.status_changed_at = utcnow()
        await audit(
            session,
            "order.status_set",
            actor=principal,
            target_type="order",
            target_id=order.id,
            details={"from": previous, "to": change.status, "erp_ref": order.erp_ref},
        )
    await session.flush()
    return StatusOut(
        id=order.id,
        status=order.status,
        status_reason=order.status_reason,
        erp_ref=order.erp_ref,
        status_changed_at=order.status_changed_at,
    )


def _amend(order: Order, change: StatusIn) -> None:
    # Same status again: a resent request changes nothing, but the ERP may name its reference
    # (or correct the reason) after the fact.
    if change.erp_ref is not None and change.erp_ref != order.erp_ref:
        order.erp_ref = change.erp_ref
    if change.reason is not None and change.reason != order.status_reason:
        order.status_reason = change.reason
