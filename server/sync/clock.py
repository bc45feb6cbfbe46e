"""The server's own hybrid logical clock: stamps server-side writes (manager edits, back-office
status, assignment) so device edits compare against them under the same LWW rule."""

from __future__ import annotations

import threading

from sync import clock

__all__ = ["SERVER_NODE", "ServerClock", "server_clock"]

SERVER_NODE = "server"


class ServerClock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: clock.Hlc | None = None

    def now(self) -> str:
        with self._lock:
            self._last = clock.send(self._last, wall_ms=clock.wall_now_ms(), node=SERVER_NODE)
            return self._last.encode()

    def observe(self, remote: str) -> str:
        """Merge a (bounded) device stamp so later server stamps order after it."""
        with self._lock:
            self._last = clock.receive(
                self._last, clock.Hlc.parse(remote), wall_ms=clock.wall_now_ms(), node=SERVER_NODE
            )
            return self._last.encode()

    def forget(self) -> None:
        """Start again from the wall clock, as a restarted process does."""
        with self._lock:
            self._last = None


server_clock = ServerClock()
