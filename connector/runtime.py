"""What one connector process holds: settings, the database, the queue and the worker wake-up.

Built once from validated settings and shared by the web app, the queue worker and the CLI, so a
web request that enqueues can wake the worker at once (a thread here, or ``serve``'s worker
process through a pipe: connector/jobs/wakeup.py) instead of waiting for its poll.
"""

from __future__ import annotations

import threading
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, text

from connector.config import Settings
from connector.jobs.queue import Queue
from connector.jobs.wakeup import Wake
from connector.store import checkpoint, is_sqlite, make_engine, reading, schema

if TYPE_CHECKING:
    from adapters.helpdesk.zendesk import ZendeskClient
    from adapters.sms.twilio import TwilioClient
    from connector.jobs.worker import Worker
    from mappings.policy import Policy


class Runtime:
    def __init__(self, settings: Settings, *, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings.database.url,
                                            pool_size=settings.database.pool_size)
        self.queue = Queue(
            self.engine,
            lease_seconds=settings.queue.lease_seconds,
            backoff_base=settings.queue.backoff_base_seconds,
            backoff_max=settings.queue.backoff_max_seconds,
        )
        # A thread's Event; connector/serve/supervisor.py swaps in a PipeWake before it forks.
        self.wake: Wake = threading.Event()
        self._schema_current = False
        self._next_purge = 0.0
        self.extras: dict[str, Any] = {}

    @property
    def sqlite(self) -> bool:
        return is_sqlite(self.engine)

    def prepare_schema(self) -> None:
        """SQLite: migrate at start. PostgreSQL: leave it to ``db upgrade`` (readyz tells)."""
        if self.sqlite:
            schema.upgrade(self.engine)

    def schema_current(self) -> bool:
        if not self._schema_current:
            self._schema_current = schema.is_current(self.engine)
        return self._schema_current

    def database_ok(self) -> bool:
        with reading(self.engine) as conn:
            conn.execute(text("SELECT 1"))
        return True

    @cached_property
    def policy(self) -> Policy:
        from mappings.policy import load_policy

        return load_policy(self.settings.policy.pack or None)

    @cached_property
    def helpdesk(self) -> ZendeskClient:
        """The helpdesk client of the worker (one per process; web requests never use it)."""
        from adapters.helpdesk.zendesk import ZendeskClient
        from connector.store.ratelimit import zendesk_budget

        zd = self.settings.zendesk
        self.settings.require("zendesk.email", "zendesk.api_token")
        return ZendeskClient(zd.effective_base_url, zd.email, zd.api_token, timeout=zd.timeout,
                             budget=zendesk_budget(self.engine, zd))

    @cached_property
    def sms(self) -> TwilioClient:
        from adapters.sms.twilio import TwilioClient

        tw = self.settings.twilio
        self.settings.require("twilio.account_sid", "twilio.auth_token")
        return TwilioClient(tw.account_sid, tw.auth_token, base_url=tw.base_url,
                            timeout=tw.timeout)

    def public_url(self, path: str) -> str:
        return self.settings.server.public_url.rstrip("/") + path

    @cached_property
    def handlers(self) -> dict[str, Any]:
        from connector.pipeline import build_handlers

        return build_handlers(self)

    def make_worker(self, **kwargs: Any) -> Worker:
        from connector.jobs.worker import Worker

        return Worker(
            self.queue,
            self.handlers,
            poll_interval=self.settings.queue.poll_interval_seconds,
            wake=self.wake,
            housekeeping=self.housekeeping,
            **kwargs,
        )

    def housekeeping(self) -> None:
        """Every few seconds, from a worker: fold SQLite's WAL back into the database (web
        requests never do: see store._sqlite_setup) and forget finished jobs after a week."""
        if self.sqlite:
            checkpoint(self.engine)
        now = time.time()
        if now >= self._next_purge:
            self._next_purge = now + 3600
            self.queue.purge_done()

    def notify(self) -> None:
        """A job was queued: wake the worker (a thread here, or serve's worker process)."""
        self.wake.set()

    def close(self) -> None:
        self.engine.dispose()
