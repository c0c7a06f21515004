"""Timers: "enqueue a job of this kind at that time", kept as rows so they survive restarts.

A timer is unique per (kind, key) — e.g. ``("sla.first_response", "conversation:42")``:

- ``set_timer`` inserts it, or moves the due time (and payload) of one that has not fired yet;
  once it fired, setting it again is a no-op unless ``rearm=True`` (a reminder sent once stays
  sent however many times the flow that asks for it is retried).
- ``cancel_timer`` deletes it (the agent answered: no escalation).
- ``fire_timer`` is the scheduler's step: it stamps ``fired_at`` only if nobody did yet, so two
  schedulers that both think they hold the lease still fire a timer once
  (connector/jobs/scheduler.py enqueues the job in the same transaction).

Leases (the ``leases`` table, whose holder column is called ``owner`` since the first schema):
at most one holder per name for as long as it keeps renewing. The scheduler takes the
``scheduler`` lease so that of N worker processes exactly one enqueues due timers; if its process
dies the lease runs out and another takes over. A lease is a good-faith guard, not a proof
(clocks of different machines may disagree), which is why ``fire_timer`` is guarded on its own.

Every write is one statement (``INSERT … ON CONFLICT … DO UPDATE … WHERE``, ``UPDATE … WHERE
fired_at IS NULL``), the same on SQLite and PostgreSQL: no read-then-write race to lose.
Times are UNIX seconds from the caller's clock (connector/clock.py); nothing here reads the time.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, delete, select, update

from connector.store import leases, timers_table

__all__ = [
    "Lease",
    "Timer",
    "acquire_lease",
    "cancel_timer",
    "current_lease",
    "due_timers",
    "fire_timer",
    "forget_fired",
    "get_timer",
    "release_lease",
    "renew_lease",
    "set_job",
    "set_timer",
]


@dataclass(frozen=True)
class Timer:
    id: int
    kind: str
    key: str
    due_at: float
    payload: dict[str, Any]
    created_at: float
    fired_at: float | None
    job_id: int | None

    @property
    def fired(self) -> bool:
        return self.fired_at is not None


def _timer(row: RowMapping) -> Timer:
    return Timer(
        id=int(row["id"]), kind=row["kind"], key=row["key"], due_at=float(row["due_at"]),
        payload=dict(row["payload"] or {}), created_at=float(row["created_at"]),
        fired_at=None if row["fired_at"] is None else float(row["fired_at"]),
        job_id=None if row["job_id"] is None else int(row["job_id"]),
    )


def set_timer(
    conn: Connection,
    kind: str,
    key: str,
    due_at: float,
    payload: Mapping[str, Any] | None = None,
    *,
    now: float,
    rearm: bool = False,
) -> bool:
    """Insert the timer or move a pending one to ``due_at``; True when a row was written.

    False means it had fired already and ``rearm`` was not asked for: nothing changed.
    ``rearm=True`` makes a fired timer pending again at ``due_at``.
    """
    result = conn.execute(_set_statement(conn.dialect.name, rearm), {
        "kind": kind, "key": key, "due_at": due_at, "payload": dict(payload or {}),
        "created_at": now, "fired_at": None, "job_id": None,
    })
    return result.first() is not None


@functools.cache
def _set_statement(dialect: str, rearm: bool) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(timers_table)
    values: dict[str, Any] = {"due_at": stmt.excluded.due_at, "payload": stmt.excluded.payload}
    if rearm:
        values.update(fired_at=None, job_id=None)
    return stmt.on_conflict_do_update(
        index_elements=[timers_table.c.kind, timers_table.c.key],
        set_=values,
        # A fired timer stays fired: a retried flow must not send the reminder twice.
        where=None if rearm else timers_table.c.fired_at.is_(None),
    ).returning(timers_table.c.id)


def cancel_timer(conn: Connection, kind: str, key: str) -> bool:
    """Delete the timer (fired or not); True when there was one."""
    result = conn.execute(
        delete(timers_table).where(timers_table.c.kind == kind, timers_table.c.key == key)
    )
    return bool(result.rowcount)


def get_timer(conn: Connection, kind: str, key: str) -> Timer | None:
    row = conn.execute(
        select(timers_table).where(timers_table.c.kind == kind, timers_table.c.key == key)
    ).mappings().first()
    return None if row is None else _timer(row)


def due_timers(conn: Connection, now: float, limit: int = 100) -> list[Timer]:
    """Unfired timers due at ``now`` or before, earliest first."""
    rows = conn.execute(_DUE, {"now": now, "limit": limit}).mappings()
    return [_timer(row) for row in rows]


_DUE = (
    select(timers_table)
    .where(timers_table.c.fired_at.is_(None), timers_table.c.due_at <= bindparam("now"))
    .order_by(timers_table.c.due_at, timers_table.c.id)
    .limit(bindparam("limit"))
)


def fire_timer(conn: Connection, timer_id: int, now: float) -> Timer | None:
    """Stamp the timer fired if it is still pending and due; None when someone else did first
    (or it was moved later, or cancelled, since it was read). The caller enqueues its job in the
    same transaction and records it with ``set_job``."""
    row = conn.execute(_FIRE, {"timer_id": timer_id, "now": now}).mappings().first()
    return None if row is None else _timer(row)


# On PostgreSQL a second scheduler's UPDATE of the same row waits for the first one's commit and
# then re-checks the WHERE against the committed row (READ COMMITTED), so it updates nothing;
# on SQLite writers are serialised anyway (BEGIN IMMEDIATE).
_FIRE = (
    update(timers_table)
    .where(timers_table.c.id == bindparam("timer_id"), timers_table.c.fired_at.is_(None),
           timers_table.c.due_at <= bindparam("now"))
    .values(fired_at=bindparam("now"))
    .returning(*timers_table.c)
)


def set_job(conn: Connection, timer_id: int, job_id: int | None) -> None:
    """Remember which job a fired timer enqueued (for admins tracing an escalation)."""
    conn.execute(update(timers_table).where(timers_table.c.id == timer_id).values(job_id=job_id))


def forget_fired(conn: Connection, before: float) -> int:
    """Delete timers that fired before ``before``; returns how many."""
    result = conn.execute(
        delete(timers_table).where(timers_table.c.fired_at.is_not(None),
                                   timers_table.c.fired_at < before)
    )
    return int(result.rowcount)


# -- leases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    expires_at: float


def acquire_lease(conn: Connection, name: str, holder: str, *, ttl: float, now: float) -> bool:
    """Take the lease, or extend it if ``holder`` has it already; False when someone else holds
    an unexpired one."""
    result = conn.execute(_acquire_statement(conn.dialect.name), {
        "name": name, "owner": holder, "expires_at": now + ttl, "now": now,
    })
    return result.first() is not None


@functools.cache
def _acquire_statement(dialect: str) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(leases)
    return stmt.on_conflict_do_update(
        index_elements=[leases.c.name],
        set_={"owner": stmt.excluded.owner, "expires_at": stmt.excluded.expires_at},
        where=(leases.c.owner == stmt.excluded.owner) | (leases.c.expires_at <= bindparam("now")),
    ).returning(leases.c.name)


def renew_lease(conn: Connection, name: str, holder: str, *, ttl: float, now: float) -> bool:
    """Extend a lease ``holder`` still has (not expired); False when it is gone."""
    result = conn.execute(
        update(leases)
        .where(leases.c.name == name, leases.c.owner == holder, leases.c.expires_at > now)
        .values(expires_at=now + ttl)
    )
    return bool(result.rowcount)


def release_lease(conn: Connection, name: str, holder: str) -> bool:
    """Give the lease up so another instance can take it at once; False when it was not ours."""
    result = conn.execute(delete(leases).where(leases.c.name == name, leases.c.owner == holder))
    return bool(result.rowcount)


def current_lease(conn: Connection, name: str, *, now: float) -> Lease | None:
    """The unexpired lease called ``name``, or None."""
    row = conn.execute(
        select(leases).where(leases.c.name == name, leases.c.expires_at > now)
    ).mappings().first()
    return None if row is None else Lease(row["name"], row["owner"], float(row["expires_at"]))
