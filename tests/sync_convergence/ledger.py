"""What the simulation saw happen, kept to be checked at the end: every push answer that reached
a device (its acknowledgements), every answer the server gave at all (to check that a resent
mutation always gets the same one), and every write the server side made on its own."""

from __future__ import annotations

import gzip
import itertools
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec

from sync import codec
from sync.messages import Applied, Merged, Mutation, Result

__all__ = ["Ack", "Ledger", "ServerWrite"]


@dataclass(frozen=True)
class Ack:
    """A push answer the device received for one of its mutations."""

    device: str
    device_id: str
    mutation: Mutation
    result: Result
    order: int

    @property
    def took_effect(self) -> bool:
        return isinstance(self.result, Applied | Merged)


@dataclass(frozen=True)
class ServerWrite:
    """A field the server side changed itself (a manager's REST edit, an ORM write standing for
    the back office or an admin): the value and the record version it produced."""

    entity: str
    record_id: str
    field: str
    value: Any
    version: int
    hlc: str
    how: str
    order: int


@dataclass
class Ledger:
    acks: dict[tuple[str, int], Ack] = field(default_factory=dict)
    answers: dict[tuple[str, int], Result] = field(default_factory=dict)
    answer_mismatches: list[str] = field(default_factory=list)
    server_writes: list[ServerWrite] = field(default_factory=list)
    server_deletes: list[tuple[str, str, int]] = field(default_factory=list)
    push_failures: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    _clock: itertools.count[int] = field(default_factory=itertools.count)

    def tick(self) -> int:
        return next(self._clock)

    def observe_push(
        self, label: str, request: httpx.Request, response: httpx.Response, *, delivered: bool
    ) -> None:
        if response.status_code == 401:
            return  # a late copy carrying an access token that has since been replaced
        content_type = request.headers.get("content-type")
        body = request.content
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        pushed = codec.decode_push(body, content_type)
        if response.status_code != 200:
            self.push_failures.append(
                f"{label}: push of seqs {[m.seq for m in pushed.mutations]} answered "
                f"HTTP {response.status_code}: {response.text[:300]}"
            )
            return
        answer = codec.decode_push_response(response.content, response.headers["content-type"])
        by_seq = {m.seq: m for m in pushed.mutations}
        order = self.tick()
        for result in answer.results:
            key = (pushed.device_id, result.seq)
            first = self.answers.setdefault(key, result)
            if msgspec.to_builtins(first) != msgspec.to_builtins(result):
                self.answer_mismatches.append(
                    f"{label} seq {result.seq}: first answered {msgspec.to_builtins(first)}, "
                    f"later {msgspec.to_builtins(result)}"
                )
            if delivered and key not in self.acks:
                self.acks[key] = Ack(label, pushed.device_id, by_seq[result.seq], result, order)

    def server_write(
        self,
        entity: str,
        record_id: str,
        field_name: str,
        value: Any,
        clock: tuple[str, int],
        how: str,
    ) -> None:
        hlc, version = clock
        self.server_writes.append(
            ServerWrite(entity, record_id, field_name, value, version, hlc, how, self.tick())
        )
