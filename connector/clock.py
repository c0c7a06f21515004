"""Where "now" comes from: the wall clock in production, a hand-moved one in tests.

The pipeline, the queue's scheduling decisions and the scheduler ask ``runtime.clock.now()``
instead of calling ``time.time()``, so a first-response timer set 24 hours ahead fires in a test
that advances a :class:`ManualClock`, without sleeping (huey's tests freeze time the same way).
Durations measured inside one process (timeouts, heartbeats) keep ``time.monotonic()``.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["CLOCK_FILE_ENV", "Clock", "FileOffsetClock", "ManualClock", "SystemClock",
           "default_clock"]

# A file holding seconds to add to the wall clock: for trying a policy against the sandbox "a day
# later" across processes (sms-connector serve, its workers, the demo). Never set in production.
CLOCK_FILE_ENV = "SMS_CONNECTOR_CLOCK_FILE"


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


class FileOffsetClock:
    """The wall clock plus the offset written in a file (seconds; the file may be missing: 0).

    Every process of a trial stack reads the same file, so moving it moves them all; the file is
    re-read when its modification time changes (one ``stat`` per reading). Written atomically by
    :meth:`advance` (a rename), so a reader never sees half a number.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._offset = 0.0

    def offset(self) -> float:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_ino)  # a rename is a new inode: never missed
        except FileNotFoundError:
            return 0.0
        with self._lock:
            if stamp != self._stamp:
                try:
                    self._offset = float(self.path.read_text().strip() or 0.0)
                except (OSError, ValueError):  # being replaced: keep the last offset read
                    return self._offset
                self._stamp = stamp
            return self._offset

    def now(self) -> float:
        return time.time() + self.offset()

    def advance(self, seconds: float) -> float:
        """Move every reader of the file ``seconds`` forward; returns the new offset."""
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        offset = self.offset() + seconds
        temporary = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        temporary.write_text(repr(offset))
        os.replace(temporary, self.path)
        return offset


def default_clock() -> Clock:
    """The wall clock, or a :class:`FileOffsetClock` when ``SMS_CONNECTOR_CLOCK_FILE`` is set."""
    path = os.environ.get(CLOCK_FILE_ENV)
    return FileOffsetClock(path) if path else SystemClock()
