"""The server's own hybrid logical clock: stamps server-side writes (manager edits, back-office
status, assignment) so device edits compare against them under the same LWW rule.

Node id. Every server process stamps with a node of its own, ``server-`` and twelve random hex
digits, drawn when the process starts (and again in a forked child), kept for its whole life.
Replicas on one database must not share a node: two of them writing in the same millisecond
would produce *equal* stamps, so last-writer-wins could not order their writes, and a conflict
between them could not say which replica's value was discarded. Random rather than host:pid:
containers all run as pid 1 and host names repeat across restarts, while 48 random bits make a
collision among even thousands of processes negligible (birthday bound ~ n² / 2⁴⁹). The node
fits the 36 characters that conflict records keep for an origin.
"""

from __future__ import annotations

import os
import secrets
import threading

from sync import clock

__all__ = ["NODE_PREFIX", "ServerClock", "new_node_id", "server_clock"]

NODE_PREFIX = "server-"


def new_node_id() -> str:
    return NODE_PREFIX + secrets.token_hex(6)


class ServerClock:
    def __init__(self, node: str | None = None) -> None:
        self._lock = threading.Lock()
        self._last: clock.Hlc | None = None
        self._node = node or new_node_id()

    @property
    def node(self) -> str:
        """This process's HLC node: stable for its life, unique across replicas."""
        return self._node

    def now(self) -> str:
        with self._lock:
            self._last = clock.send(self._last, wall_ms=clock.wall_now_ms(), node=self._node)
            return self._last.encode()

    def observe(self, remote: str) -> str:
        """Merge a (bounded) device stamp so later server stamps order after it."""
        with self._lock:
            self._last = clock.receive(
                self._last, clock.Hlc.parse(remote), wall_ms=clock.wall_now_ms(), node=self._node
            )
            return self._last.encode()

    def forget(self) -> None:
        """Start again from the wall clock, as a restarted process does."""
        with self._lock:
            self._last = None

    def _renew(self) -> None:
        # A forked child (a pre-forking server's workers) is another writer: another node.
        self._lock = threading.Lock()
        self._last = None
        self._node = new_node_id()


server_clock = ServerClock()
os.register_at_fork(after_in_child=server_clock._renew)
