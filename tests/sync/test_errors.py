"""The protocol's exception tree and the reject-reason glossary."""

from __future__ import annotations

from typing import get_args

import pytest

from sync.errors import (
    REASONS,
    CursorExpired,
    IllegalTransition,
    MalformedMessage,
    PricingError,
    ProtocolMismatch,
    SyncError,
    UnknownEntity,
    UnsupportedMediaType,
)
from sync.messages import RejectReason


def test_every_reject_reason_has_a_one_line_meaning() -> None:
    assert set(REASONS) == set(get_args(RejectReason))
    assert all(text and "\n" not in text for text in REASONS.values())


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ProtocolMismatch("x"), 426),
        (MalformedMessage("x"), 400),
        (UnsupportedMediaType("x"), 415),
        (CursorExpired("x"), 410),
        (UnknownEntity("x"), 400),
        (IllegalTransition("order", "draft", "invoiced", ["submitted"]), 409),
        (PricingError("quantity", "x"), 422),
    ],
)
def test_every_error_is_a_sync_error_with_a_status_hint(error: SyncError, status: int) -> None:
    assert isinstance(error, SyncError)
    assert error.http_status == status
    assert error.reason


def test_illegal_transition_explains_itself() -> None:
    err = IllegalTransition("order", None, "invoiced", ["draft", "submitted"])
    assert (
        err.detail
        == "order: creation → 'invoiced' is not allowed (allowed from here: draft, submitted)"
    )
