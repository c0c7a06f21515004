"""Counters kept in the store, so every process adds to the same numbers ``/metrics`` reads.

What the web process cannot read from its own tables happens in the worker — helpdesk and SMS API
calls, their 429s — and the two may be different processes (``serve`` forks its worker) or
machines (PostgreSQL). Prometheus' own multiprocess mode shares files in one directory of one
machine and needs an environment variable set before the first import; rows in the database the
processes already share need neither.

Cost: an HTTP call takes milliseconds, but a write transaction per call would take SQLite's one
write lock as often as the helpdesk is called. So calls are added up in memory
(:class:`CounterBuffer`, a dict under a lock: well under a microsecond) and written in one
transaction of a few upserts by the worker's housekeeping (every few seconds), at a scrape and at
close. A crash loses at most those seconds of counts; a flush that fails keeps them for the next.
"""

from __future__ import annotations

import json
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, Engine, Float, String, Table, select

from connector.store import metadata, reading

__all__ = ["CounterBuffer", "add_counts", "counters", "read_counters", "totals"]

counters = Table(
    "counters",
    metadata,
    Column("name", String(64), primary_key=True),
    # The label values as a JSON object with sorted keys: one row per series.
    Column("labels", String(255), primary_key=True),
    Column("value", BigInteger, nullable=False),
    Column("updated_at", Float, nullable=False),
)

Key = tuple[str, str]  # (name, labels as JSON)


def _labels(labels: Mapping[str, str]) -> str:
    return json.dumps(dict(labels), sort_keys=True, separators=(",", ":"))


def add_counts(conn: Connection, counts: Mapping[Key, int], *, now: float) -> None:
    """Add ``counts`` to their rows in one statement per row (INSERT … ON CONFLICT DO UPDATE)."""
    if not counts:
        return
    from sqlalchemy.dialects import postgresql, sqlite

    module: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = module.insert(counters)
    stmt = stmt.on_conflict_do_update(
        index_elements=[counters.c.name, counters.c.labels],
        set_={"value": counters.c.value + stmt.excluded.value,
              "updated_at": stmt.excluded.updated_at},
    )
    conn.execute(stmt, [{"name": name, "labels": labels, "value": n, "updated_at": now}
                        for (name, labels), n in sorted(counts.items())])


def read_counters(conn: Connection) -> list[tuple[str, dict[str, str], int]]:
    """Every series: ``(name, labels, value)``."""
    rows = conn.execute(select(counters.c.name, counters.c.labels, counters.c.value)
                        .order_by(counters.c.name, counters.c.labels))
    return [(name, json.loads(labels), int(value)) for name, labels, value in rows]


class CounterBuffer:
    """Counts added in memory by any thread, written to the store by :meth:`flush`."""

    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock
        self._reset()
        _BUFFERS.add(self)

    def _reset(self) -> None:
        # Also in a forked child (serve's worker): the parent's counts are the parent's to write,
        # and a lock another thread held at the fork would never be released in the child.
        self._lock = threading.Lock()
        self._pending: dict[Key, int] = {}

    def add(self, name: str, labels: Mapping[str, str], n: int = 1) -> None:
        key = (name, _labels(labels))
        with self._lock:
            self._pending[key] = self._pending.get(key, 0) + n

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def flush(self) -> int:
        """Write what was added since the last flush; how many series were written.

        Never call it with a transaction open on this thread: on SQLite it would wait for the
        write lock its own thread holds.
        """
        with self._lock:
            taken, self._pending = self._pending, {}
        if not taken:
            return 0
        try:
            with self.engine.begin() as conn:
                add_counts(conn, taken, now=self.clock())
        except Exception:
            self._merge(taken)  # the database blinked: keep them for the next flush
            raise
        return len(taken)

    def _merge(self, taken: Mapping[Key, int]) -> None:
        with self._lock:
            for key, n in taken.items():
                self._pending[key] = self._pending.get(key, 0) + n


_BUFFERS: weakref.WeakSet[CounterBuffer] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for buffer in list(_BUFFERS):
        buffer._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def totals(engine: Engine) -> list[tuple[str, dict[str, str], int]]:
    """Every series, read without taking the write lock."""
    with reading(engine) as conn:
        return read_counters(conn)
