from __future__ import annotations

from pathlib import Path

import pytest

from client_sdk import FieldClient, MemoryTokenStore
from client_sdk.errors import NotLoggedIn
from sync.clock import Hlc
from sync.ids import new_id
from sync.messages import Applied, Upsert
from tests.client_sdk.conftest import DEVICE_ID, pretend_logged_in


def _outbox_rows(device: FieldClient) -> list[tuple[int, str, str, str]]:
    return [
        (r["seq"], r["tx"], r["entity"], r["record_id"])
        for r in device.store.all("SELECT * FROM outbox ORDER BY seq")
    ]


def test_a_local_write_changes_the_record_and_queues_its_mutation(device: FieldClient) -> None:
    lead = device.capture_lead("Acme GmbH", city="Hamburg")
    assert device.get("lead", lead.id) is not None
    [mutation] = device.outbox.pending()
    assert (mutation.entity, mutation.record_id, mutation.op) == ("lead", lead.id, "upsert")
    assert mutation.fields["company"] == "Acme GmbH"
    assert Hlc.parse(mutation.hlc).node == DEVICE_ID


def test_a_failure_inside_a_transaction_leaves_neither_record_nor_mutation(
    device: FieldClient,
) -> None:
    with pytest.raises(RuntimeError), device.outbox.transaction() as tx:
        tx.upsert("lead", "lead-1", {"company": "Acme"})
        raise RuntimeError("app crashed mid-action")
    assert device.get("lead", "lead-1") is None
    assert device.outbox.pending() == []


def test_sequence_numbers_keep_growing_after_answered_mutations_leave(device: FieldClient) -> None:
    device.capture_lead("A")
    device.capture_lead("B")
    first = device.outbox.pending()
    device.outbox.answer(
        [Applied(seq=m.seq, entity=m.entity, id=m.record_id, version=1) for m in first]
    )
    assert device.outbox.pending() == []
    device.capture_lead("C")
    [third] = device.outbox.pending()
    assert third.seq == max(m.seq for m in first) + 1


def test_writes_of_one_action_share_a_client_transaction_id(device: FieldClient) -> None:
    with device.outbox.transaction() as tx:
        tx.upsert("lead", "l1", {"company": "A"})
        tx.upsert("lead", "l2", {"company": "B"})
    device.capture_lead("C")
    rows = _outbox_rows(device)
    assert rows[0][1] == rows[1][1]
    assert rows[2][1] != rows[0][1]


def test_upserts_of_one_record_in_one_transaction_travel_as_one_mutation(
    device: FieldClient,
) -> None:
    with device.outbox.transaction() as tx:
        tx.upsert("lead", "l1", {"company": "A"})
        tx.upsert("lead", "l1", {"city": "Bremen"})
        tx.upsert("lead", "l2", {"company": "B"})
        tx.upsert("lead", "l1", {"company": "A2"})
    pending = device.outbox.pending()
    assert [(m.record_id, m.fields) for m in pending] == [
        ("l1", {"company": "A2", "city": "Bremen"}),
        ("l2", {"company": "B"}),
    ]


def test_a_later_write_naming_a_record_created_in_between_stays_apart(
    device: FieldClient,
) -> None:
    order, account, contact = new_id(), new_id(), new_id()
    with device.outbox.transaction() as tx:
        tx.upsert("order", order, {"notes": "A"})
        tx.upsert("account", account, {"name": "New"})
        tx.upsert("order", order, {"account_id": account})
        tx.upsert("contact", contact, {"account_id": account, "first_name": "Ada"})
        tx.upsert("account", account, {"notes": "Met Ada"})
    pending = device.outbox.pending()
    assert [(m.entity, m.fields) for m in pending] == [
        ("order", {"notes": "A"}),
        ("account", {"name": "New", "notes": "Met Ada"}),
        ("order", {"account_id": account}),
        ("contact", {"account_id": account, "first_name": "Ada"}),
    ]


def test_writes_of_separate_transactions_stay_separate(device: FieldClient) -> None:
    with device.outbox.transaction() as tx:
        tx.upsert("lead", "l1", {"company": "A"})
    with device.outbox.transaction() as tx:
        tx.upsert("lead", "l1", {"city": "Bremen"})
    assert len(device.outbox.pending()) == 2


def test_a_batch_is_extended_to_the_end_of_its_last_transaction(device: FieldClient) -> None:
    device.capture_lead("solo")
    with device.outbox.transaction() as tx:
        for n in range(5):
            tx.upsert("lead", f"l{n}", {"company": str(n)})
    device.capture_lead("after")
    batch = device.outbox.next_batch(2)
    assert len(batch) == 6
    assert len({m.tx for m in batch[1:]}) == 1
    rest = device.outbox.next_batch(2, after_seq=batch[-1].seq)
    assert [m.fields["company"] for m in rest] == ["after"]


def test_pending_mutations_become_protocol_messages(device: FieldClient) -> None:
    device.capture_lead("Acme")
    [mutation] = device.outbox.pending()
    message = mutation.message()
    assert isinstance(message, Upsert)
    assert message.seq == mutation.seq and message.tx == mutation.tx
    assert message.base_version is None


def test_an_edit_carries_the_server_version_it_was_made_on(device: FieldClient) -> None:
    with device.store.atomic():
        device.records.apply_server("account", "a1", 7, {"id": "a1", "name": "Old"}, pending=False)
    device.edit_account("a1", name="New")
    [mutation] = device.outbox.pending()
    assert mutation.base_version == 7


def test_capturing_before_the_first_login_is_refused(tmp_path: Path) -> None:
    client = FieldClient(tmp_path / "fresh.db", token_store=MemoryTokenStore())
    with pytest.raises(NotLoggedIn), client.outbox.transaction() as tx:
        tx.upsert("lead", "x", {"company": "A"})
    assert client.outbox.pending() == []
    client.close()


def test_the_outbox_survives_closing_and_reopening_the_store(tmp_path: Path) -> None:
    path = tmp_path / "rep.db"
    client = FieldClient(path, token_store=MemoryTokenStore())
    pretend_logged_in(client)
    client.capture_lead("Acme")
    client.close()
    reopened = FieldClient(path, token_store=MemoryTokenStore())
    assert [m.fields["company"] for m in reopened.outbox.pending()] == ["Acme"]
    reopened.close()


def _transactions(device: FieldClient, *sizes: int) -> None:
    for t, size in enumerate(sizes):
        with device.outbox.transaction() as tx:
            for n in range(size):
                tx.upsert("lead", f"t{t}-{n}", {"company": f"{t}.{n}"})


def test_a_batch_under_a_ceiling_ends_at_the_last_transaction_that_fits(
    device: FieldClient,
) -> None:
    _transactions(device, 2, 3, 2)
    batch = device.outbox.next_batch(6, ceiling=6)
    assert [m.record_id for m in batch] == ["t0-0", "t0-1", "t1-0", "t1-1", "t1-2"]
    rest = device.outbox.next_batch(6, after_seq=batch[-1].seq, ceiling=6)
    assert [m.record_id for m in rest] == ["t2-0", "t2-1"]


def test_a_transaction_larger_than_the_ceiling_goes_alone_and_whole(device: FieldClient) -> None:
    _transactions(device, 5, 1)
    batch = device.outbox.next_batch(3, ceiling=3)
    assert [m.record_id for m in batch] == [f"t0-{n}" for n in range(5)]
