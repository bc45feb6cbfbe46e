"""The one redaction filter on the log handler: what it takes out of any logger's record."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from server.logging import REDACTED, ContextFilter, JsonFormatter, RedactFilter, redact


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ('HTTP Request: POST https://hooks.example/in?token=abc123 "HTTP/1.1 500"', "abc123"),
        ("GET /api/v1/sync/pull?cursor=c-9f8e7d HTTP/1.1", "c-9f8e7d"),
        ("cannot connect to postgresql+asyncpg://fieldline:pw-77@db:5432/x", "pw-77"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "eyJhbGci"),
        ("header was Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("refresh flr_0192.AbCdEf123", "AbCdEf123"),
        ("key flk_1a2b3c4d_sEcReTpart", "sEcReTpart"),
        ("login password=hunter2 for rep", "hunter2"),
        ('{"secret_key": "s3cr3t-value", "x": 1}', "s3cr3t-value"),
    ],
)
def test_a_secret_or_query_string_in_any_message_is_redacted(line: str, secret: str) -> None:
    cleaned = redact(line)
    assert secret not in cleaned
    assert REDACTED in cleaned


def test_a_plain_path_and_text_are_left_alone() -> None:
    line = "request GET /api/v1/accounts/0192-ab done in 3 ms (what? nothing)"
    assert redact(line) == line


def _formatted(record: logging.LogRecord) -> dict[str, object]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactFilter())
    handler.handle(record)
    return json.loads(stream.getvalue())  # type: ignore[no-any-return]


def test_arguments_fields_and_tracebacks_go_through_the_filter() -> None:
    try:
        raise RuntimeError("failed at https://erp.example/api?apikey=zz-top")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "httpx",
        logging.WARNING,
        __file__,
        1,
        "calling %s",
        ("https://x.example/a?sig=q1",),
        exc_info,
    )
    record.fields = {"password": "pw-in-a-field", "url": "https://y.example/?t=q2", "n": 3}
    payload = _formatted(record)
    text = json.dumps(payload)
    for secret in ("q1", "q2", "zz-top", "pw-in-a-field"):
        assert secret not in text
    assert payload["logger"] == "httpx"
    assert payload["n"] == 3
    assert "RuntimeError" in str(payload["exc"])
