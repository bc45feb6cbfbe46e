"""REST bodies state the same bounds as the rulebook (sync.rules): a value REST refuses at the
door is one a sync push refuses too, and the OpenAPI schema documents the rule every door
applies. (Values the body types cannot express — NUL bytes, date ranges, decimal places — are
checked from the rulebook itself when any writer stores the record.)"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from server.accounts import schemas as accounts
from server.leads import schemas as leads
from server.opportunities import schemas as opportunities
from server.orders import schemas as orders
from server.privacy import schemas as privacy
from server.tickets import schemas as tickets
from server.visits import schemas as visits
from sync.constraints import Number, Ref, Text
from sync.rules import RULES

BODIES: list[tuple[type[Any], str]] = [
    (accounts.AccountCreate, "account"),
    (accounts.AccountUpdate, "account"),
    (accounts.ContactCreate, "contact"),
    (accounts.ContactUpdate, "contact"),
    (visits.VisitCreate, "visit"),
    (visits.VisitUpdate, "visit"),
    (visits.VisitNoteCreate, "visit_note"),
    (orders.OrderCreate, "order"),
    (orders.OrderUpdate, "order"),
    (orders.OrderLineIn, "order_line"),
    (tickets.TicketCreate, "ticket"),
    (tickets.TicketUpdate, "ticket"),
    (tickets.TicketCommentCreate, "ticket_comment"),
    (opportunities.OpportunityCreate, "opportunity"),
    (opportunities.OpportunityUpdate, "opportunity"),
    (leads.LeadIn, "lead"),
    (privacy.ConsentCreate, "contact_consent"),
    (privacy.ConsentCreate, "lead_consent"),
]


_UNSET = type(msgspec.inspect.type_info(msgspec.UnsetType))


def _value_types(info: msgspec.inspect.Type) -> list[msgspec.inspect.Type]:
    if isinstance(info, msgspec.inspect.UnionType):
        return [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType | _UNSET)]
    return [info]


def _cases() -> list[tuple[str, str, str]]:
    cases = []
    for body, entity in BODIES:
        info = msgspec.inspect.type_info(body)
        assert isinstance(info, msgspec.inspect.StructType)
        for field in info.fields:
            if field.name in RULES[entity].fields:
                cases.append((body.__name__, entity, field.name))
    return cases


def _field_type(body_name: str, name: str) -> msgspec.inspect.Type:
    body = next(b for b, _ in BODIES if b.__name__ == body_name)
    info = msgspec.inspect.type_info(body)
    assert isinstance(info, msgspec.inspect.StructType)
    return next(f.type for f in info.fields if f.name == name)


@pytest.mark.parametrize(("body", "entity", "field"), _cases())
def test_a_rest_body_field_states_the_rulebooks_bounds(body: str, entity: str, field: str) -> None:
    check = RULES[entity].fields[field].check
    for info in _value_types(_field_type(body, field)):
        if isinstance(info, msgspec.inspect.Metadata):
            info = info.type
        match check:
            case Text(choices=choices) if choices is not None:
                assert isinstance(info, msgspec.inspect.LiteralType), info
                assert set(info.values) <= set(choices)
            case Text():
                assert isinstance(info, msgspec.inspect.StrType), info
                assert info.max_length == check.max_length
                assert (info.min_length or 0) == check.min_length
                assert info.pattern == check.pattern
            case Ref():
                assert isinstance(info, msgspec.inspect.StrType), info
                assert info.pattern is not None
            case Number():
                assert isinstance(info, msgspec.inspect.IntType | msgspec.inspect.FloatType), info
                assert info.ge == check.ge
                assert info.le == check.le
