"""What every REST resource shares: id types, strict request bodies, guards that mix roles and
API-key scopes, PATCH application and ORM-to-Struct conversion."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Controller, Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import Guard, principal_of
from server.auth.models import Role
from server.auth.principal import Principal
from server.errors import BadRequest, Conflict, Forbidden
from server.problems import field_from_msgspec_message
from sync.errors import IllegalTransition
from sync.ids import new_id
from sync.machines import MACHINES, ActorOrAdmin, check_transition
from sync.rules import RULES, Policy

__all__ = [
    "UUID_PATTERN",
    "Id",
    "IdParam",
    "Money",
    "OptionalIdQuery",
    "Percent",
    "ResourceController",
    "actor_of",
    "allows",
    "apply_patch",
    "as_utc",
    "changed_values",
    "check_create",
    "check_initial",
    "check_move",
    "check_patch",
    "claim_id",
    "strict_body",
    "to_decimal",
    "to_out",
]

T = TypeVar("T")

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
"""Canonical lower-case UUID text, as ``sync.ids.new_id`` writes it."""

Id = Annotated[str, msgspec.Meta(pattern=UUID_PATTERN, description="UUID (lower-case text)")]
IdParam = Annotated[str, Parameter(pattern=UUID_PATTERN, description="UUID (lower-case text)")]
OptionalIdQuery = Annotated[
    str | None, Parameter(pattern=UUID_PATTERN, required=False, description="UUID filter")
]

Money = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[0-9]{1,12}(\.[0-9]{1,2})?$",
        description='an amount as a decimal string, e.g. "12.50" (never a JSON number)',
        examples=["12.50"],
    ),
]
Percent = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(100(\.0{1,2})?|[0-9]{1,2}(\.[0-9]{1,2})?)$",
        description='a percentage 0..100 as a decimal string, e.g. "7.5"',
        examples=["7.5"],
    ),
]


@cache
def _decoder(annotation: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(annotation)


async def strict_body(request: Request[Any, Any, Any]) -> None:
    """Decode the JSON body strictly before the handler sees it.

    Litestar converts bodies with msgspec's lax rules (``"5"`` would pass as an int); a client
    sending the wrong type must hear so, naming the field, before anything is written.
    """
    field = request.route_handler.parsed_data_field
    if field is None:
        return
    media_type = request.headers.get("content-type", "")
    if "msgpack" in media_type or "form" in media_type:
        return  # decoded by their own extractors; everything else is read as JSON
    body = await request.body()
    if not body:
        return
    try:
        _decoder(field.annotation).decode(body)
    except msgspec.ValidationError as exc:
        message = str(exc)
        raise BadRequest(message, field=field_from_msgspec_message(message)) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None


class ResourceController(Controller):
    """Base for the REST resources: strict bodies on every write."""

    before_request = staticmethod(strict_body)


def allows(*roles: Role, scopes: tuple[str, ...] = ()) -> Guard:
    """Admins always pass; logged-in users with one of ``roles`` pass; an API key passes when it
    carries one of ``scopes``."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = principal_of(connection)
        if principal.is_admin:
            return
        if principal.user_id is not None and principal.role in roles:
            return
        if principal.scopes.intersection(scopes):
            return
        wanted = sorted({*(r.value for r in roles), Role.ADMIN.value})
        needs = "one of the roles " + ", ".join(wanted)
        if scopes:
            needs += " or an API key with the scope " + " or ".join(f"'{s}'" for s in scopes)
        raise Forbidden(
            f"this needs {needs}", extra={"required_scopes": list(scopes)} if scopes else None
        )

    return guard


def check_patch(record: object, patch: msgspec.Struct, principal: Principal) -> None:
    """A synced record's field policies (``sync.rules``) hold on REST as on a sync push: no
    caller changes a write-once field already set (400, a push's ``validation``), and a rep —
    who acts as their device would — changes no server-owned field (403, a push's
    ``server_owned_field``). Services ask this before resolving the ids a patch names, so both
    doors refuse the same patch for the same reason."""
    entity = getattr(type(record), "__sync_entity__", None)
    if entity is None:
        return
    device = actor_of(principal) == "device"
    rules = RULES[entity]
    changes = {
        name: value
        for name, value in changed_values(patch).items()
        if name in rules.fields and getattr(record, name) != value
    }
    guard = rules.editable_while
    if device and guard is not None and not guard.of_parent and changes:
        state = getattr(record, guard.field)
        edited = sorted(n for n in changes if n != guard.field)
        if edited and state not in guard.states and changes.get(guard.field) not in guard.states:
            allowed = " or ".join(f"'{s}'" for s in sorted(guard.states))
            raise Conflict(
                f"{entity} can be edited ({', '.join(edited)}) only while {allowed}; "
                f"it is '{state}'",
                field=edited[0],
                extra={"current": {"id": getattr(record, "id", None), guard.field: state}},
            )
    for name in changes:
        rule = rules.fields[name]
        current = getattr(record, name)
        if rule.policy is Policy.WRITE_ONCE and current is not None:
            raise BadRequest(
                f"{entity}.{name} is write-once: it is already set and cannot change", field=name
            )
        if device and rule.policy is Policy.SERVER_OWNED:
            raise Forbidden(f"{entity}.{name} is set by the server, not by reps", field=name)


