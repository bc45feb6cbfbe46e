"""Consent on the device alone: recorded offline as an append-only history, read back as the
decision in force per purpose by the function the server uses, refused locally as the push
would refuse it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from client_sdk import FieldClient
from client_sdk.errors import InvalidFieldValue
from sync.rules import PURPOSES
from tests.client_sdk.conftest import server_record

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _contact(device: FieldClient) -> str:
    account = server_record(device, "account", {"name": "Customer"})
    return server_record(
        device, "contact", {"account_id": account, "first_name": "Ines", "last_name": "Berg"}
    )


def test_the_latest_decision_per_purpose_is_in_force_offline(device: FieldClient) -> None:
    contact = _contact(device)
    assert device.consent(contact_id=contact) == dict.fromkeys(PURPOSES, "withdrawn")
    device.record_consent("email_marketing", "given", contact_id=contact, at=T0)
    device.record_consent("phone_calls", "given", contact_id=contact, channel="phone", at=T0)
    device.record_consent(
        "email_marketing", "withdrawn", contact_id=contact, at=T0 + timedelta(days=2)
    )
    # Told later about an older decision: it joins the history, the newer one stays in force.
    device.record_consent("email_marketing", "given", contact_id=contact, at=T0 + timedelta(days=1))
    current = device.consent(contact_id=contact)
    assert current["email_marketing"] == "withdrawn"
    assert current["phone_calls"] == "given"
    assert len(device.records.where("contact_consent", contact_id=contact)) == 4
    assert device.status().unsent == 4


@pytest.mark.parametrize(
    ("purpose", "status", "channel", "field"),
    [
        ("newsletter", "given", "phone", "purpose"),
        ("phone_calls", "maybe", "phone", "status"),
        ("phone_calls", "given", "pigeon", "channel"),
    ],
)
def test_a_bad_decision_is_refused_before_it_is_stored(
    device: FieldClient, purpose: str, status: str, channel: str, field: str
) -> None:
    contact = _contact(device)
    with pytest.raises(InvalidFieldValue) as refused:
        device.record_consent(purpose, status, contact_id=contact, channel=channel)
    assert refused.value.field == field
    assert device.records.where("contact_consent", contact_id=contact) == []
    assert device.status().unsent == 0


def test_consent_names_one_subject(device: FieldClient) -> None:
    with pytest.raises(ValueError, match="one of"):
        device.consent()
