"""Running the connector: gunicorn for HTTP, plus the queue worker in the same process or alone.

``sms-connector serve`` runs gunicorn (gthread) in-process with the app and, unless
``--no-worker`` / ``server.embedded_worker = false``, a queue worker thread inside the gunicorn
worker process — started after the fork (threads do not survive one) and stopped on SIGTERM after
the current job finishes.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Any

from flask import Flask

from connector.runtime import Runtime
from connector.worker import Worker

log = logging.getLogger("sms_connector.server")


class EmbeddedWorker:
    """A queue worker on a daemon thread of this process."""

    def __init__(self, runtime: Runtime) -> None:
        self.worker: Worker = runtime.make_worker()
        self.thread = threading.Thread(target=self.worker.run, name="queue-worker", daemon=True)

    def start(self) -> EmbeddedWorker:
        self.thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self.worker.stop()
        self.thread.join(timeout)


def wsgi_app() -> Flask:
    """The app for an outside WSGI server (``gunicorn wsgi:app``), set up as ``serve`` sets it up.

    Settings come from ``SMS_CONNECTOR_CONFIG`` and the environment; SQLite is migrated here;
    the queue worker runs in this process unless ``server.embedded_worker = false``. Each gunicorn
    worker process imports this module after the fork, so each gets its own worker thread; with
    ``--preload`` threads would not survive the fork: set ``embedded_worker = false`` and run
    ``sms-connector worker`` instead.
    """
    from connector.config import load_settings
    from connector.logs import configure_logging
    from connector.web import create_app

    settings = load_settings()
    configure_logging(settings.server.log_level)
    runtime = Runtime(settings)
    runtime.prepare_schema()
    app = create_app(runtime=runtime)
    if settings.server.embedded_worker:
        app.extensions["sms_connector_worker"] = EmbeddedWorker(runtime).start()
    return app


def run_gunicorn(app: Flask, runtime: Runtime, *, host: str, port: int, embedded_worker: bool,
                 threads: int = 8) -> None:
    from gunicorn.app.base import BaseApplication

    holder: dict[str, EmbeddedWorker] = {}

    def post_worker_init(_worker: Any) -> None:
        # Webhook threads and the queue worker share one interpreter: a shorter GIL switch
        # interval (default 5 ms) keeps a busy worker thread from adding milliseconds to every
        # webhook answer (https://docs.python.org/3/library/sys.html#sys.setswitchinterval).
        sys.setswitchinterval(0.0005)
        if embedded_worker:
            holder["worker"] = EmbeddedWorker(runtime).start()

    def worker_exit(_server: Any, _worker: Any) -> None:
        if "worker" in holder:
            holder.pop("worker").stop()

    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": 1,  # one process: the embedded worker and SQLite like it that way
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 60,
        "graceful_timeout": 30,
        "accesslog": None,  # requests are logged by the app as JSON lines
        "post_worker_init": post_worker_init,
        "worker_exit": worker_exit,
    }

    class _App(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            return app

    _App().run()


def run_worker(runtime: Runtime) -> None:
    """``sms-connector worker``: one worker loop in the foreground; SIGTERM / SIGINT stop it."""
    worker = runtime.make_worker()

    def _stop(signum: int, _frame: Any) -> None:
        log.info("stopping after the current job", extra={"signal": signum})
        worker.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    worker.run()
