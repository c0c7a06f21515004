"""Durable jobs in the connector's own database.

- ``enqueue`` runs inside the caller's transaction, so "message recorded" and "job queued" commit
  together or not at all.
- ``claim`` leases a job (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises writers with
  ``BEGIN IMMEDIATE``); a claimed job stays in the table until acked.
- ``ack`` / ``fail`` / ``extend`` carry the lease token: a worker whose lease ran out (another
  worker may have the job now) gets :class:`~connector.errors.LeaseLost` instead of a double effect.
- Per conversation key at most one job is in flight and jobs run in the order queued: a job is
  claimable only when no older job of its conversation is ready or running. Dead letters do not
  block the rest of their conversation.
- Retries back off exponentially with full jitter (tenacity's ``wait_random_exponential``) unless
  the error carries ``retry_after`` (a 429's ``Retry-After``), which wins.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import aliased
from tenacity import wait_random_exponential

from connector.errors import LeaseLost
from connector.store import is_sqlite, jobs, reading

READY, RUNNING, DONE, DEAD = "ready", "running", "done", "dead"


def wait_seconds(wait: Callable[[Any], float], attempt: int) -> float:
    """A tenacity wait strategy (``wait_exponential`` …) asked for the delay before ``attempt``
    outside a retry loop: it reads only ``attempt_number`` of the state it is given."""
    return float(wait(SimpleNamespace(attempt_number=max(1, attempt))))
Clock = Callable[[], float]


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    conversation_key: str | None
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    lease_token: str
    lease_expires_at: float

    @property
    def last_attempt(self) -> bool:
        return self.attempts >= self.max_attempts


@dataclass(frozen=True)
class DeadLetter:
    id: int
    kind: str
    conversation_key: str | None
    payload: dict[str, Any]
    attempts: int
    last_error: str | None
    finished_at: float | None


def enqueue(
    conn: Connection,
    kind: str,
    payload: Mapping[str, Any] | None = None,
    *,
    conversation_key: str | None = None,
    run_at: float | None = None,
    max_attempts: int = 8,
    coalesce: bool = False,
    now: float | None = None,
) -> int | None:
    """Queue a job in ``conn``'s transaction; returns its id.

    ``coalesce=True`` skips the insert when a job of the same kind and conversation is already
    waiting (not yet running): its handler will pick up whatever this one would have (returns None).
    """
    now = time.time() if now is None else now
    if coalesce and conversation_key is not None:
        waiting = conn.execute(_WAITING, {"kind": kind, "key": conversation_key}).first()
        if waiting is not None:
            return None
    result = conn.execute(_INSERT, {
        "kind": kind,
        "conversation_key": conversation_key,
        "payload": dict(payload or {}),
        "status": READY,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_at": now if run_at is None else run_at,
        "created_at": now,
        "updated_at": now,
    })
    return int(result.inserted_primary_key[0])  # type: ignore[index]


# Prebuilt: enqueue runs inside every webhook request (see store.insert_ignore).
_WAITING = (
    select(jobs.c.id)
    .where(jobs.c.kind == bindparam("kind"), jobs.c.conversation_key == bindparam("key"),
           jobs.c.status == READY)
    .limit(1)
)
_INSERT = insert(jobs)


def dead_letter(
    conn: Connection,
    kind: str,
    payload: Mapping[str, Any],
    error: str,
    *,
    conversation_key: str | None = None,
    now: float | None = None,
) -> int:
    """Record a job straight into the dead letters (something kept that nobody can handle yet).

    ``sms-connector dead-letters retry`` runs it like any other once the gap is fixed.
    """
    now = time.time() if now is None else now
    result = conn.execute(
        insert(jobs).values(
            kind=kind, conversation_key=conversation_key, payload=dict(payload), status=DEAD,
            attempts=0, max_attempts=8, run_at=now, last_error=error[:4000], created_at=now,
            updated_at=now, finished_at=now,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


class Queue:
    """Claim, ack, fail and inspect jobs; one instance is shared by a process's workers."""

    def __init__(
        self,
        engine: Engine,
        *,
        lease_seconds: float = 60.0,
        backoff_base: float = 2.0,
        backoff_max: float = 900.0,
        clock: Clock = time.time,
    ) -> None:
        self.engine = engine
        self.lease_seconds = lease_seconds
        self.clock = clock
        self._wait = wait_random_exponential(multiplier=backoff_base, max=backoff_max)
        self._skip_locked = not is_sqlite(engine)

    # -- producing ---------------------------------------------------------------------------

    def enqueue(
        self, kind: str, payload: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> int | None:
        """Queue a job in its own transaction (for callers without one)."""
        with self.engine.begin() as conn:
            return enqueue(conn, kind, payload, now=self.clock(), **kwargs)

    # -- consuming ---------------------------------------------------------------------------

    def claim(self, worker_id: str, *, kinds: Iterable[str] | None = None) -> Job | None:
        """Lease the next runnable job, or None."""
        now = self.clock()
        older = aliased(jobs)
        blocked = exists().where(
            older.c.conversation_key == jobs.c.conversation_key,
            older.c.id < jobs.c.id,
            older.c.status.in_((READY, RUNNING)),
        )
        free = or_(jobs.c.conversation_key.is_(None), ~blocked)
        # Two queries instead of one OR, so each walks its index in order and stops at the first
        # runnable row; a single ORDER BY over an OR filter evaluates the conversation check on
        # every waiting job first (quadratic on a deep queue).
        expired = (
            select(jobs)
            .where(jobs.c.status == RUNNING, jobs.c.lease_expires_at < now, free)
            .order_by(jobs.c.lease_expires_at)
            .limit(1)
        )
        ready = (
            select(jobs)
            .where(jobs.c.status == READY, jobs.c.run_at <= now, free)
            .order_by(jobs.c.status, jobs.c.run_at, jobs.c.id)
            .limit(1)
        )
        queries = []
        for query in (expired, ready):
            if kinds is not None:
                query = query.where(jobs.c.kind.in_(list(kinds)))
            if self._skip_locked:
                query = query.with_for_update(skip_locked=True, of=jobs)
            queries.append(query)
        token = uuid.uuid4().hex
        with self.engine.begin() as conn:
            row = None
            for query in queries:
                row = conn.execute(query).mappings().first()
                if row is not None:
                    break
            if row is None:
                return None
            expires = now + self.lease_seconds
            conn.execute(
                update(jobs)
                .where(jobs.c.id == row["id"])
                .values(
                    status=RUNNING,
                    attempts=row["attempts"] + 1,
                    lease_token=token,
                    lease_expires_at=expires,
                    locked_by=worker_id,
                    updated_at=now,
                )
            )
        return Job(
            id=row["id"],
            kind=row["kind"],
            conversation_key=row["conversation_key"],
            payload=dict(row["payload"] or {}),
            attempts=row["attempts"] + 1,
            max_attempts=row["max_attempts"],
            lease_token=token,
            lease_expires_at=expires,
        )

    def _owned(self, job: Job, now: float) -> Any:
        return and_(
            jobs.c.id == job.id,
            jobs.c.lease_token == job.lease_token,
            jobs.c.status == RUNNING,
            jobs.c.lease_expires_at >= now,
        )

    def _apply(self, job: Job, values: dict[str, Any]) -> None:
        now = self.clock()
        with self.engine.begin() as conn:
            result = conn.execute(update(jobs).where(self._owned(job, now)).values(updated_at=now,
                                                                                    **values))
        if result.rowcount != 1:
            raise LeaseLost(f"job {job.id}: lease lost (expired or taken by another worker)")

    def ack(self, job: Job) -> None:
        """Mark the job done. Raises LeaseLost when the lease is no longer this worker's."""
        self._apply(job, {"status": DONE, "finished_at": self.clock(), "lease_token": None,
                          "lease_expires_at": None, "last_error": None})

    def extend(self, job: Job, seconds: float | None = None) -> Job:
        """Push the lease out (long calls); returns the job with its new expiry."""
        expires = self.clock() + (seconds or self.lease_seconds)
        self._apply(job, {"lease_expires_at": expires})
        return Job(**{**job.__dict__, "lease_expires_at": expires})

    def backoff(self, attempts: int) -> float:
        return wait_seconds(self._wait, attempts)

    def fail(
        self,
        job: Job,
        error: str,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
    ) -> str:
        """Record a failed attempt: back to ready with a delay, or dead. Returns the new status."""
        now = self.clock()
        if permanent or job.attempts >= job.max_attempts:
            self._apply(job, {"status": DEAD, "last_error": error[:4000], "finished_at": now,
                              "lease_token": None, "lease_expires_at": None})
            return DEAD
        delay = retry_after if retry_after is not None else self.backoff(job.attempts)
        self._apply(job, {"status": READY, "last_error": error[:4000], "run_at": now + delay,
                          "lease_token": None, "lease_expires_at": None, "locked_by": None})
        return READY

    def release(self, job: Job) -> None:
        """Give the job back untouched (shutdown): the attempt does not count."""
        self._apply(job, {"status": READY, "attempts": max(0, job.attempts - 1),
                          "run_at": self.clock(), "lease_token": None, "lease_expires_at": None,
                          "locked_by": None})

    def reschedule(self, job: Job, delay: float) -> None:
        """Run again after ``delay`` without counting an attempt (a rate budget said wait)."""
        self._apply(job, {"status": READY, "attempts": max(0, job.attempts - 1),
                          "run_at": self.clock() + delay, "lease_token": None,
                          "lease_expires_at": None, "locked_by": None})

    # -- inspecting --------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        with reading(self.engine) as conn:
            rows = conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status))
            return {status: int(n) for status, n in rows}

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(jobs).where(jobs.c.status == DEAD).order_by(jobs.c.id).limit(limit)
            ).mappings()
            return [
                DeadLetter(r["id"], r["kind"], r["conversation_key"], dict(r["payload"] or {}),
                           r["attempts"], r["last_error"], r["finished_at"])
                for r in rows
            ]

    def retry_dead(self, ids: Iterable[int] | None = None) -> int:
        """Put dead letters back in the queue (all when ``ids`` is None); returns how many."""
        now = self.clock()
        stmt = update(jobs).where(jobs.c.status == DEAD)
        if ids is not None:
            stmt = stmt.where(jobs.c.id.in_(list(ids)))
        with self.engine.begin() as conn:
            result = conn.execute(stmt.values(status=READY, attempts=0, run_at=now, updated_at=now,
                                              finished_at=None))
        return int(result.rowcount)

    def discard_dead(self, ids: Iterable[int]) -> list[int]:
        """Delete the named dead letters; returns the ids deleted, in order.

        Only dead jobs go: an id that is ready, running, done or unknown is left as it is (and
        missing from the answer), so a stale admin page cannot delete a job that is being
        retried. What the job carried (a held text's message row) stays in its own table.
        """
        wanted = sorted({int(i) for i in ids})
        if not wanted:
            return []
        # One statement (DELETE … RETURNING, SQLite ≥ 3.35 and PostgreSQL): a retry committed
        # in between is either seen (the job stays) or not yet (it was still dead), never half.
        stmt = (jobs.delete().where(jobs.c.status == DEAD, jobs.c.id.in_(wanted))
                .returning(jobs.c.id))
        with self.engine.begin() as conn:
            return sorted(int(i) for i in conn.execute(stmt).scalars())

    def purge_done(self, older_than: float = 7 * 86400) -> int:
        """Delete finished jobs older than ``older_than`` seconds (dead letters are kept)."""
        cutoff = self.clock() - older_than
        with self.engine.begin() as conn:
            result = conn.execute(
                jobs.delete().where(jobs.c.status == DONE, jobs.c.finished_at < cutoff)
            )
        return int(result.rowcount)

    def next_run_at(self) -> float | None:
        with reading(self.engine) as conn:
            return conn.execute(
                select(func.min(jobs.c.run_at)).where(jobs.c.status == READY)
            ).scalar()
