"""Who sees and who writes a synced record, derived from the one declaration each entity makes
in ``sync.rules`` (``EntityRules.access``). Every door asks here:

* REST lists and lookups filter with ``visible_clause`` (through server/scoping.py);
* a sync push checks ``may_write`` before it creates or changes a record;
* sync scope keys (server/sync/scope.py) follow the same links (``links``), so what a rep's
  device receives is what REST lists for them.

Nothing here names an entity: a new synced entity, or a changed rule, is a change to its
declaration alone.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Role, User
from server.auth.principal import Principal
from server.org.models import Territory
from server.sync.entities import model_for
from sync.rules import RULES, Access, Reach

__all__ = [
    "Known",
    "links",
    "load_parent",
    "may_write",
    "scope_attributes",
    "visible_clause",
]

Known = dict[tuple[str, str], Any]
"""Records already loaded for a push batch, by (entity, id) — including ones created or changed
earlier in the batch and not yet flushed. None: known not to exist."""


@cache
def links(entity: str, *, writing: bool = False) -> tuple[tuple[str, str], ...]:
    """(entity, foreign key) of the records whose state decides who reads ``entity`` — its
    parent, the account whose territory it lies in — or, ``writing``, who may also create it."""
    rules = RULES[entity]
    reach = rules.access.reads | (rules.access.creates if writing else frozenset())
    found: list[tuple[str, str]] = []
    if rules.parent is not None and Reach.PARENT in reach:
        found.extend((parent, rules.parent.fk) for parent in rules.parent.entities)
    account = rules.access.account
    if account is not None and Reach.TERRITORY in reach:
        found.append(("account", account))
    return tuple(found)


@cache
def scope_attributes(entity: str) -> tuple[str, ...]:
    """Fields whose change can move a record out of someone's reach (the others are write-once
    or follow a parent)."""
    access = RULES[entity].access
    names = [*([access.territory] if access.territory else []), *access.owner]
    if access.region:
        names.append(access.region)
    fields = RULES[entity].fields
    return tuple(n for n in names if fields[n].policy.value != "write_once")


def _model(entity: str) -> Any:
    model = model_for(entity)
    assert model is not None, f"{entity} is declared but has no model"
    return model


# --- REST: a WHERE clause ----------------------------------------------------------------------


def visible_clause(entity: str, p: Principal) -> ColumnElement[bool]:
    """The rows of ``entity`` the caller may see."""
    access = RULES[entity].access
    if Reach.PUBLIC in access.reads or p.is_admin:
        return true()
    if p.api_key_id is not None:
        if access.api_scopes & p.scopes:
            return true()
        if Reach.PARENT in access.reads:
            return _parent_clause(entity, p)
        return false()
    if p.user_id is None or p.role not in (Role.REP, Role.MANAGER):
        return false()
    if p.role is Role.MANAGER:
        return _region_clause(entity, access, p)
    return or_(*(_reach_clause(entity, access, reach, p) for reach in sorted(access.reads)))


def _region_clause(entity: str, access: Access, p: Principal) -> ColumnElement[bool]:
    """A manager reaches the records of their region: a record's own region where it has one,
    else the region of its territory, else its owner's — the order in which sync scope keys
    give a record its region (server/sync/scope.py), so REST lists what a manager's device
    receives."""
    reads = access.reads
    if Reach.PUBLIC in reads:
        return true()
    if Reach.PARENT in reads:
        return _parent_clause(entity, p)
    owned = _owner_clause(entity, access, p) if Reach.OWNER in reads else false()
    if access.region is not None:
        region = getattr(_model(entity), access.region)
        return or_(region == p.region_id, and_(region.is_(None), owned))
    if Reach.TERRITORY not in reads:
        return owned
    placed = _reach_clause(entity, access, Reach.TERRITORY, p)
    if Reach.OWNER not in reads:
        return placed
    return or_(placed, and_(_without_territory(entity, access), owned))


def _without_territory(entity: str, access: Access) -> ColumnElement[bool]:
    model = _model(entity)
    if access.territory is not None:
        return getattr(model, access.territory).is_(None)  # type: ignore[no-any-return]
    assert access.account is not None
    account = _model("account")
    placed = select(account.id).where(account.territory_id.is_not(None))
    return getattr(model, access.account).not_in(placed)  # type: ignore[no-any-return]


def _reach_clause(entity: str, access: Access, reach: Reach, p: Principal) -> ColumnElement[bool]:
    model = _model(entity)
    if reach is Reach.OWNER:
        return _owner_clause(entity, access, p)
    if reach is Reach.TERRITORY:
        territories = _territories(p)
        if territories is None:
            return false()
        if access.territory is not None:
            return getattr(model, access.territory).in_(territories)  # type: ignore[no-any-return]
        assert access.account is not None
        account = _model("account")
        accounts = select(account.id).where(account.territory_id.in_(territories))
        return getattr(model, access.account).in_(accounts)  # type: ignore[no-any-return]
    if reach is Reach.PARENT:
        return _parent_clause(entity, p)
    return true()


def _parent_clause(entity: str, p: Principal) -> ColumnElement[bool]:
    parent = RULES[entity].parent
    assert parent is not None
    model = _model(entity)
    clauses: list[ColumnElement[bool]] = []
    for kind in parent.entities:
        parent_model = _model(kind)
        parents = select(parent_model.id).where(visible_clause(kind, p))
        under = getattr(model, parent.fk).in_(parents)
        if parent.kind is not None:
            under = and_(getattr(model, parent.kind) == kind, under)
        clauses.append(under)
    return or_(*clauses)


def _owner_clause(entity: str, access: Access, p: Principal) -> ColumnElement[bool]:
    """The first owner field that is set names the caller (a rep), or a user of the caller's
    region (a manager)."""
    model = _model(entity)
    if p.role is not Role.REP and p.region_id is None:
        return false()
    region_users = select(User.id).where(User.region_id == p.region_id)
    clauses = []
    unset: list[ColumnElement[bool]] = []
    for name in access.owner:
        column = getattr(model, name)
        names_caller = column == p.user_id if p.role is Role.REP else column.in_(region_users)
        clauses.append(and_(*unset, names_caller))
        unset.append(column.is_(None))
    return or_(*clauses) if clauses else false()


def _territories(p: Principal) -> Any:
    """The territories the caller's TERRITORY reach covers: a rep's own, a manager's region's."""
    if p.role is Role.REP:
        return None if p.territory_id is None else [p.territory_id]
    if p.region_id is None:
        return None
    return select(Territory.id).where(Territory.region_id == p.region_id)


# --- Sync push: may this caller write this record? ---------------------------------------------


async def load_parent(
    session: AsyncSession, entity: str, record_id: str | None, known: Known
) -> Any:
    if record_id is None:
        return None
    key = (entity, record_id)
    if key not in known:
        known[key] = await session.get(_model(entity), record_id)
    return known[key]


async def may_write(
    session: AsyncSession,
    principal: Principal,
    entity: str,
    obj: Any,
    known: Known,
    *,
    creating: bool,
) -> bool:
    """Whether a device of ``principal`` may create ``obj`` (with the server's defaults filled
    in) or change it. The catalogue passes here and is refused as read-only by the rules, with
    that reason; managers' devices are refused before this is asked.

    Decided from the records already at hand (a push prefetches every parent its batch names),
    loading one only when the decision needs it: a push asks this for every mutation."""
    while True:
        decided = _decide(principal, entity, obj, known, creating)
        if isinstance(decided, bool):
            return decided
        await load_parent(session, decided[0], decided[1], known)


def _decide(
    principal: Principal, entity: str, obj: Any, known: Known, creating: bool
) -> bool | tuple[str, str]:
    """The decision, or the (entity, id) of a record it needs that is not loaded yet."""
    access = RULES[entity].access
    if principal.role is Role.ADMIN or Reach.PUBLIC in access.reads:
        return True
    if principal.role is not Role.REP:
        return False
    if creating:
        for reach in access.creates:
            held = _holds(principal, entity, access, reach, obj, known)
            if held is not True:
                return held
        return bool(access.creates)
    for reach in access.reads:
        held = _holds(principal, entity, access, reach, obj, known)
        if held is not False:
            return held
    return False


def _holds(
    principal: Principal,
    entity: str,
    access: Access,
    reach: Reach,
    obj: Any,
    known: Known,
) -> bool | tuple[str, str]:
    if reach is Reach.OWNER:
        return access.owner_of(obj) == principal.user_id
    if reach is Reach.TERRITORY:
        if access.territory is not None:
            territory = getattr(obj, access.territory)
        else:
            assert access.account is not None
            account_id = getattr(obj, access.account)
            if account_id is None:
                return False
            if ("account", account_id) not in known:
                return ("account", account_id)
            account = known["account", account_id]
            if account is None or account.deleted_at is not None:
                return False
            territory = account.territory_id
        return territory is not None and territory == principal.territory_id
    if reach is Reach.PARENT:
        parent_rule = RULES[entity].parent
        assert parent_rule is not None
        named = parent_rule.of(obj)
        if named is None:
            return False
        if named not in known:
            return named
        parent = known[named]
        if parent is None:
            return False
        return _decide(principal, named[0], parent, known, creating=False)
    return True
