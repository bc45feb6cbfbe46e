"""Pending local edits over pulled server state (records.py), without a server: pulls and push
answers are fed to the store as the sync loop would."""

from __future__ import annotations

from typing import Any

from client_sdk import FieldClient
from client_sdk.sync_loop import SyncEngine, SyncReport
from sync.messages import Applied, Change, Eviction, Merged, PullPage, Rejected
from tests.client_sdk.conftest import server_record


def _pull(device: FieldClient, *items: Change, reset: bool = False) -> SyncReport:
    engine = SyncEngine(device.store, device.records, device.outbox, transport=None)  # type: ignore[arg-type]
    report = SyncReport()
    with device.store.atomic():
        engine._apply_page(PullPage(items=list(items), cursor="c", more=False, reset=reset), report)
    return report


def _change(record_id: str, version: int, **fields: Any) -> Change:
    return Change(entity="account", id=record_id, op="upsert", version=version, fields=fields)


def _account(device: FieldClient) -> str:
    return server_record(
        device, "account", {"name": "Old name", "phone": "111", "notes": "n"}, version=3
    )


def test_a_pulled_change_never_overwrites_a_field_with_an_unpushed_edit(
    device: FieldClient,
) -> None:
    account = _account(device)
    device.edit_account(account, phone="222")
    _pull(device, _change(account, 4, id=account, name="Server name", phone="999", notes="n"))
    record = device.get("account", account)
    assert record is not None
    assert record["phone"] == "222"
    assert record["name"] == "Server name"
    assert record.version == 4 and record.pending


def test_the_server_state_under_a_pending_edit_is_kept_for_the_rebase(device: FieldClient) -> None:
    account = _account(device)
    device.edit_account(account, phone="222")
    _pull(device, _change(account, 4, id=account, name="Server name", phone="999", notes="n"))
    assert device.records.server_state("account", account) == {
        "id": account,
        "name": "Server name",
        "phone": "999",
        "notes": "n",
        "version": 4,
    }


def test_an_applied_answer_keeps_the_value_without_flicker_until_the_pull(
    device: FieldClient,
) -> None:
    account = _account(device)
    device.edit_account(account, phone="222")
    [mutation] = device.outbox.pending()
    device.outbox.answer([Applied(seq=mutation.seq, entity="account", id=account, version=4)])
    record = device.get("account", account)
    assert record is not None
    assert (record["phone"], record.version, record.pending) == ("222", 4, False)


def test_a_merged_answer_shows_the_value_the_server_resolved(device: FieldClient) -> None:
    account = _account(device)
    device.edit_account(account, phone="222", notes="mine")
    [mutation] = device.outbox.pending()
    device.outbox.answer(
        [
            Merged(
                seq=mutation.seq,
                entity="account",
                id=account,
                version=4,
                fields={"phone": "222", "notes": "manager's"},
                discarded=["notes"],
            )
        ]
    )
    record = device.get("account", account)
    assert record is not None
    assert (record["phone"], record["notes"], record.version) == ("222", "manager's", 4)


def test_a_rejected_edit_reverts_to_the_server_state_and_is_listed(device: FieldClient) -> None:
    account = _account(device)
    device.edit_account(account, phone="222")
    [mutation] = device.outbox.pending()
    device.outbox.answer(
        [
            Rejected(
                seq=mutation.seq,
                entity="account",
                id=account,
                reason="out_of_scope",
                detail="account moved",
            )
        ]
    )
    record = device.get("account", account)
    assert record is not None and record["phone"] == "111" and not record.pending
    [rejected] = device.rejected()
    assert (rejected.reason, rejected.fields) == ("out_of_scope", {"phone": "222"})


def test_a_record_whose_creation_was_refused_stays_visible_marked_rejected(
    device: FieldClient,
) -> None:
    lead = device.capture_lead("Acme")
    [mutation] = device.outbox.pending()
    device.outbox.answer(
        [Rejected(seq=mutation.seq, entity="lead", id=lead.id, reason="validation", detail="x")]
    )
    record = device.get("lead", lead.id)
    assert record is not None and record.rejected and record["company"] == "Acme"


