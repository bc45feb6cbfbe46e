"""Hostile input at every sync endpoint and the main REST endpoints, on both stores: NUL bytes in
ids and query parameters, numbers past 64 bits, wrong types, deep nesting, unknown fields,
garbage bodies, wrong content types, bad base64, very long query strings and headers.

Whatever a client sends, the server never answers 5xx: a refusal is a 4xx problem+json. Each
test throws one kind of input at one endpoint and lists every answer that broke the rule, so a
failure shows them all at once."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import msgspec
import pytest

from sync import codec
from sync.ids import new_id
from tests.seed import PASSWORD
from tests.server.resources.conftest import Env, env

__all__ = ["env"]

_OK_TYPES = ("application/json", "application/msgpack", "text/csv")

# --- what is thrown --------------------------------------------------------------------------

HOSTILE_IDS = {
    "NUL": "%00",
    "id then NUL": "01890000-0000-7000-8000-000000000000%00",
    "NUL inside": "01890000-0000-7000-8000%00000000000000",
    "long": "a" * 5000,
    "huge number": "9" * 40,
    "negative": "-1",
    "non-UTF-8": "%FF%FE",
    "upper-case UUID": "01890000-0000-7000-8000-00000000000A",
    "dot-dot": "..%2F..%2Fhealth",
    "percent alone": "%",
}
"""Raw path segments (already percent-encoded where they need to be)."""

HOSTILE_VALUES = {
    "NUL": "%00",
    "text then NUL": "a%00b",
    "long": "x" * 8000,
    "2**63": str(2**63),
    "2**64": str(2**64),
    "40 digits": "9" * 40,
    "minus 40 digits": "-" + "9" * 40,
    "1e999": "1e999",
    "NaN": "NaN",
    "empty": "",
    "list": "%5B%5D",
    "non-UTF-8": "%FF%FE",
    "broken escape": "%ZZ",
    "bad base64": "!!!",
    "base64 of garbage": quote(base64.urlsafe_b64encode(b"\xc1\xff\x00garbage").decode()),
    "base64 of a JSON list": quote(base64.urlsafe_b64encode(b"[1,2,3]").decode()),
    "date past 9999": "10000-01-01",
    "date before 1": "-0001-01-01",
    "datetime with hour 25": "2024-01-01T25:00:00Z",
}
"""Raw query values (already percent-encoded where they need to be)."""

GARBAGE_BODIES: dict[str, bytes] = {
    "empty": b"",
    "truncated": b'{"name": "Half',
    "not UTF-8": b'{"name": "\xff\xfe"}',
    "NUL byte": b'{"name": "a\x00b"}',
    "null": b"null",
    "a list": b"[]",
    "a string": b'"x"',
    "a number": b"1e999",
    "nested 2,000 deep": b"[" * 2000 + b"]" * 2000,
    "object nested 2,000 deep": b'{"a":' * 2000 + b"1" + b"}" * 2000,
    "duplicate keys": b'{"name": "a", "name": 1}',
    "bare word": b"undefined",
    "BOM": b'\xef\xbb\xbf{"name": "BOM"}',
    "megabyte of spaces": b" " * (1024 * 1024),
}

CONTENT_TYPES = {
    "text/plain": "text/plain",
    "XML": "application/xml",
    "form": "application/x-www-form-urlencoded",
    "multipart without boundary": "multipart/form-data",
    "MessagePack": "application/msgpack",
    "JSON in Latin-1": "application/json; charset=latin-1",
    "garbage": "\x7f/\x7f",
    "empty": "",
}

HOSTILE_FIELD_VALUES: dict[str, Any] = {
    "NUL": "\x00",
    "text with NUL": "Acme\x00GmbH",
    "100,000 characters": "x" * 100_000,
    "2**63": 2**63,
    "2**64": 2**64,
    "-2**63 - 1": -(2**63) - 1,
    "10**30": 10**30,
    "1e308": 1e308,
    "-0.0": -0.0,
    "true": True,
    "a list": ["x"],
    "an object": {"x": 1},
    "nested 2,000 deep": "<deep>",
    "lone surrogate": "\\ud800",
    "date past 9999": "10000-01-01",
    "control characters": "\x01\x02\x1b[31m",
}
"""Values for a field of a JSON body; ``"<deep>"`` and ``"\\ud800"`` are spliced in raw."""


# --- where it is thrown ----------------------------------------------------------------------

LIST_ROUTES = [
    ("rep", "/sync/pull"),
    ("manager", "/sync/conflicts"),
    ("manager", "/sync/quarantine"),
    ("rep", "/accounts"),
    ("rep", "/contacts"),
    ("rep", "/products"),
    ("admin", "/price-lists"),
    ("rep", "/visits"),
    ("rep", "/orders"),
    ("key:orders:read", "/orders"),
    ("rep", "/tickets"),
    ("rep", "/opportunities"),
    ("admin", "/users"),
    ("admin", "/regions"),
    ("admin", "/territories"),
    ("admin", "/devices"),
    ("admin", "/leads"),
    ("admin", "/api-keys"),
    ("key:all", "/backoffice/orders/feed"),
    ("key:all", "/backoffice/orders/export.csv"),
    ("manager", "/forecasts"),
]

ID_ROUTES = [
    ("GET", "admin", "/accounts/{}"),
    ("PATCH", "admin", "/accounts/{}"),
    ("GET", "rep", "/contacts/{}"),
    ("GET", "rep", "/products/{}"),
    ("GET", "admin", "/price-lists/{}"),
    ("GET", "admin", "/price-lists/{}/prices"),
    ("GET", "rep", "/visits/{}"),
    ("GET", "rep", "/visits/{}/notes"),
    ("GET", "rep", "/orders/{}"),
    ("PATCH", "rep", "/orders/{}"),
    ("GET", "rep", "/tickets/{}"),
    ("GET", "rep", "/tickets/{}/comments"),
    ("GET", "rep", "/opportunities/{}"),
    ("GET", "admin", "/users/{}"),
    ("GET", "admin", "/regions/{}"),
    ("GET", "admin", "/territories/{}"),
    ("GET", "admin", "/devices/{}"),
    ("GET", "admin", "/leads/{}"),
    ("POST", "key:all", "/backoffice/orders/{}/status"),
]

BODY_ROUTES = [
    ("POST", "rep", "/sync/push"),
    ("POST", "admin", "/sync/compact"),
    ("POST", "rep", "/accounts"),
    ("POST", "rep", "/contacts"),
    ("POST", "rep", "/visits"),
    ("POST", "rep", "/orders"),
    ("POST", "rep", "/tickets"),
    ("POST", "rep", "/opportunities"),
    ("POST", "admin", "/products"),
    ("POST", "admin", "/users"),
    ("POST", "admin", "/regions"),
    ("POST", "admin", "/territories"),
    ("POST", "key:all", "/leads"),
    ("POST", "anonymous", "/auth/login"),
    ("POST", "anonymous", "/auth/refresh"),
]


def _valid_bodies(env: Env) -> dict[str, dict[str, Any]]:
    """A body each create endpoint accepts, to break one field at a time."""
    inside = env.records.inside
    product = env.records.world.products[0]
    return {
        "/accounts": {"name": "Hostile GmbH", "city": "Hamburg", "lat": 53.5, "lon": 9.9},
        "/contacts": {"account_id": inside.account, "first_name": "Ada", "last_name": "Byte"},
        "/visits": {"account_id": inside.account, "planned_for": "2030-06-03", "purpose": "x"},
        "/orders": {
            "account_id": inside.account,
            "notes": "n",
            "lines": [{"product_id": product, "quantity": 1, "discount_pct": "5"}],
        },
        "/tickets": {"account_id": inside.account, "subject": "Broken", "description": "d"},
        "/opportunities": {
            "account_id": inside.account,
            "name": "Deal",
            "amount": "10.00",
            "close_date": "2030-12-31",
        },
        "/leads": {"company": "Lead AG", "city": "Hamburg", "notes": "n", "lat": 53.5},
        "/auth/login": {
            "username": "rep_n1",
            "password": PASSWORD,
            "device_name": "Tablet",
            "device_id": new_id(),
            "app_version": "1.0",
        },
        "/auth/refresh": {"refresh_token": f"flr_{new_id()}.secret"},
    }


CREATE_ROUTES = [
    ("rep", "/accounts"),
    ("rep", "/contacts"),
    ("rep", "/visits"),
    ("rep", "/orders"),
    ("rep", "/tickets"),
    ("rep", "/opportunities"),
    ("key:all", "/leads"),
    ("anonymous", "/auth/login"),
    ("anonymous", "/auth/refresh"),
]


# --- the rule ---------------------------------------------------------------------------------


def _broken(response: Any) -> str | None:
    """Why an answer breaks the rule (None when it keeps it)."""
    status = response.status_code
    kind = response.headers.get("content-type", "")
    if status >= 500:
        return f"{status}: {response.text[:200]}"
    if status >= 400:
        if not kind.startswith("application/problem+json"):
            return f"{status} as {kind!r}: {response.text[:200]}"
        body = response.json()
        if body.get("status") != status or not body.get("detail"):
            return f"{status} with a problem body that does not say what: {body}"
    return None


class Thrower:
    """Sends raw requests for one caller and collects the answers that break the rule."""

    def __init__(self, env: Env, caller: str) -> None:
        self.env = env
        self.headers = {**env.callers[caller], codec.PROTOCOL_HEADER: "1"}
        self.failures: list[str] = []

    def send(
        self,
        label: str,
        method: str,
        url: str,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        response = self.env.client.request(
            method,
            f"/api/v1{url}",
            content=content,
            headers={**self.headers, **(headers or {})},
        )
        if (why := _broken(response)) is not None:
            self.failures.append(f"{label} → {why}")

    def json(self, label: str, method: str, url: str, body: bytes) -> None:
        self.send(label, method, url, body, {"content-type": "application/json"})

    def verdict(self) -> None:
        """Fail on any broken answer."""
        assert not self.failures, "\n".join(self.failures)


def _query_parameters(env: Env, path: str) -> list[str]:
    """The query parameters the OpenAPI document declares for ``GET path``."""
    document = _openapi(env)
    operation = document["paths"][f"/api/v1{path}"]["get"]
    return [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]


_DOCUMENTS: dict[int, dict[str, Any]] = {}


def _openapi(env: Env) -> dict[str, Any]:
    if id(env) not in _DOCUMENTS:
        _DOCUMENTS[id(env)] = env.client.get("/schema/openapi.json").json()
    return _DOCUMENTS[id(env)]


def _route_id(route: tuple[str, ...]) -> str:
    return " ".join(route)


_PLACE = "<hostile value>"


def _encoded(value: Any) -> bytes:
    """``value`` as JSON; what an encoder refuses to write is written by hand."""
    if value == "<deep>":
        return b"[" * 2000 + b"]" * 2000
    if value == "\\ud800":
        return b'"\\ud800"'
    return json.dumps(value).encode()


def _with_hostile(document: Any, value: Any) -> bytes:
    """``document`` as JSON, with ``value`` where it holds ``_PLACE``."""
    return json.dumps(document).encode().replace(json.dumps(_PLACE).encode(), _encoded(value))


def _json_with(body: dict[str, Any], field: str, value: Any) -> bytes:
    return _with_hostile({**body, field: _PLACE}, value)


# --- the tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ID_ROUTES, ids=_route_id)
def test_hostile_ids_in_the_path_never_get_a_server_error(
    env: Env, route: tuple[str, str, str]
) -> None:
    method, caller, template = route
    thrower = Thrower(env, caller)
    for label, raw in HOSTILE_IDS.items():
        content = b"{}" if method != "GET" else None
        headers = {"content-type": "application/json"} if content else None
        thrower.send(label, method, template.format(raw), content, headers)
    thrower.verdict()


@pytest.mark.parametrize("route", LIST_ROUTES, ids=_route_id)
def test_hostile_query_values_never_get_a_server_error(env: Env, route: tuple[str, str]) -> None:
    caller, path = route
    thrower = Thrower(env, caller)
    names = _query_parameters(env, path)
    assert names, f"{path} declares no query parameters"
    for name in names:
        for label, raw in HOSTILE_VALUES.items():
            thrower.send(f"{name}={label}", "GET", f"{path}?{quote(name)}={raw}")
    thrower.verdict()


@pytest.mark.parametrize("route", LIST_ROUTES, ids=_route_id)
def test_odd_query_strings_never_get_a_server_error(env: Env, route: tuple[str, str]) -> None:
    caller, path = route
    thrower = Thrower(env, caller)
    names = _query_parameters(env, path)
    odd = {
        "unknown parameter": "zzz=1",
        "NUL in a parameter's name": "a%00b=1",
        "a parameter without a value": names[0],
        "every parameter twice": "&".join(f"{n}=1&{n}=2" for n in names),
        "a 60,000 character query string": "q=" + "y" * 60_000,
        "2,000 parameters": "&".join(f"p{i}=1" for i in range(2000)),
        "only separators": "&&&===&&",
    }
    for label, query in odd.items():
        thrower.send(label, "GET", f"{path}?{query}")
    thrower.verdict()


@pytest.mark.parametrize("route", BODY_ROUTES, ids=_route_id)
def test_garbage_bodies_never_get_a_server_error(env: Env, route: tuple[str, str, str]) -> None:
    method, caller, path = route
    thrower = Thrower(env, caller)
    for label, body in GARBAGE_BODIES.items():
        thrower.json(label, method, path, body)
    thrower.json("unknown field", method, path, b'{"zzz": 1}')
    thrower.verdict()


@pytest.mark.parametrize("route", BODY_ROUTES, ids=_route_id)
def test_wrong_content_types_never_get_a_server_error(
    env: Env, route: tuple[str, str, str]
) -> None:
    method, caller, path = route
    thrower = Thrower(env, caller)
    for label, content_type in CONTENT_TYPES.items():
        thrower.send(label, method, path, b'{"name": "x"}', {"content-type": content_type})
    thrower.verdict()


@pytest.mark.parametrize("route", CREATE_ROUTES, ids=_route_id)
def test_hostile_field_values_never_get_a_server_error(env: Env, route: tuple[str, str]) -> None:
    caller, path = route
    thrower = Thrower(env, caller)
    valid = _valid_bodies(env)[path]
    for field in valid:
        for label, value in HOSTILE_FIELD_VALUES.items():
            thrower.json(f"{field}={label}", "POST", path, _json_with(valid, field, value))
    thrower.verdict()


def _updates(env: Env) -> dict[str, tuple[str, dict[str, Any]]]:
    """A body each PATCH endpoint accepts, by the path of the record it changes."""
    inside = env.records.inside
    return {
        "accounts": (f"/accounts/{inside.account}", {"notes": "n", "phone": "+49 40 1"}),
        "contacts": (f"/contacts/{inside.contact}", {"title": "Dr", "email": "a@b.de"}),
        "visits": (f"/visits/{inside.visit}", {"purpose": "p", "notes": "n"}),
        "orders": (f"/orders/{inside.order}", {"notes": "n"}),
        "tickets": (f"/tickets/{inside.ticket}", {"description": "d", "priority": "high"}),
        "opportunities": (f"/opportunities/{inside.opportunity}", {"name": "N", "amount": "1.00"}),
    }


@pytest.mark.parametrize(
    "resource", ["accounts", "contacts", "visits", "orders", "tickets", "opportunities"]
)
def test_hostile_values_in_an_update_never_get_a_server_error(env: Env, resource: str) -> None:
    thrower = Thrower(env, "rep")
    path, valid = _updates(env)[resource]
    for field in valid:
        for label, value in HOSTILE_FIELD_VALUES.items():
            thrower.json(f"{field}={label}", "PATCH", path, _json_with(valid, field, value))
    thrower.verdict()


def _deep(depth: int) -> bytes:
    """An object nested ``depth`` deep, as JSON (written by hand: encoders stop near 1,000)."""
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize("depth", [100, 500, 900, 990])
def test_values_nested_as_deep_as_a_decoder_reads_never_get_a_server_error(
    env: Env, depth: int
) -> None:
    """Nesting shallow enough to decode reaches whatever stores or encodes the value next,
    deeper in the stack: where a field takes any JSON (assignment rules, webhook filters,
    a pushed field), that must not overflow either."""
    thrower = Thrower(env, "admin")
    region = env.records.inside.region
    nested = _deep(depth)
    thrower.json(
        "assignment rules",
        "PUT",
        f"/regions/{region}/assignment-rules",
        b'{"rules": ' + nested + b', "note": "deep"}',
    )
    thrower.json(
        "simulated rules",
        "POST",
        "/leads/assignment/simulate",
        b'{"region_id": "' + region.encode() + b'", "days": 1, "rules": ' + nested + b"}",
    )
    rep = Thrower(env, "rep")
    device = _device_id(env)
    mutation = _upsert(2_500_000 + depth, "account", env.records.inside.account, {"notes": _PLACE})
    body = json.dumps({"device_id": device, "mutations": [mutation]}).encode()
    rep.json(
        "pushed field", "POST", "/sync/push", body.replace(b'"' + _PLACE.encode() + b'"', nested)
    )
    thrower.failures += rep.failures
    thrower.verdict()


def test_hostile_sign_in_forms_never_get_a_server_error(env: Env) -> None:
    """The managers' sign-in page answers a refusal with the form again (HTML, not
    problem+json); what matters here is that it is never a 500."""
    forms = {
        "NUL in the username": "username=mgr%00north&password=x",
        "NUL in the password": "username=mgr_north&password=%00",
        "a username of 100,000 characters": "username=" + "u" * 100_000 + "&password=x",
        "no fields": "",
        "non-UTF-8": "username=%FF%FE&password=%FF",
        "a field twice": "username=a&username=b&password=x",
    }
    failures = []
    for label, form in forms.items():
        response = env.client.post(
            "/manager/login",
            content=form.encode(),
            headers={"content-type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        if response.status_code >= 500:
            failures.append(f"{label} → {response.status_code}: {response.text[:200]}")
    assert not failures, "\n".join(failures)


def test_hostile_credentials_never_get_a_server_error(env: Env) -> None:
    thrower = Thrower(env, "anonymous")
    credentials = {
        "bearer of garbage": {"authorization": "Bearer !!!"},
        "bearer of three dots": {"authorization": "Bearer a.b.c"},
        "bearer of base64 garbage": {"authorization": "Bearer eyJhbGciOiJub25lIn0.e30."},
        "bearer of 10,000 characters": {"authorization": "Bearer " + "a" * 10_000},
        "empty bearer": {"authorization": "Bearer "},
        "basic": {"authorization": "Basic dXNlcjpwYXNz"},
        "API key of garbage": {"x-api-key": "flk_\x7f"},
        "API key of 10,000 characters": {"x-api-key": "k" * 10_000},
        "session cookie of garbage": {"cookie": "fieldline_session=%00%FF"},
    }
    for label, headers in credentials.items():
        for path in ("/accounts", "/sync/pull"):
            thrower.send(f"{path} with {label}", "GET", path, headers=headers)
    for label, token in {
        "refresh token naming a device with NUL": "flr_\x00.secret",
        "refresh token naming a device of 500 characters": f"flr_{'d' * 500}.secret",
        "refresh token of dots": "flr_....",
    }.items():
        body = json.dumps({"refresh_token": token}).encode()
        thrower.json(label, "POST", "/auth/refresh", body)
    thrower.verdict()


def test_hostile_sync_headers_never_get_a_server_error(env: Env) -> None:
    thrower = Thrower(env, "rep")
    headers = {
        "protocol of 40 digits": {codec.PROTOCOL_HEADER: "9" * 40},
        "protocol of text": {codec.PROTOCOL_HEADER: "one"},
        "protocol of -1": {codec.PROTOCOL_HEADER: "-1"},
        "Accept of garbage": {"accept": ";;q=,,*/*;q=abc"},
        "Accept with a huge quality": {"accept": "application/msgpack;q=1e999"},
        "Accept of nothing we speak": {"accept": "text/html"},
        "Accept-Encoding of garbage": {"accept-encoding": "gzip;q=x, br;;"},
    }
    for label, extra in headers.items():
        thrower.send(f"pull with {label}", "GET", "/sync/pull?limit=1", headers=extra)
        thrower.send(
            f"push with {label}",
            "POST",
            "/sync/push",
            b'{"device_id": "x", "mutations": []}',
            {"content-type": "application/json", **extra},
        )
    thrower.verdict()


# --- sync push: the envelope and the mutations -------------------------------------------------


def _device_id(env: Env) -> str:
    """The device the rep's token is bound to (a push must name it): the token's ``did``."""
    token = env.callers["rep"]["Authorization"].removeprefix("Bearer ")
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["did"])


@pytest.fixture(scope="module")
def seqs() -> Iterator[Iterator[int]]:
    """Fresh sequence numbers for the rep's device across the module's pushes."""
    yield iter(range(1_000_000, 2_000_000))


def _upsert(seq: int, entity: str, record_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "upsert",
        "seq": seq,
        "tx": new_id(),
        "entity": entity,
        "id": record_id,
        "fields": fields,
        "hlc": f"{1_790_000_000_000:015d}-00000-device",
    }


def test_hostile_push_envelopes_never_get_a_server_error(env: Env, seqs: Iterator[int]) -> None:
    thrower = Thrower(env, "rep")
    device = _device_id(env)
    contact = {"account_id": env.records.inside.account, "first_name": "A", "last_name": "B"}

    def mutation(**changes: Any) -> dict[str, Any]:
        return {**_upsert(next(seqs), "contact", new_id(), contact), **changes}

    envelopes: dict[str, Any] = {
        "device_id NUL": {"device_id": "\x00", "mutations": []},
        "device_id a number": {"device_id": 1, "mutations": []},
        "mutations an object": {"device_id": device, "mutations": {}},
        "mutation without kind": {"device_id": device, "mutations": [{"seq": 1}]},
        "mutation of unknown kind": {"device_id": device, "mutations": [mutation(kind="drop")]},
        "seq a string": {"device_id": device, "mutations": [mutation(seq="1")]},
        "seq zero": {"device_id": device, "mutations": [mutation(seq=0)]},
        "seq a float": {"device_id": device, "mutations": [mutation(seq=1.5)]},
        "seq 2**63": {"device_id": device, "mutations": [mutation(seq=2**63)]},
        "seq 10**30": {"device_id": device, "mutations": [mutation(seq=10**30)]},
        "entity NUL": {"device_id": device, "mutations": [mutation(entity="\x00")]},
        "entity unknown": {"device_id": device, "mutations": [mutation(entity="nope")]},
        "entity long": {"device_id": device, "mutations": [mutation(entity="e" * 1000)]},
        "id NUL": {"device_id": device, "mutations": [mutation(id="\x00")]},
        "id with NUL": {"device_id": device, "mutations": [mutation(id=new_id() + "\x00")]},
        "id long": {"device_id": device, "mutations": [mutation(id="i" * 1000)]},
        "id not a UUID": {"device_id": device, "mutations": [mutation(id="not-a-uuid")]},
        "tx NUL": {"device_id": device, "mutations": [mutation(tx="\x00")]},
        "hlc garbage": {"device_id": device, "mutations": [mutation(hlc="garbage")]},
        "hlc NUL": {"device_id": device, "mutations": [mutation(hlc="\x00")]},
        "hlc far future": {
            "device_id": device,
            "mutations": [mutation(hlc=f"{999_999_999_999_999:015d}-99999-device")],
        },
        "hlc negative": {"device_id": device, "mutations": [mutation(hlc="-00000000000001-0-d")]},
        "fields a list": {"device_id": device, "mutations": [mutation(fields=[])]},
        "base_version 2**63": {"device_id": device, "mutations": [mutation(base_version=2**63)]},
        "base_version 2**62 on a stranger": {
            "device_id": device,
            "mutations": [
                _upsert(next(seqs), "contact", env.records.inside.contact, {"title": "x"})
                | {"base_version": 2**62}
            ],
        },
        "envelope hlc NUL": {"device_id": device, "hlc": "\x00", "mutations": []},
        "pending -1": {"device_id": device, "pending": -1, "mutations": []},
        "pending 2**40": {"device_id": device, "pending": 2**40, "mutations": []},
        "oldest_pending_at garbage": {
            "device_id": device,
            "oldest_pending_at": "yesterday\x00",
            "mutations": [],
        },
        "oldest_pending_at year 10000": {
            "device_id": device,
            "oldest_pending_at": "10000-01-01T00:00:00Z",
            "mutations": [],
        },
        "pull a list": {"device_id": device, "mutations": [], "pull": []},
        "pull cursor a number": {"device_id": device, "mutations": [], "pull": {"cursor": 1}},
        "pull cursor NUL": {"device_id": device, "mutations": [], "pull": {"cursor": "\x00"}},
        "pull limit 10**30": {"device_id": device, "mutations": [], "pull": {"limit": 10**30}},
        "unknown envelope field": {"device_id": device, "mutations": [], "zzz": 1},
        "unknown mutation field": {"device_id": device, "mutations": [mutation(zzz=1)]},
    }
    for label, envelope in envelopes.items():
        thrower.json(label, "POST", "/sync/push", json.dumps(envelope).encode())
        try:
            packed = msgspec.msgpack.encode(envelope)
        except OverflowError:
            continue  # MessagePack has no integers past 64 bits: nothing to send
        thrower.send(
            f"{label} (MessagePack)",
            "POST",
            "/sync/push",
            packed,
            {"content-type": codec.MEDIA_MSGPACK},
        )
    thrower.verdict()


@pytest.mark.parametrize(
    "entity", ["contact", "account", "visit", "ticket", "order", "opportunity", "visit_note"]
)
def test_hostile_pushed_field_values_never_get_a_server_error(
    env: Env, seqs: Iterator[int], entity: str
) -> None:
    """A new record of ``entity`` whose one field holds a hostile value, field by field."""
    thrower = Thrower(env, "rep")
    device = _device_id(env)
    inside = env.records.inside
    valid: dict[str, dict[str, Any]] = {
        "contact": {"account_id": inside.account, "first_name": "A", "last_name": "B"},
        "account": {"name": "Pushed GmbH", "city": "Hamburg", "lat": 53.5, "lon": 9.9},
        "visit": {"account_id": inside.account, "status": "planned", "purpose": "p"},
        "ticket": {"account_id": inside.account, "subject": "s", "description": "d"},
        "order": {"account_id": inside.account, "status": "draft", "notes": "n"},
        "opportunity": {
            "account_id": inside.account,
            "name": "Deal",
            "amount": "10.00",
            "close_date": "2030-12-31",
        },
        "visit_note": {"visit_id": inside.visit, "body": "b"},
    }
    for field in valid[entity]:
        for label, value in HOSTILE_FIELD_VALUES.items():
            fields = {**valid[entity], field: _PLACE}
            mutation = _upsert(next(seqs), entity, new_id(), fields)
            body = _with_hostile({"device_id": device, "mutations": [mutation]}, value)
            thrower.json(f"{field}={label}", "POST", "/sync/push", body)
    thrower.verdict()
