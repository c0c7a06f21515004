"""Running the connector: gunicorn for HTTP, the queue worker beside it or alone.

``sms-connector serve`` runs gunicorn (gthread) and, unless ``--no-worker`` /
``server.embedded_worker = false``, the queue worker in a process of its own that ``serve``
supervises (connector/serve/supervisor.py). ``sms-connector worker`` runs the worker alone. Under an
outside WSGI server (``gunicorn wsgi:app``) the worker is a thread of each server process
(``EmbeddedWorker``), as it is in the demo's single process.

Wherever a worker runs, the scheduler (connector/jobs/scheduler.py) runs on a thread beside it and
stops with it; its lease row makes one of them active however many workers there are.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import signal
import sys
import threading
from typing import Any

from flask import Flask

from connector.jobs.queue import enqueue
from connector.jobs.scheduler import LEASE_SECONDS, PERIODIC, Scheduler
from connector.jobs.worker import Worker
from connector.runtime import Runtime

log = logging.getLogger("sms_connector.server")
SWITCH_INTERVAL = 0.0005  # seconds a thread may keep the interpreter lock when others wait


def make_scheduler(runtime: Runtime, worker: Worker) -> Scheduler:
    """The scheduler that runs beside ``worker``, waking it when it queues something.

    Only periodic jobs this worker has a handler for are scheduled: a job nobody claims would sit
    in the queue for ever (and keep ``demo`` waiting for an idle queue).
    """
    periodic = {name: spec for name, spec in PERIODIC.items() if spec.kind in worker.handlers}
    tick = runtime.settings.escalation.tick
    # The lease is renewed by ticks once half of it is spent: it must outlast two ticks.
    return Scheduler(runtime.engine, enqueue, runtime.clock, periodic=periodic, interval=tick,
                     lease_seconds=max(LEASE_SECONDS, 3 * tick), notify=worker.wake.set)


class EmbeddedWorker:
    """A queue worker on a daemon thread of this process, and the scheduler on another."""

    def __init__(self, runtime: Runtime) -> None:
        self.worker: Worker = runtime.make_worker()
        self.thread = threading.Thread(target=self.worker.run, name="queue-worker", daemon=True)
        self.scheduler = make_scheduler(runtime, self.worker)

    def start(self) -> EmbeddedWorker:
        self.thread.start()
        self.scheduler.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self.scheduler.stop()
        self.worker.stop()
        self.thread.join(timeout)


def wsgi_app() -> Flask:
    """The app for an outside WSGI server (``gunicorn wsgi:app``), set up as ``serve`` sets it up.

    Settings come from ``SMS_CONNECTOR_CONFIG`` and the environment; SQLite is migrated here.
    The outside server owns the processes, so the queue worker runs as a thread of each one unless
    ``server.embedded_worker = false`` (threads do not survive ``--preload``'s fork). A thread
    shares the interpreter lock with the request threads: for the lowest webhook latency set
    ``embedded_worker = false`` and run ``sms-connector worker`` beside the server, which is what
    ``sms-connector serve`` does by itself.
    """
    from connector.config import load_settings
    from connector.logs import configure_logging
    from connector.web import create_app

    settings = load_settings()
    configure_logging(settings.server.log_level)
    runtime = Runtime(settings)
    runtime.prepare_schema()
    app = create_app(runtime=runtime)
    freeze_heap()  # see run_gunicorn
    if settings.server.embedded_worker:
        sys.setswitchinterval(SWITCH_INTERVAL)  # see run_gunicorn
        app.extensions["sms_connector_worker"] = EmbeddedWorker(runtime).start()
    return app


def run_gunicorn(app: Flask, *, host: str, port: int, threads: int = 8) -> None:
    """gunicorn (gthread, one process) serving ``app``; no queue worker in it (see supervisor)."""
    from gunicorn.app.base import BaseApplication

    def post_worker_init(_worker: Any) -> None:
        # Request threads share one interpreter: a shorter GIL switch interval (default 5 ms)
        # keeps one busy thread from adding milliseconds to another's webhook answer
        # (https://docs.python.org/3/library/sys.html#sys.setswitchinterval).
        sys.setswitchinterval(SWITCH_INTERVAL)
        # Everything imported and built so far lives as long as the process: a full collection
        # pass over it (~100k objects, ~16 ms measured) would land in the middle of a request.
        freeze_heap()

    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": 1,  # one process of request threads: SQLite's single writer likes it that way
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 60,
        "graceful_timeout": 30,
        "accesslog": None,  # requests are logged by the app as JSON lines
        "post_worker_init": post_worker_init,
    }

    class _App(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            return app

    _App().run()


def run_worker(runtime: Runtime) -> None:
    """``sms-connector worker``: one worker loop in the foreground and the scheduler on a thread
    beside it; SIGTERM / SIGINT stop both."""
    worker = runtime.make_worker()
    scheduler = make_scheduler(runtime, worker)

    def _stop(signum: int, _frame: Any) -> None:
        log.info("stopping after the current job", extra={"signal": signum})
        worker.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    freeze_heap()
    scheduler.start()
    try:
        worker.run()
    finally:
        scheduler.stop()  # gives its lease up, so another worker's scheduler takes over at once
        with contextlib.suppress(Exception):  # the last seconds of call counts for /metrics
            runtime.counters.flush()


def freeze_heap() -> None:
    """Keep what the process built at start out of the collector's full passes.

    A full pass walks every object in the heap — in a worker forked from ``serve`` a 70–90 ms
    pause was measured — and if it lands while the worker holds SQLite's write lock, every
    webhook waits for it (https://docs.python.org/3/library/gc.html#gc.freeze).
    """
    gc.collect()
    gc.freeze()