def test_a_pulled_change_older_than_the_acknowledged_version_is_ignored(
    device: FieldClient,
) -> None:
    account = _account(device)
    device.edit_account(account, phone="222")
    [mutation] = device.outbox.pending()
    device.outbox.answer([Applied(seq=mutation.seq, entity="account", id=account, version=4)])
    _pull(device, _change(account, 3, id=account, name="Old name", phone="111", notes="n"))
    record = device.get("account", account)
    assert record is not None and (record["phone"], record.version) == ("222", 4)


def test_later_pending_edits_stay_on_top_after_an_earlier_one_is_answered(
    device: FieldClient,
) -> None:
    account = _account(device)
    device.edit_account(account, phone="222")
    device.edit_account(account, phone="333")
    first, _second = device.outbox.pending()
    device.outbox.answer([Applied(seq=first.seq, entity="account", id=account, version=4)])
    _pull(device, _change(account, 4, id=account, name="Old name", phone="222", notes="n"))
    record = device.get("account", account)
    assert record is not None and record["phone"] == "333" and record.pending


def test_a_bootstrap_reset_keeps_local_creations_and_rebases_pending_edits(
    device: FieldClient,
) -> None:
    account = _account(device)
    gone = server_record(device, "account", {"name": "Left the scope"})
    device.edit_account(account, phone="222")
    lead = device.capture_lead("New lead")
    _pull(
        device,
        _change(account, 9, id=account, name="Renamed", phone="999", notes="n"),
        reset=True,
    )
    assert device.get("account", gone) is None
    assert device.get("lead", lead.id) is not None
    record = device.get("account", account)
    assert record is not None and (record["name"], record["phone"]) == ("Renamed", "222")


def test_an_eviction_removes_the_record_but_keeps_its_pending_mutation(
    device: FieldClient,
) -> None:
    account = _account(device)
    device.edit_account(account, phone="222")
    engine = SyncEngine(device.store, device.records, device.outbox, transport=None)  # type: ignore[arg-type]
    report = SyncReport()
    with device.store.atomic():
        engine._apply_page(
            PullPage(items=[Eviction(entity="account", id=account)], cursor="c", more=False),
            report,
        )
    assert device.get("account", account) is None
    assert report.evicted == 1
    assert len(device.outbox.pending()) == 1


# What an answer folds (client_sdk/records.py): the server's decisions, never the device's guesses
def _line(device: FieldClient, **fields: Any) -> str:
    return server_record(
        device,
        "order_line",
        {
            "order_id": "01900000-0000-7000-8000-0000000000a1",
            "product_id": "01900000-0000-7000-8000-0000000000b1",
            "line_no": 1,
            "quantity": 2,
            "discount_pct": "0",
            "unit_price": "9.50",
            "line_total": "19.00",
            **fields,
        },
    )


def test_an_applied_answer_does_not_fold_the_device_guess_of_a_computed_field(
    device: FieldClient,
) -> None:
    line = _line(device)
    with device.outbox.transaction() as tx:
        tx.upsert("order_line", line, {"quantity": 3, "unit_price": "8.00", "line_total": "24.00"})
    [mutation] = device.outbox.pending()
    device.outbox.answer([Applied(seq=mutation.seq, entity="order_line", id=line, version=2)])
    record = device.get("order_line", line)
    assert record is not None and not record.pending
    # The quantity is the rep's and the server took it; the prices stay the server's last word
    # until it says otherwise (here: the pull of version 2).
    assert (record.version, record["quantity"], record["unit_price"], record["line_total"]) == (
        2,
        3,
        "9.50",
        "19.00",
    )


def test_an_applied_answer_folds_the_values_the_server_decided(device: FieldClient) -> None:
    line = _line(device)
    with device.outbox.transaction() as tx:
        tx.upsert("order_line", line, {"quantity": 3, "unit_price": "8.00", "line_total": "24.00"})
    [mutation] = device.outbox.pending()
    device.outbox.answer(
        [
            Applied(
                seq=mutation.seq,
                entity="order_line",
                id=line,
                version=2,
                fields={"unit_price": "9.50", "line_total": "28.50", "line_no": 4},
            )
        ]
    )
    record = device.get("order_line", line)
    assert record is not None
    assert (record["quantity"], record["line_total"], record["line_no"]) == (3, "28.50", 4)


