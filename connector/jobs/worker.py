"""The worker loop: claim → run the handler → ack, retry or dead-letter.

A heartbeat thread extends the lease while a handler runs, so a long helpdesk call never lets a
second worker take the same job; a worker killed outright simply stops extending, and the job is
claimed again once its lease runs out. SIGTERM (``stop()``) lets the current job finish.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Mapping

from connector.errors import (
    ExternalServiceError,
    LeaseLost,
    PermanentError,
    RateLimited,
    RetryableError,
)
from connector.jobs.queue import DEAD, Job, Queue
from connector.jobs.wakeup import Wake

log = logging.getLogger("sms_connector.worker")
Handler = Callable[[Job], None]


class Reschedule(Exception):
    """Raised by a handler to run the job again after ``delay`` without counting an attempt."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"rescheduled in {delay:.1f}s")
        self.delay = delay


class Worker:
    def __init__(
        self,
        queue: Queue,
        handlers: Mapping[str, Handler],
        *,
        worker_id: str | None = None,
        poll_interval: float = 0.25,
        wake: Wake | None = None,
        on_dead: Callable[[Job, str], None] | None = None,
        housekeeping: Callable[[], None] | None = None,
        housekeeping_every: float = 5.0,
    ) -> None:
        self.queue = queue
        self.handlers = dict(handlers)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.poll_interval = poll_interval
        self.wake: Wake = wake or threading.Event()
        self.on_dead = on_dead
        self.housekeeping = housekeeping
        self.housekeeping_every = housekeeping_every
        self._next_housekeeping = time.monotonic() + housekeeping_every
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        log.info("worker started", extra={"worker": self.worker_id})
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # the database went away: keep the loop alive, try again
                log.exception("worker loop error")
                worked = False
            if self.housekeeping is not None and time.monotonic() >= self._next_housekeeping:
                self._next_housekeeping = time.monotonic() + self.housekeeping_every
                try:
                    self.housekeeping()
                except Exception:
                    log.exception("housekeeping failed")
            if not worked:
                self.wake.wait(self.poll_interval)
                self.wake.clear()
        log.info("worker stopped", extra={"worker": self.worker_id})

    def run_once(self) -> bool:
        """Claim and run one job; False when there was nothing to do."""
        job = self.queue.claim(self.worker_id, kinds=self.handlers)
        if job is None:
            return False
        self._run(job)
        return True

    def _run(self, job: Job) -> None:
        beat_stop = threading.Event()
        holder = {"job": job}
        beat = threading.Thread(target=self._heartbeat, args=(holder, beat_stop), daemon=True)
        beat.start()
        started = time.monotonic()
        try:
            self.handlers[job.kind](job)
        except Reschedule as exc:
            delay = exc.delay
            self._settle(lambda: self.queue.reschedule(holder["job"], delay), job)
        except RateLimited as exc:
            # A spent budget is not the job's fault: wait it out without using up an attempt,
            # so a long 429 storm never turns good messages into dead letters.
            wait = exc.retry_after if exc.retry_after is not None else self.queue.backoff(1)
            log.info("rate limited; rescheduled", extra={"job_id": job.id, "seconds": wait})
            self._settle(lambda: self.queue.reschedule(holder["job"], wait), job)
        except Exception as exc:
            self._failed(holder["job"], exc)
        else:
            self._settle(lambda: self.queue.ack(holder["job"]), job)
        finally:
            beat_stop.set()
            beat.join()
        log.info(
            "job finished",
            extra={"job_id": job.id, "kind": job.kind, "attempt": job.attempts,
                   "ms": round((time.monotonic() - started) * 1000, 1)},
        )

    def _settle(self, action: Callable[[], None], job: Job) -> None:
        try:
            action()
        except LeaseLost:
            log.warning("lease lost before ack; the job will run again", extra={"job_id": job.id})

    def _failed(self, job: Job, exc: Exception) -> None:
        permanent = isinstance(exc, PermanentError) or (
            isinstance(exc, ExternalServiceError) and not exc.retryable
        )
        retry_after = getattr(exc, "retry_after", None)
        if not isinstance(exc, RetryableError | ExternalServiceError):
            retry_after = None
        text = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, RetryableError | PermanentError | ExternalServiceError):
            text += "\n" + "".join(traceback.format_exception(exc)[-3:])
        try:
            status = self.queue.fail(job, text, retry_after=retry_after, permanent=permanent)
        except LeaseLost:
            log.warning("lease lost before fail; the job will run again", extra={"job_id": job.id})
            return
        level = logging.ERROR if status == DEAD else logging.WARNING
        log.log(level, "job failed", extra={"job_id": job.id, "kind": job.kind, "status": status,
                                            "error": text.splitlines()[0]})
        if status == DEAD and self.on_dead is not None:
            self.on_dead(job, text)

    def _heartbeat(self, holder: dict[str, Job], stop: threading.Event) -> None:
        interval = max(0.05, self.queue.lease_seconds / 3)
        while not stop.wait(interval):
            try:
                holder["job"] = self.queue.extend(holder["job"])
            except LeaseLost:
                log.warning("lease lost while running", extra={"job_id": holder["job"].id})
                return
            except Exception:
                log.exception("heartbeat failed")
