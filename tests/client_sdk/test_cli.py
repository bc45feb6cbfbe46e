"""The rep CLI on a device store, offline (no server needed for these verbs), and the docs that
list its commands."""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

import pytest

from client_sdk import FieldClient, MemoryTokenStore
from client_sdk.cli import main, register
from tests.client_sdk.conftest import pretend_logged_in, server_record

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sdk.md"
# Ids as the server makes them (lower-case UUIDs): what the rulebook's value checks expect.
ACCOUNT = "01900000-0000-7000-8000-0000000000a1"
PRODUCT = "01900000-0000-7000-8000-0000000000b1"


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "rep.db"
    client = FieldClient(path, token_store=MemoryTokenStore())
    pretend_logged_in(client)
    server_record(
        client, "account", {"id": ACCOUNT, "name": "Harbour Supplies", "lat": 53.5, "lon": 9.9}
    )
    server_record(
        client, "product", {"id": PRODUCT, "sku": "SKU-1", "name": "Pump", "list_price": "10.00"}
    )
    client.close()
    return path


def test_an_order_taken_on_the_command_line_is_priced_and_queued(
    store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rep", "--store", str(store_path), "order", ACCOUNT, "--line", "SKU-1:3:10"]) == 0
    assert "total 27.00" in capsys.readouterr().out
    client = FieldClient(store_path, token_store=MemoryTokenStore())
    [order] = client.orders()
    assert (order["status"], order["total"]) == ("submitted", "27.00")
    client.close()


def test_a_line_taken_from_a_suggestion_names_it(
    store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suggestion = "01900000-0000-7000-8000-0000000000c1"
    client = FieldClient(store_path, token_store=MemoryTokenStore())
    server_record(
        client,
        "suggestion",
        {
            "id": suggestion,
            "account_id": ACCOUNT,
            "product_id": PRODUCT,
            "kind": "cross_sell",
            "rank": 1,
            "score": 0.62,
            "reason": "bought by 62 % of accounts that buy Valve",
        },
    )
    client.close()
    assert main(["rep", "--store", str(store_path), "suggestions", ACCOUNT]) == 0
    shown = capsys.readouterr().out
    assert "SKU-1 Pump" in shown and "10.00 EUR" in shown and "bought by 62 %" in shown
    assert (
        main(["rep", "--store", str(store_path), "order", ACCOUNT, "--line", f"{suggestion}:2"])
        == 0
    )
    client = FieldClient(store_path, token_store=MemoryTokenStore())
    [order] = client.orders()
    [line] = client.order_lines(order.id)
    assert (line["product_id"], line["suggestion_id"], order["total"]) == (
        PRODUCT,
        suggestion,
        "20.00",
    )
    client.close()


def test_status_reports_unsent_changes_and_their_age(
    store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rep", "--store", str(store_path), "lead", "Elbe GmbH", "--city", "Hamburg"]) == 0
    capsys.readouterr()
    assert main(["rep", "--store", str(store_path), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["unsent"] == 1 and status["oldest_unsent_age_s"] >= 0
    assert status["last_sync_at"] is None and status["rejected_changes"] == []


def test_a_refused_action_is_an_error_message_not_a_traceback(
    store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rep", "--store", str(store_path), "ticket", "nope", "Leak"]) == 1
    assert "no account nope" in capsys.readouterr().err


def test_every_rep_command_is_documented() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    register(sub)
    rep = sub.choices["rep"]
    verbs = next(a for a in rep._actions if isinstance(a, argparse._SubParsersAction)).choices
    text = DOCS.read_text()
    for verb in verbs:
        assert f"fieldline rep {verb}" in text, f"docs/sdk.md does not document `rep {verb}`"
    assert "fieldline simulate" in text


def test_a_photo_attached_on_the_command_line_is_kept_and_queued(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = FieldClient(store_path, token_store=MemoryTokenStore())
    visit = client.plan_visit(ACCOUNT, date(2026, 12, 8)).id
    client.close()
    photo = tmp_path / "shelf.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + b"jpeg" * 100)
    assert main(["rep", "--store", str(store_path), "attach", "visit", visit, str(photo)]) == 0
    assert "image/jpeg, 404 bytes" in capsys.readouterr().out
    client = FieldClient(store_path, token_store=MemoryTokenStore())
    [attached] = client.attachments_of("visit", visit)
    assert client.attachment_content(attached.id) == photo.read_bytes()
    assert client.status().unsent == 2  # the visit and its attachment
    client.close()


def test_attaching_a_file_of_unknown_type_asks_for_it(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = tmp_path / "reading.xyz123"
    odd.write_bytes(b"data")
    assert main(["rep", "--store", str(store_path), "attach", "visit", ACCOUNT, str(odd)]) == 1
    assert "--type" in capsys.readouterr().err


def test_consent_is_recorded_and_listed_on_the_command_line(
    store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contact = "01900000-0000-7000-8000-0000000000d1"
    client = FieldClient(store_path, token_store=MemoryTokenStore())
    server_record(client, "contact", {"id": contact, "account_id": ACCOUNT, "name": "Ada Berg"})
    client.close()
    store = ["rep", "--store", str(store_path), "consent", "contact", contact]
    assert main([*store, "email_marketing", "given", "--channel", "phone"]) == 0
    out = capsys.readouterr().out
    assert "recorded email_marketing: given (phone" in out
    assert "email_marketing: given" in out and "phone_calls: withdrawn" in out
    assert main([*store, "email_marketing", "maybe"]) == 1
    assert "status" in capsys.readouterr().err
