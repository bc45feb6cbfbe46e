"""Sync scope: who receives a record.

Each record gets scope keys when it is written — a territory, a user, a region, "public", or one
device — and a caller's scope is a predicate over those keys. Computing the keys at write time
(instead of joining at read time) makes a pull one indexed scan and lets the writer notice when a
record leaves someone's scope, so it can send them an eviction in the same ordered stream.

    rep      public OR territory = their territory OR user = themselves (+ rows for their device)
    manager  public OR region = their region                     (read-only)
    admin    everything

Per entity (the "Scope" column of docs/conflict-rules.md):
    product, price_list, price      public
    account                         territory (and its region)
    contact                         the account's territory
    suggestion                      the account's territory (read-only for devices)
    visit, order                    the rep (and the rep's region)
    visit_note, order_line          as the parent visit / order
    ticket                          the opener, and the account's territory
    ticket_comment                  as the parent ticket
    attachment                      as the visit, ticket or order it hangs under
    lead                            the assignee (the capturing rep until assigned), the region
    opportunity                     the owner (and the owner's region)
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import msgspec
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    FromClause,
    and_,
    bindparam,
    false,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from server.access import links, scope_attributes
from server.accounts.models import Account
from server.auth.models import Role, User
from server.auth.principal import Principal
from server.org.models import Territory
from server.sync.entities import model_for
from sync.rules import RULES, Reach

__all__ = [
    "PARENTS",
    "PUBLIC_ENTITIES",
    "SCOPE_CHILDREN",
    "ScopeKeys",
    "ScopeResolver",
    "device_branch",
    "known_regions",
    "scope_branches",
    "scope_filter",
    "scope_key",
    "scope_params",
]

PUBLIC_ENTITIES = frozenset(e for e, rules in RULES.items() if Reach.PUBLIC in rules.access.reads)


class ScopeKeys(msgspec.Struct, frozen=True):
    # A Struct: one is built for every change row, and a frozen dataclass costs ten times as
    # much to construct.
    territory_id: str | None = None
    user_id: str | None = None
    region_id: str | None = None
    public: bool = False

    def as_columns(self) -> dict[str, Any]:
        return {
            "territory_id": self.territory_id,
            "user_id": self.user_id,
            "region_id": self.region_id,
            "public": self.public,
        }


_NOWHERE = ScopeKeys()
_PUBLIC = ScopeKeys(public=True)


_KNOWN_REGIONS = "fieldline.known_regions"


def known_regions(
    session: Session, *, users: Mapping[str, str | None], territories: Mapping[str, str | None]
) -> None:
    """Regions the caller has already read (a request's principal: the user's region and their
    territory's): every resolver of ``session`` starts from them instead of querying."""
    session.info[_KNOWN_REGIONS] = (dict(users), dict(territories))


class ScopeResolver:
    """Computes scope keys inside a flush. Parents written in the same flush are read from the
    identity map (their rows may not be visible to a query yet in the form we need); others are
    looked up once and cached for the flush."""

    def __init__(self, session: Session) -> None:
        self.session = session
        users, territories = session.info.get(_KNOWN_REGIONS, ({}, {}))
        self.territory_regions: dict[str, str | None] = dict(territories)
        """Territory id → region id, read once per flush (or known beforehand)."""
        self._user_region: dict[str, str | None] = dict(users)
        self.preloaded: dict[tuple[type[Any], str], Any] = {}
        """Parents fetched in bulk beforehand (rows or objects), consulted first."""

    def _get(self, model: type[Any], pk: str | None) -> Any:
        if pk is None:
            return None
        found = self.preloaded.get((model, pk))
        if found is not None:
            return found
        obj = self.session.identity_map.get(identity_key(model, pk))
        if obj is None:
            obj = self.session.get(model, pk)
        return obj

    def territory_region(self, territory_id: str | None) -> str | None:
        if territory_id is None:
            return None
        if territory_id not in self.territory_regions:
            self.territory_regions[territory_id] = self.session.execute(
                select(Territory.region_id).where(Territory.id == territory_id)
            ).scalar_one_or_none()
        return self.territory_regions[territory_id]

    def user_region(self, user_id: str | None) -> str | None:
        if user_id is None:
            return None
        if user_id not in self._user_region:
            self._user_region[user_id] = self.session.execute(
                select(User.region_id).where(User.id == user_id)
            ).scalar_one_or_none()
        return self._user_region[user_id]

    def keys(self, entity: str, values: Any) -> ScopeKeys:
        """Scope keys for a record whose attributes are readable on ``values`` (the object, or
        a stand-in holding its values before the change), from the entity's declared reach
        (``sync.rules``, ``Access``): a parent's keys, a territory (its own or its account's),
        an owner, and the region of the first of these that has one."""
        access = RULES[entity].access
        reads = access.reads
        if Reach.PUBLIC in reads:
            return _PUBLIC
        if Reach.PARENT in reads:
            parent = RULES[entity].parent
            assert parent is not None
            named = parent.of(values)
            if named is None:
                return _NOWHERE
            found = self._get(_model(named[0]), named[1])
            return self.keys(named[0], found) if found is not None else _NOWHERE
        territory = None
        if Reach.TERRITORY in reads:
            if access.territory is not None:
                territory = getattr(values, access.territory)
            elif access.account is not None:
                account = self._get(Account, getattr(values, access.account))
                territory = account.territory_id if account is not None else None
        user = access.owner_of(values) if Reach.OWNER in reads else None
        region = getattr(values, access.region) if access.region else None
        region = region or self.territory_region(territory) or self.user_region(user)
        return ScopeKeys(territory_id=territory, user_id=user, region_id=region)


def _model(entity: str) -> type[Any]:
    model = model_for(entity)
    assert model is not None, entity
    return model


def _children() -> dict[str, tuple[tuple[type[Any], str], ...]]:
    found: dict[str, list[tuple[type[Any], str]]] = {}
    for entity in RULES:
        for parent, fk in links(entity):
            found.setdefault(parent, []).append((_model(entity), fk))
    return {parent: tuple(children) for parent, children in found.items()}


SCOPE_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    entity: names for entity in RULES if (names := scope_attributes(entity))
}
"""Attributes whose change can move a record out of someone's scope (the others are write-once
or derived from a parent)."""