def test_a_no_op_answer_folds_the_server_values_at_the_version_held(device: FieldClient) -> None:
    line = _line(device)
    with device.outbox.transaction() as tx:
        tx.upsert("order_line", line, {"unit_price": "9.50", "line_total": "57.00"})
    [mutation] = device.outbox.pending()
    device.outbox.answer(
        [
            Applied(
                seq=mutation.seq,
                entity="order_line",
                id=line,
                version=1,
                fields={"unit_price": "9.50", "line_total": "19.00"},
            )
        ]
    )
    record = device.get("order_line", line)
    assert record is not None and (record.version, record["line_total"]) == (1, "19.00")


def test_a_record_created_here_keeps_only_what_the_server_decided_of_its_computed_fields(
    device: FieldClient,
) -> None:
    visit_id = "01900000-0000-7000-8000-0000000000c1"
    with device.outbox.transaction() as tx:
        tx.upsert(
            "visit",
            visit_id,
            {
                "account_id": "01900000-0000-7000-8000-0000000000d1",
                "status": "in_progress",
                "distance_m": 12.0,
                "verified": True,
            },
        )
    [mutation] = device.outbox.pending()
    device.outbox.answer(
        [
            Applied(
                seq=mutation.seq,
                entity="visit",
                id=visit_id,
                version=1,
                fields={"distance_m": 4100.0},
            )
        ]
    )
    record = device.get("visit", visit_id)
    assert record is not None and record.on_server and record.version == 1
    assert (record["status"], record["distance_m"], record.get("verified")) == (
        "in_progress",
        4100.0,
        None,
    )


# Versions: never one the device has not seen ------------------------------------------------
def test_an_answer_past_writes_the_device_has_not_seen_keeps_the_version_it_saw(
    device: FieldClient,
) -> None:
    account = _account(device)
    device.edit_account(account, phone="222")
    [mutation] = device.outbox.pending()
    device.outbox.answer([Applied(seq=mutation.seq, entity="account", id=account, version=5)])
    record = device.get("account", account)
    assert record is not None
    assert (record["phone"], record.version, record.pending) == ("222", 3, False)
    device.edit_account(account, notes="later")
    assert device.outbox.pending()[-1].base_version == 3
    # The pull brings version 5 and everything in it.
    _pull(device, _change(account, 5, id=account, name="Renamed", phone="222", notes="n"))
    record = device.get("account", account)
    assert record is not None and (record.version, record["name"], record["notes"]) == (
        5,
        "Renamed",
        "later",
    )


def test_several_answers_for_one_record_in_one_push_take_the_version_after_the_batch(
    device: FieldClient,
) -> None:
    account = _account(device)
    device.edit_account(account, phone="222")
    device.edit_account(account, notes="mine")
    first, second = device.outbox.pending()
    device.outbox.answer(
        [
            Applied(seq=first.seq, entity="account", id=account, version=5),
            Applied(seq=second.seq, entity="account", id=account, version=5),
        ]
    )
    record = device.get("account", account)
    assert record is not None
    assert (record.version, record["phone"], record["notes"]) == (5, "222", "mine")


def test_a_creation_answered_past_the_device_own_writes_stays_local_until_the_pull(
    device: FieldClient,
) -> None:
    lead = device.capture_lead("Acme")
    [mutation] = device.outbox.pending()
    # A receipt of a larger batch, say: the device cannot know what lies in between.
    device.outbox.answer([Applied(seq=mutation.seq, entity="lead", id=lead.id, version=3)])
    record = device.get("lead", lead.id)
    assert record is not None
    assert (record.on_server, record.version, record.pending, record["company"]) == (
        False,
        0,
        False,
        "Acme",
    )
    _pull(
        device,
        Change(
            entity="lead",
            id=lead.id,
            op="upsert",
            version=3,
            fields={"company": "Acme", "status": "assigned"},
        ),
    )
    record = device.get("lead", lead.id)
    assert record is not None and (record.on_server, record.version) == (True, 3)
    assert record["status"] == "assigned"
