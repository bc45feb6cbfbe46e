"""The rules table itself: it covers exactly the synced columns of the server's models, and its
declarations are consistent (every state field names a machine, every parent exists)."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

import server.db.models  # noqa: F401  (registers every mapper)
from server.db.base import Base, SyncableMixin
from sync.errors import UnknownEntity
from sync.machines import MACHINES
from sync.rules import RULES, Policy, entity_rules, synced_fields

_NOT_SYNCED = {
    "id",
    "version",
    "field_clocks",
    "deleted_at",
    "origin_device_id",
    "created_at",
    "updated_at",
}


def _syncable_models() -> dict[str, type[SyncableMixin]]:
    found: dict[str, type[SyncableMixin]] = {}
    for mapper in Base.registry.mappers:
        cls = mapper.class_
        if issubclass(cls, SyncableMixin):
            found[cls.__sync_entity__] = cls
    return found


MODELS = _syncable_models()


def test_every_syncable_model_has_rules_and_nothing_else_does() -> None:
    assert set(RULES) == set(MODELS)


@pytest.mark.parametrize("entity", sorted(MODELS))
def test_rules_cover_exactly_the_models_synced_columns_in_order(entity: str) -> None:
    columns = [c.key for c in inspect(MODELS[entity]).column_attrs if c.key not in _NOT_SYNCED]
    assert list(synced_fields(entity)) == columns


def test_entity_rules_raises_unknown_entity() -> None:
    with pytest.raises(UnknownEntity) as caught:
        entity_rules("spaceship")
    assert caught.value.entity == "spaceship"
    assert caught.value.reason == "unknown_entity"


@pytest.mark.parametrize("entity", sorted(RULES))
def test_table_keys_match_entity_names(entity: str) -> None:
    assert entity_rules(entity).entity == entity
    assert all(name == rule.name for name, rule in entity_rules(entity).fields.items())


@pytest.mark.parametrize(
    ("entity", "field"),
    [
        (entity, name)
        for entity, rules in RULES.items()
        for name, rule in rules.fields.items()
        if rule.policy is Policy.STATE_MACHINE
    ],
)
def test_state_machine_fields_name_a_machine_driving_that_field(entity: str, field: str) -> None:
    rule = entity_rules(entity).fields[field]
    assert rule.machine in MACHINES
    assert MACHINES[rule.machine].field == field


@pytest.mark.parametrize("entity", sorted(RULES))
def test_at_most_one_state_field_per_entity(entity: str) -> None:
    assert len(entity_rules(entity).fields_with(Policy.STATE_MACHINE)) <= 1


@pytest.mark.parametrize("entity", sorted(e for e, r in RULES.items() if r.parent))
def test_parent_is_an_entity_and_its_key_a_write_once_field(entity: str) -> None:
    rules = entity_rules(entity)
    assert rules.parent is not None
    assert set(rules.parent.entities) <= set(RULES)
    assert rules.policy(rules.parent.fk) in (Policy.WRITE_ONCE, Policy.SERVER_OWNED)
    if rules.parent.kind is not None:
        # The field naming the parent's entity is set once too, and holds only declared kinds.
        assert rules.policy(rules.parent.kind) is Policy.WRITE_ONCE
        check = rules.fields[rules.parent.kind].check
        assert getattr(check, "choices", None) == rules.parent.entities


@pytest.mark.parametrize("entity", sorted(e for e, r in RULES.items() if r.read_only))
def test_read_only_entities_are_server_owned_throughout(entity: str) -> None:
    rules = entity_rules(entity)
    assert not rules.device_can_create and not rules.device_can_delete
    assert set(rules.fields_with(Policy.SERVER_OWNED)) == set(rules.fields)


@pytest.mark.parametrize("entity", sorted(e for e, r in RULES.items() if r.append_only))
def test_append_only_entities_are_never_deleted_by_devices(entity: str) -> None:
    rules = entity_rules(entity)
    assert rules.device_can_create and not rules.device_can_delete
    # Every field is set once; who wrote it is the server's to say.
    once = set(rules.fields_with(Policy.WRITE_ONCE)) | set(rules.fields_with(Policy.SERVER_OWNED))
    assert once == set(rules.fields)


@pytest.mark.parametrize("entity", sorted(e for e, r in RULES.items() if r.editable_while))
def test_editable_while_names_states_of_the_guarding_machine(entity: str) -> None:
    rules = entity_rules(entity)
    guard = rules.editable_while
    assert guard is not None
    owner = entity_rules(rules.parent.entity) if guard.of_parent and rules.parent else rules
    state = owner.state_field
    assert state is not None and state.machine is not None
    assert guard.states <= set(MACHINES[state.machine].states)


def test_intended_policies_of_key_fields() -> None:
    expect = {
        ("lead", "assignee_id"): Policy.SERVER_OWNED,
        ("order", "erp_ref"): Policy.SERVER_OWNED,
        ("order", "status"): Policy.STATE_MACHINE,
        ("ticket", "status"): Policy.STATE_MACHINE,
        ("visit", "check_in_at"): Policy.WRITE_ONCE,
        ("visit", "verified"): Policy.COMPUTED,
        ("order", "total"): Policy.COMPUTED,
        ("account", "phone"): Policy.LWW,
        ("account", "territory_id"): Policy.SERVER_OWNED,
    }
    assert {key: entity_rules(key[0]).policy(key[1]) for key in expect} == expect


def test_device_create_and_delete_flags() -> None:
    creatable = {e for e, r in RULES.items() if r.device_can_create}
    deletable = {e for e, r in RULES.items() if r.device_can_delete}
    assert creatable == set(RULES) - {"product", "price_list", "price", "suggestion"}
    assert deletable == {"contact", "order", "order_line"}
