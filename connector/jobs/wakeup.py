"""Waking the queue worker when a webhook queued a job, in this process or a sibling one.

A worker thread in the web process shares a ``threading.Event`` with the request threads. When
``sms-connector serve`` runs the worker in a process of its own (connector/serve/supervisor.py), the
webhook's "a job is ready" must cross the process boundary, or the text would wait for the next
poll (``queue.poll_interval_seconds``): ``PipeWake`` is the same interface over a pipe made
before the fork, so both children hold its ends.
"""

from __future__ import annotations

import contextlib
import os
import select
from typing import Protocol


class Wake(Protocol):
    """What the worker loop needs of its wake-up: ``threading.Event`` has it."""

    def set(self) -> None: ...

    def wait(self, timeout: float | None = None) -> bool: ...

    def clear(self) -> None: ...


class PipeWake:
    """``set()`` writes a byte, ``wait()`` selects on the read end, ``clear()`` drains it.

    Both ends are non-blocking: a full pipe already means "wake up", so a webhook never blocks on
    a worker that is busy; the worker reads everything pending in one ``clear()``.
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)

    def set(self) -> None:
        # A full pipe holds wake-ups the worker has not read yet: it will wake anyway.
        with contextlib.suppress(BlockingIOError):
            os.write(self._write, b"\0")

    def wait(self, timeout: float | None = None) -> bool:
        readable, _, _ = select.select([self._read], [], [], timeout)
        return bool(readable)

    def clear(self) -> None:
        with contextlib.suppress(BlockingIOError):  # drained
            while os.read(self._read, 4096):
                pass

    def close(self) -> None:
        for fd in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)
