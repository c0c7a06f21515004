"""The scheduler: turns due timers and periodic jobs into queue jobs; the worker runs them.

It runs beside every worker (a thread: connector/serve/server.py), but only the instance holding
the ``scheduler`` lease row does anything, so N worker processes make exactly one active scheduler;
when its process dies the lease runs out and another takes over (model: huey's ``Scheduler``
beside its ``Worker``, https://huey.readthedocs.io/en/latest/consumer.html).

One ``tick()``:

1. hold the lease: renew it when half of it is spent; a non-holder only reads the row and
   tries to take it once it has expired (so idle instances add no writes to SQLite);
2. fire each due timer in a transaction of its own: ``UPDATE timers SET fired_at … WHERE id = ?
   AND fired_at IS NULL`` and, only when that updated the row, enqueue a job of the timer's kind
   with its payload plus ``timer_key`` — so even two schedulers that both believe they hold the
   lease (a paused process, clocks that disagree) never enqueue a timer twice;
3. run the periodic jobs whose time has come, the same way: the next run time is a row in
   ``periodic_runs`` advanced by a guarded UPDATE in the enqueueing transaction, so a restart or
   a second instance does not run them again before their interval is up.

``now`` comes from the injected clock (connector/clock.py) only: a test sets a timer 24 hours
ahead, advances a ``ManualClock`` and calls ``tick()``, without sleeping.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Engine, or_, select, update

from connector.clock import Clock
from connector.jobs.queue import Job
from connector.store import insert_ignore, periodic_runs, reading
from connector.store.timers import (
    acquire_lease,
    current_lease,
    due_timers,
    fire_timer,
    forget_fired,
    release_lease,
    set_job,
)

if TYPE_CHECKING:
    from connector.runtime import Runtime

__all__ = [
    "INTERVAL_SECONDS",
    "LEASE_NAME",
    "LEASE_SECONDS",
    "PERIODIC",
    "PURGE_DONE",
    "Periodic",
    "Scheduler",
    "scheduler_handlers",
]

log = logging.getLogger("sms_connector.scheduler")

# Defaults; ``sms-connector serve`` ticks every ``[escalation] tick`` (15 s unless set: timers
# are minute-level SLA clocks) with a lease of at least three ticks (server.make_scheduler).
# A 30 s lease means a dead scheduler's timers wait at most that long for a successor.
INTERVAL_SECONDS = 1.0
LEASE_SECONDS = 30.0
LEASE_NAME = "scheduler"
BATCH = 100  # timers read per query; a tick keeps reading while whole batches come back
FIRED_TIMERS_KEPT_SECONDS = 30 * 86400  # a fired timer is remembered (set again = no-op) this long

EnqueueFn = Callable[..., "int | None"]  # connector.jobs.queue.enqueue's signature


class Periodic(NamedTuple):
    every: float  # seconds between runs
    kind: str  # the job kind it enqueues
    payload: Mapping[str, Any]


PURGE_DONE = "purge_done"

# name → (interval, job kind, payload): the periodic jobs the scheduler runs.
PERIODIC: dict[str, Periodic] = {
    # Forget finished jobs after a week and fired timers after FIRED_TIMERS_KEPT_SECONDS.
    "purge_done": Periodic(3600.0, PURGE_DONE, {}),
    # Last week's SLA report into [report] weekly_to, once (connector/report/weekly.py).
    "weekly_report": Periodic(3600.0, "weekly_report", {}),
}


class Scheduler:
    def __init__(
        self,
        engine: Engine,
        enqueue: EnqueueFn,
        clock: Clock,
        *,
        holder_id: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
        interval: float = INTERVAL_SECONDS,
        periodic: Mapping[str, Periodic] | None = None,
        lease_name: str = LEASE_NAME,
        batch: int = BATCH,
        notify: Callable[[], None] | None = None,
    ) -> None:
        """``enqueue`` is ``connector.jobs.queue.enqueue`` (it runs in the firing transaction);
        ``notify`` wakes the worker after a tick that queued something."""
        self.engine = engine
        self.enqueue = enqueue
        self.clock = clock
        self.holder_id = holder_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_seconds = lease_seconds
        self.interval = interval
        self.periodic = dict(PERIODIC if periodic is None else periodic)
        self.lease_name = lease_name
        self.batch = batch
        self.notify = notify
        self._lease_expires: float | None = None  # our lease's expiry when we hold it
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def holds_lease(self) -> bool:
        """Whether the last tick found this instance holding the lease."""
        return self._lease_expires is not None

    # -- one pass ----------------------------------------------------------------------------

    def tick(self) -> int:
        """Hold the lease and, if ours, enqueue due timers and periodic jobs; returns how many
        jobs were queued."""
        now = self.clock.now()
        if not self._hold(now):
            return 0
        queued = self._fire_timers(now) + self._run_periodic(now)
        if queued and self.notify is not None:
            self.notify()
        return queued

    def _hold(self, now: float) -> bool:
        if self._lease_expires is not None and now < self._lease_expires - self.lease_seconds / 2:
            return True
        with reading(self.engine) as conn:
            lease = current_lease(conn, self.lease_name, now=now)
        if lease is not None and lease.holder != self.holder_id:
            held = False
        else:
            with self.engine.begin() as conn:
                held = acquire_lease(conn, self.lease_name, self.holder_id,
                                          ttl=self.lease_seconds, now=now)
        if held != self.holds_lease:
            log.info("scheduler lease " + ("taken" if held else "lost"),
                     extra={"holder": self.holder_id, "lease": self.lease_name})
        self._lease_expires = now + self.lease_seconds if held else None
        return held

    def _fire_timers(self, now: float) -> int:
        queued = 0
        while True:
            with reading(self.engine) as conn:
                due = due_timers(conn, now, self.batch)
            fired = 0
            for timer in due:
                try:
                    fired += self._fire(timer.id, now)
                except Exception:  # one bad row must not hold back the timers behind it
                    log.exception("timer failed to fire", extra={"timer_id": timer.id,
                                                                 "kind": timer.kind})
            queued += fired
            # Stop at a short batch, or when another scheduler fired this whole batch first.
            if len(due) < self.batch or not fired:
                return queued
            now = self.clock.now()
            if not self._hold(now):
                return queued

    def _fire(self, timer_id: int, now: float) -> int:
        with self.engine.begin() as conn:
            timer = fire_timer(conn, timer_id, now)
            if timer is None:  # fired by another scheduler, moved later or cancelled meanwhile
                return 0
            job_id = self.enqueue(conn, timer.kind, {**timer.payload, "timer_key": timer.key},
                                  now=now)
            set_job(conn, timer.id, job_id)
        log.info("timer fired", extra={"kind": timer.kind, "key": timer.key, "job_id": job_id,
                                       "late_seconds": round(now - timer.due_at, 3)})
        return 1

    def _run_periodic(self, now: float) -> int:
        if not self.periodic:
            return 0
        with reading(self.engine) as conn:
            rows = {
                row.name: row
                for row in conn.execute(
                    select(periodic_runs).where(periodic_runs.c.name.in_(list(self.periodic)))
                )
            }
        queued = 0
        for name, spec in self.periodic.items():
            row = rows.get(name)
            if row is not None and not _periodic_due(row.next_run_at, row.last_run_at, spec, now):
                continue  # the common case: a read, no write
            with self.engine.begin() as conn:
                if row is None:  # first run ever: due now
                    insert_ignore(conn, periodic_runs,
                                  {"name": name, "next_run_at": now, "last_run_at": None})
                claimed = conn.execute(
                    update(periodic_runs)
                    .where(periodic_runs.c.name == name,
                           or_(periodic_runs.c.next_run_at <= now,
                               periodic_runs.c.last_run_at <= now - spec.every))
                    .values(next_run_at=now + spec.every, last_run_at=now)
                ).rowcount
                if not claimed:  # another scheduler ran it first
                    continue
                # One conversation key per periodic job, coalesced: a stopped worker finds one
                # waiting run when it comes back, not one per interval it missed.
                job_id = self.enqueue(conn, spec.kind, dict(spec.payload),
                                      conversation_key=f"periodic:{name}", coalesce=True, now=now)
            if job_id is not None:
                queued += 1
                log.info("periodic job queued", extra={"periodic": name, "job_id": job_id})
        return queued

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        """Tick every ``interval`` seconds until ``stop()``; then give the lease up."""
        log.info("scheduler started", extra={"holder": self.holder_id})
        try:
            while not self._stop.is_set():
                try:
                    self.tick()
                except Exception:  # the database went away: keep the loop alive, try again
                    log.exception("scheduler tick failed")
                self._stop.wait(self.interval)
        finally:
            self._release()
            log.info("scheduler stopped", extra={"holder": self.holder_id})

    def start(self) -> Scheduler:
        self._thread = threading.Thread(target=self.run, name="scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """End the loop (its last act gives the lease up); ticked by hand, just give it up."""
        self._stop.set()
        if self._thread is None:
            self._release()
        elif self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _release(self) -> None:
        """Hand the lease over at once instead of letting a successor wait for it to expire."""
        if self._lease_expires is None:
            return
        self._lease_expires = None
        try:
            with self.engine.begin() as conn:
                release_lease(conn, self.lease_name, self.holder_id)
        except Exception:
            log.exception("scheduler lease release failed (it will expire)")


def _periodic_due(next_run_at: float, last_run_at: float | None, spec: Periodic,
                  now: float) -> bool:
    # The second test lets a shortened interval take effect without waiting out the old one.
    return next_run_at <= now or (last_run_at is not None and last_run_at <= now - spec.every)


def scheduler_handlers(runtime: Runtime) -> dict[str, Callable[[Job], None]]:
    """The job handlers of the scheduler's own periodic jobs, for the worker's registry."""

    def purge_done(_job: Job) -> None:
        runtime.queue.purge_done()
        with runtime.engine.begin() as conn:
            forget_fired(conn, runtime.queue.clock() - FIRED_TIMERS_KEPT_SECONDS)

    from connector.report.weekly import weekly_handlers  # none unless weekly_to is set

    return {PURGE_DONE: purge_done, **weekly_handlers(runtime)}
