"""``sms-connector serve``'s processes: gunicorn for the webhooks and the queue worker beside it.

    serve (this supervisor: signals, restarts) ─┬─ gunicorn ── its worker process (HTTP)
                                                └─ queue worker

Why a process and not a thread of the web process: threads share one interpreter lock, so every
webhook answer would wait behind the worker's Python work (SQL, JSON, triage, helpdesk calls).
Measured on 2 cores, SQLite, 200 webhooks/s (benchmarks/results/inbound*.md): p99 9.0 ms with a
worker thread against 6.8 ms with a worker process, and 14.1 against 6.7 ms when the worker is
busy all the time (sandbox answering at once).

``server.worker_niceness`` can lower the worker's CPU priority
(https://man7.org/linux/man-pages/man2/nice.2.html). It defaults to 0: on SQLite the worker
holds the database's write lock for a moment in every job, and a niced worker preempted while
holding it makes webhooks wait (priority inversion) — measured worse, not better, on 2 cores.

A webhook still wakes the worker at once: ``Runtime.wake`` becomes a pipe (connector/jobs/wakeup.py)
made before the fork. The worker is restarted with backoff if it dies; when gunicorn exits, the
worker is stopped and ``serve`` exits with gunicorn's status. SIGTERM / SIGINT are passed to both:
gunicorn drains its requests, the worker finishes its job.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

from tenacity import wait_exponential

from connector.jobs.queue import wait_seconds
from connector.jobs.wakeup import PipeWake
from connector.runtime import Runtime
from connector.serve.server import freeze_heap, run_worker

log = logging.getLogger("sms_connector.supervisor")

STOP_GRACE_SECONDS = 40.0  # gunicorn's graceful_timeout (30 s) plus room to exit
STABLE_AFTER_SECONDS = 60.0  # a worker that lived this long starts its restart backoff afresh
_RESTART_WAIT = wait_exponential(multiplier=1, max=30)


def _child_setup(supervisor_pid: int) -> None:
    """In a fresh child: the supervisor's signal handlers are not ours, and on Linux the kernel
    sends this child SIGTERM when the supervisor dies, even by SIGKILL, so a killed ``serve``
    leaves no orphans (https://man7.org/linux/man-pages/man2/prctl.2.html)."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != supervisor_pid:  # it died before prctl took effect
        os._exit(0)


def _run_web(supervisor_pid: int, web: Callable[[], None]) -> None:
    _child_setup(supervisor_pid)
    web()


def _run_worker(supervisor_pid: int, runtime: Runtime, niceness: int) -> None:
    _child_setup(supervisor_pid)
    if niceness:
        os.nice(niceness)
    run_worker(runtime)


class Supervisor:
    def __init__(self, runtime: Runtime, web: Callable[[], None], *, worker_niceness: int) -> None:
        self.runtime = runtime
        self.web_target = web
        self.worker_niceness = worker_niceness
        self._context = multiprocessing.get_context("fork")
        self._stopping = False
        self._children: list[BaseProcess] = []

    def run(self) -> int:
        # Children open their own connections (a pooled SQLite / PostgreSQL connection must
        # never be used on both sides of a fork) and share the pipe that wakes the worker.
        self.runtime.engine.dispose()
        self.runtime.wake = PipeWake()
        freeze_heap()  # before the forks: both children start with the start-up heap frozen
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        web = self._start("web", _run_web, self.web_target)
        worker, started, restarts = self._start_worker(), time.monotonic(), 0
        while True:
            multiprocessing.connection.wait([web.sentinel, worker.sentinel])
            if self._stopping or not web.is_alive():
                break
            if not worker.is_alive():
                lived = time.monotonic() - started
                restarts = 1 if lived >= STABLE_AFTER_SECONDS else restarts + 1
                delay = wait_seconds(_RESTART_WAIT, restarts)
                log.error("queue worker exited; restarting", extra={
                    "exit_code": worker.exitcode, "restart_in_seconds": delay})
                self._children.remove(worker)
                if self._sleep_unless_stopped(delay, web):
                    break
                worker, started = self._start_worker(), time.monotonic()
        return self._stop_all(web)

    # -- processes ---------------------------------------------------------------------------

    def _start(self, name: str, target: Callable[..., None], *args: Any) -> BaseProcess:
        process = self._context.Process(target=target, args=(os.getpid(), *args),
                                        name=f"sms-connector-{name}")
        process.start()
        self._children.append(process)
        return process

    def _start_worker(self) -> BaseProcess:
        return self._start("worker", _run_worker, self.runtime, self.worker_niceness)

    def _sleep_unless_stopped(self, delay: float, web: BaseProcess) -> bool:
        """Wait out a restart delay; True when a signal or gunicorn's exit ended it."""
        deadline = time.monotonic() + delay
        while not self._stopping and web.is_alive():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            multiprocessing.connection.wait([web.sentinel], timeout=left)
        return True

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._stopping = True
        self._signal_children(signal.SIGTERM)

    def _signal_children(self, signum: int) -> None:
        for child in self._children:
            if child.is_alive() and child.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signum)

    def _stop_all(self, web: BaseProcess) -> int:
        self._signal_children(signal.SIGTERM)  # again after a signal: both take it idempotently
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in self._children:
            child.join(max(0.0, deadline - time.monotonic()))
            if child.is_alive():
                log.error("did not stop in time; killing", extra={"process": child.name})
                child.kill()
                child.join(5)
        code = web.exitcode
        if self._stopping:
            return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else int(code or 0)
        log.error("gunicorn exited; stopping the queue worker", extra={"exit_code": code})
        return int(code) if code else 1


def supervise(runtime: Runtime, web: Callable[[], None], *, worker_niceness: int) -> int:
    return Supervisor(runtime, web, worker_niceness=worker_niceness).run()
