"""Golden transcripts: a push request exactly as it travels on the wire, the server state it
meets, and the expected answer to each mutation — checked against ``merge`` (one file per
scenario in tests/sync/golden/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from sync import codec
from sync.merge import Resolution, Stored, load_clocks, merge
from sync.rules import RULES

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.json"))


def _parent_status(
    state: dict[str, Stored], entity: str, fields: dict[str, Any], stored: Stored | None
) -> str | None:
    rules = RULES.get(entity)
    parent = rules.parent if rules else None
    if parent is None:
        return None
    parent_id = fields.get(parent.fk, stored.fields.get(parent.fk) if stored else None)
    record = state.get(f"{parent.entity}/{parent_id}")
    return None if record is None else record.fields.get("status")


def _apply(stored: Stored | None, got: Resolution) -> Stored | None:
    if not got.changed:
        return stored
    base = {} if stored is None else dict(stored.fields)
    return Stored(
        fields={**base, **got.write},
        clocks=got.clocks,
        version=1 if stored is None else stored.version + 1,
        deleted=got.delete or (stored.deleted if stored else False),
    )


def _answer(seq: int, got: Resolution) -> dict[str, Any]:
    rejection = None
    if got.rejection is not None:
        rejection = {
            "reason": got.rejection.reason,
            "field": got.rejection.field,
            "current": got.rejection.current,
        }
    return {
        "seq": seq,
        "outcome": got.outcome,
        "write": got.write,
        "discarded": [msgspec.structs.asdict(d) for d in got.discarded],
        "rejection": rejection,
    }


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_transcript(path: Path) -> None:
    script = json.loads(path.read_text(encoding="utf-8"))
    state: dict[str, Stored] = {
        f"{r['entity']}/{r['id']}": Stored(
            fields=r["fields"],
            clocks=load_clocks(r["clocks"]),
            version=r["version"],
            deleted=r["deleted"],
        )
        for r in script["server_state"]
    }
    push = codec.decode_push(json.dumps(script["push"]).encode(), codec.MEDIA_JSON)
    answers = []
    for mutation in push.mutations:
        key = f"{mutation.entity}/{mutation.id}"
        stored = state.get(key)
        fields = getattr(mutation, "fields", {})
        got = merge(
            mutation.entity,
            stored,
            mutation,
            actor=script["actor"],
            parent_status=_parent_status(state, mutation.entity, fields, stored),
            new_version=1 if stored is None else stored.version + 1,
        )
        answers.append(_answer(mutation.seq, got))
        if (after := _apply(stored, got)) is not None:
            state[key] = after
    assert answers == script["expected"]
    for key, expected in script["final_state"].items():
        assert {"version": state[key].version, "fields": dict(state[key].fields)} == expected, key
