"""Where "now" comes from: the wall clock in production, a hand-moved one in tests.

The pipeline, the queue's scheduling decisions and the scheduler ask ``runtime.clock.now()``
instead of calling ``time.time()``, so a first-response timer set 24 hours ahead fires in a test
that advances a :class:`ManualClock`, without sleeping (huey's tests freeze time the same way).
Durations measured inside one process (timeouts, heartbeats) keep ``time.monotonic()``.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    def now(self) -> float:
        """UNIX seconds."""
        ...


class SystemClock:
    """The machine's wall clock."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to (thread-safe: workers read it while a test moves it)."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float) -> None:
        with self._lock:
            if when < self._now:
                raise ValueError("a clock only moves forward")
            self._now = when