SCOPE_CHILDREN = _children()
"""Children whose scope follows the parent's, re-announced when the parent moves."""

PARENTS: dict[str, tuple[tuple[type[Any], str], ...]] = {
    entity: tuple((_model(parent), fk) for parent, fk in found)
    for entity in RULES
    if (found := links(entity))
}
"""The records a child's scope is read from (see ``ScopeResolver.keys``)."""


def scope_key(principal: Principal) -> str:
    """Identifies a caller's scope; a cursor issued under another key is useless (the device
    must re-bootstrap to get a consistent view)."""
    return f"{principal.role}:{principal.territory_id or '-'}:{principal.region_id or '-'}"


TERRITORY_PARAM = "scope_territory_id"
USER_PARAM = "scope_user_id"
REGION_PARAM = "scope_region_id"
DEVICE_PARAM = "scope_device_id"


def scope_params(principal: Principal) -> dict[str, Any]:
    """Values for the parameters of ``scope_branches``, ``scope_filter`` and ``device_branch``:
    every statement built from them is executed with these (a missing one is an error, never a
    wider scope)."""
    return {
        TERRITORY_PARAM: principal.territory_id,
        USER_PARAM: principal.user_id,
        REGION_PARAM: principal.region_id,
        DEVICE_PARAM: principal.device_id,
    }


@cache
def scope_branches(role: Role, table: FromClause) -> tuple[ColumnElement[bool], ...]:
    """A role's scope over a table's territory_id/user_id/region_id/public columns, as disjuncts
    that each match one index (pulls read them as separately ordered streams, server/sync/
    pull.py). A record may satisfy more than one. The caller's own keys are bound parameters
    (``scope_params``), so each role's predicates, and the statements built from them, are
    built once and reused for every caller."""
    columns = table.c
    if role is Role.ADMIN:
        return (true(),)
    if role is Role.MANAGER:
        return (columns.public.is_(True), columns.region_id == _param(REGION_PARAM))
    if role is Role.REP:
        return (
            columns.public.is_(True),
            and_(
                columns.territory_id.is_not(None), columns.territory_id == _param(TERRITORY_PARAM)
            ),
            columns.user_id == _param(USER_PARAM),
        )
    return (false(),)


@cache
def device_branch(table: FromClause) -> ColumnElement[bool]:
    """Rows addressed to the caller's device alone (conflict notices): no scope keys."""
    return table.c.device_id == _param(DEVICE_PARAM)


def scope_filter(role: Role, table: FromClause) -> ColumnElement[bool]:
    """A predicate over a table with territory_id/user_id/region_id/public (and, for the change
    log, device_id) columns, selecting what a caller of ``role`` may receive; execute it with
    ``scope_params``."""
    shared = or_(*scope_branches(role, table))
    if "device_id" not in table.c:
        return shared
    return or_(and_(table.c.device_id.is_(None), shared), device_branch(table))


def _param(name: str) -> BindParameter[Any]:
    return bindparam(name, required=True)
