"""The rulebook's field declarations fit the tables that store them: a value every door lets
through is one the column can hold, and a field the rulebook requires is one the table does."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import String, inspect

from server.sync.entities import model_for, synced_columns
from sync.constraints import Ref, Text
from sync.rules import RULES


def _columns(entity: str) -> dict[str, Any]:
    model = model_for(entity)
    assert model is not None
    return {attr.key: attr.columns[0] for attr in inspect(model).column_attrs}


@pytest.mark.parametrize("entity", sorted(RULES))
def test_every_declared_text_fits_its_column(entity: str) -> None:
    columns = _columns(entity)
    for name in synced_columns(entity):
        check = RULES[entity].fields[name].check
        column_type = columns[name].type
        if isinstance(check, Text) and isinstance(column_type, String) and column_type.length:
            assert check.max_length <= column_type.length, (entity, name)
        if isinstance(check, Ref):
            assert isinstance(column_type, String), (entity, name)


@pytest.mark.parametrize("entity", sorted(RULES))
def test_a_field_the_table_requires_is_one_the_rulebook_requires(entity: str) -> None:
    columns = _columns(entity)
    for name in synced_columns(entity):
        if not columns[name].nullable:
            assert not RULES[entity].fields[name].nullable, (entity, name)