def check_create(entity: str, data: msgspec.Struct, principal: Principal, **fills: Any) -> None:
    """A rep's create may name a server-owned field only with the value the server would fill
    in anyway (the body's default, or ``fills``: the rep's own territory, say), as a sync push
    drops such a value and refuses any other (``server_owned_field``, here 403)."""
    if actor_of(principal) != "device":
        return
    rules = RULES[entity].fields
    defaults = {f.name: f.default for f in msgspec.structs.fields(data)}
    for name, value in changed_values(data).items():
        rule = rules.get(name)
        if rule is None or rule.policy is not Policy.SERVER_OWNED or value is None:
            continue
        if value == defaults.get(name) or value == fills.get(name):
            continue
        raise Forbidden(f"{entity}.{name} is set by the server, not by reps", field=name)


def apply_patch(
    record: object, patch: msgspec.Struct, principal: Principal | None = None
) -> dict[str, Any]:
    """Set every field the client sent (UNSET ones are left alone); returns what changed. With
    the caller given, ``check_patch`` first."""
    if principal is not None:
        check_patch(record, patch, principal)
    changed: dict[str, Any] = {}
    for name, value in changed_values(patch).items():
        if getattr(record, name) != value:
            setattr(record, name, value)
            changed[name] = value
    return changed


def to_out(record: object, out: type[T]) -> T:
    return msgspec.convert(record, out, from_attributes=True)


def as_utc(value: datetime | None) -> datetime | None:
    """Query-string times without an offset are taken as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def actor_of(principal: Principal) -> ActorOrAdmin:
    """The state-machine actor a REST caller acts as: a rep through the API acts as their
    device would."""
    if principal.is_admin:
        return "admin"
    if principal.api_key_id is not None or principal.role is Role.BACKOFFICE:
        return "backoffice"
    if principal.role is Role.MANAGER:
        return "manager"
    return "device"


def check_move(machine: str, record: Any, new: str, principal: Principal) -> None:
    """Refuse an illegal state change with 409, carrying the record's current state and the
    moves the caller could make instead."""
    field = MACHINES[machine].field
    current = getattr(record, field)
    try:
        check_transition(machine, current, new, actor_of(principal))
    except IllegalTransition as exc:
        raise Conflict(
            str(exc),
            field=field,
            extra={
                "current": {"id": record.id, field: current, "version": record.version},
                "allowed": exc.allowed,
            },
        ) from None


def check_initial(machine: str, new: str, principal: Principal) -> None:
    """A record may only be created in the states the machine allows for the caller: any other
    is an illegal move from nothing (409), as a sync push answers it ``illegal_transition``."""
    field = MACHINES[machine].field
    try:
        check_transition(machine, None, new, actor_of(principal))
    except IllegalTransition as exc:
        raise Conflict(
            str(exc), field=field, extra={"current": {field: None}, "allowed": exc.allowed}
        ) from None


async def claim_id(session: AsyncSession, model: type[Any], record_id: str | None) -> str:
    """The id for a new record: the client's own (devices create records offline with ids of
    their making, and a retried create must not make a twin) or a fresh UUIDv7."""
    if record_id is None:
        return new_id()
    if await session.get(model, record_id) is not None:
        raise Conflict(f"a record with id {record_id} already exists", field="id")
    return record_id


def changed_values(patch: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body actually carries."""
    return {
        name: getattr(patch, name)
        for name in patch.__struct_fields__
        if getattr(patch, name) is not msgspec.UNSET
    }


_CENT = Decimal("0.01")


def to_decimal(text: str) -> Decimal:
    """A validated ``Money`` or ``Percent`` string as the cents-exact Decimal stored for it."""
    return Decimal(text).quantize(_CENT)
