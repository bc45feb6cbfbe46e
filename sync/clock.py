"""Hybrid logical clock (HLC), as pure functions.

Theory of operation
-------------------
Every write a device or the server makes is stamped ``(wall_ms, counter, node)``. ``wall_ms`` is
the largest physical time the stamping node has seen, its own or any it received; ``counter``
orders events within that millisecond; ``node`` (the device id, or the writing server process's
own ``server-…`` node) breaks the remaining ties, so two distinct writers never produce equal
stamps. The rules (Kulkarni et al.,
"Logical Physical Clocks", 2014):

* ``send`` (a local write): ``wall = max(last.wall, now)``; the counter increments when the wall
  part did not move, and resets to 0 when it did.
* ``receive`` (a stamp arrives from elsewhere): ``wall = max(last.wall, remote.wall, now)``; the
  counter continues from whichever stamps share that wall value. The result is greater than both
  the local and the remote stamp, so anything stamped after receiving a change orders after it.

The stamp therefore respects causality (a write made after seeing another compares greater) while
staying close to real time, which is what field-level last-writer-wins needs: "the later edit
wins" means later in this order.

Clock skew. A device whose wall clock runs behind catches up as soon as it receives the server's
stamp (push responses and pull pages carry ``server_hlc``), because ``receive`` never lets a clock
fall behind a stamp it has seen. A device whose clock runs *ahead* is the dangerous one: left
alone, its stamps would beat every other writer for as long as its clock stays wrong, and through
``receive`` they would drag every other clock forward too. So the server ``bound``s each stamp it
accepts to at most ``max_future_ms`` past its own wall clock before merging or storing it. A
skewed device can then win at most against writes made within that window — it is ordered as if
it wrote slightly in the future, never days ahead — and the server's clock, which receives only
bounded stamps, stays sane for everyone.

Encoding. ``encode`` writes ``{wall_ms:015d}-{counter:05d}-{node}``: both numbers fixed width, so
comparing two encoded stamps as strings gives the same answer as comparing the stamps. Merge code
compares the text directly. The counter is capped at five digits; an overflowing counter borrows
the next millisecond instead, which keeps every stamp increasing.
"""

from __future__ import annotations

import time
from functools import lru_cache

import msgspec

__all__ = ["MAX_COUNTER", "MAX_WALL_MS", "Hlc", "bound", "receive", "send", "wall_now_ms"]

MAX_WALL_MS = 10**15 - 1
MAX_COUNTER = 10**5 - 1

_WALL_DIGITS = 15
_COUNTER_AT = _WALL_DIGITS + 1
_NODE_AT = _COUNTER_AT + 5 + 1


class Hlc(msgspec.Struct, frozen=True, order=True):
    """Ordered as (wall_ms, counter, node). A Struct rather than a dataclass: every pushed
    mutation builds one, and a frozen dataclass costs ten times as much to construct."""

    wall_ms: int
    counter: int
    node: str

    def __post_init__(self) -> None:
        if not 0 <= self.wall_ms <= MAX_WALL_MS:
            raise ValueError(f"HLC wall_ms out of range: {self.wall_ms}")
        if not 0 <= self.counter <= MAX_COUNTER:
            raise ValueError(f"HLC counter out of range: {self.counter}")
        if not self.node:
            raise ValueError("HLC node must not be empty")

    def encode(self) -> str:
        return f"{self.wall_ms:015d}-{self.counter:05d}-{self.node}"

    @classmethod
    def parse(cls, text: str) -> Hlc:
        if not isinstance(text, str):
            raise ValueError(f"malformed HLC stamp: {text!r}")
        return _parse(text)


@lru_cache(maxsize=4096)
def _parse(text: str) -> Hlc:
    # Stamps are immutable and a push parses each several times (bounding it, merging it, the
    # transaction's latest): remembered, the repeats cost a dictionary lookup. Sliced rather
    # than matched: the layout is fixed up to the node.
    wall = text[:_WALL_DIGITS]
    counter = text[_COUNTER_AT : _NODE_AT - 1]
    digits = wall + counter
    if (
        len(text) <= _NODE_AT
        or text[_WALL_DIGITS] != "-"
        or text[_NODE_AT - 1] != "-"
        or not (digits.isascii() and digits.isdigit())
    ):
        raise ValueError(f"malformed HLC stamp: {text!r}")
    return Hlc(int(wall), int(counter), text[_NODE_AT:])


def wall_now_ms() -> int:
    """The only place the physical clock is read."""
    return time.time_ns() // 1_000_000


def _stamp(wall_ms: int, counter: int, node: str) -> Hlc:
    if counter > MAX_COUNTER:
        return Hlc(wall_ms + 1, 0, node)
    return Hlc(wall_ms, counter, node)


def send(last: Hlc | None, *, wall_ms: int, node: str) -> Hlc:
    if last is None or wall_ms > last.wall_ms:
        return Hlc(wall_ms, 0, node)
    return _stamp(last.wall_ms, last.counter + 1, node)


def receive(last: Hlc | None, remote: Hlc, *, wall_ms: int, node: str) -> Hlc:
    last_wall = -1 if last is None else last.wall_ms
    wall = max(last_wall, remote.wall_ms, wall_ms)
    if last is not None and wall == last.wall_ms == remote.wall_ms:
        counter = max(last.counter, remote.counter) + 1
    elif last is not None and wall == last.wall_ms:
        counter = last.counter + 1
    elif wall == remote.wall_ms:
        counter = remote.counter + 1
    else:
        counter = 0
    return _stamp(wall, counter, node)


def bound(remote: Hlc, *, wall_ms: int, max_future_ms: int) -> tuple[Hlc, bool]:
    """Clamp a stamp to at most ``max_future_ms`` ahead of ``wall_ms``; True when clamped."""
    limit = wall_ms + max_future_ms
    if remote.wall_ms > limit:
        return Hlc(limit, remote.counter, remote.node), True
    return remote, False
