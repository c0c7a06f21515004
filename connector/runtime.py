"""What one connector process holds: settings, the database, the queue, the worker wake-up, and
the adapters built from the registries (``adapters.helpdesk.HELPDESKS`` by ``helpdesk.kind``,
``adapters.sms.PROVIDERS`` by each channel's ``provider``), typed as the ports the pipeline uses.

Built once from validated settings and shared by the web app, the queue worker and the CLI, so a
web request that enqueues can wake the worker at once (a thread here, or ``serve``'s worker
process through a pipe: connector/jobs/wakeup.py) instead of waiting for its poll.
"""

from __future__ import annotations

import contextlib
import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, text

from adapters.helpdesk import HELPDESKS
from adapters.http import call_outcome, set_call_observer
from adapters.sms import PROVIDERS
from connector.clock import Clock, default_clock
from connector.config import ChannelSettings, Settings
from connector.errors import ConfigurationError
from connector.jobs.queue import Queue
from connector.jobs.wakeup import Wake
from connector.store import checkpoint, is_sqlite, make_engine, reading, schema
from connector.store.counters import CounterBuffer

if TYPE_CHECKING:
    from connector.jobs.worker import Worker
    from connector.ports import Helpdesk, SmsProvider
    from mappings.policy import Policy


class Runtime:
    def __init__(self, settings: Settings, *, engine: Engine | None = None,
                 clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or default_clock()
        self._sms: dict[str, SmsProvider] = {}
        self.engine = engine or make_engine(settings.database.url,
                                            pool_size=settings.database.pool_size)
        self.queue = Queue(
            self.engine,
            lease_seconds=settings.queue.lease_seconds,
            backoff_base=settings.queue.backoff_base_seconds,
            backoff_max=settings.queue.backoff_max_seconds,
            clock=self.clock.now,
        )
        # A thread's Event; connector/serve/supervisor.py swaps in a PipeWake before it forks.
        self.wake: Wake = threading.Event()
        self._schema_current = False
        # Outside API calls, counted for /metrics: added up here, written by housekeeping.
        self.counters = CounterBuffer(self.engine, clock=self.clock.now)
        self._observer = self._count_call
        set_call_observer(self._observer)

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
    def enforcers(self) -> dict[tuple[str, str], str]:
        """(rule, scenario id) → who keeps it (``helpdesk`` / ``connector`` / ``both``): the
        coverage table of ``policy plan`` for this helpdesk, worked out once per process."""
        from mappings.coverage import coverage

        return {(row.rule, row.scenario): row.enforced_by
                for row in coverage(self.policy, self.settings.helpdesk.kind) if row.scenario}

    @cached_property
    def helpdesk(self) -> Helpdesk:
        """The helpdesk of the worker (one per process; web requests never call it)."""
        kind = self.settings.helpdesk.kind
        adapter = HELPDESKS[kind]  # the config accepted only registered kinds
        section = self.settings.section(kind)
        self.settings.require(*(f"{kind}.{key}" for key in adapter.required_for_api))
        account, limits, keyed = adapter.rate_limits(section)
        from connector.store.ratelimit import DbRateBudget

        budget = DbRateBudget(self.engine, account, limits, keyed_limits=keyed,
                              clock=self.clock.now) if limits or keyed else None
        helpdesk: Helpdesk = adapter.from_settings(section, budget=budget,
                                                   clock=self.clock.now)
        return helpdesk

    def sms(self, provider: str) -> SmsProvider:
        """The adapter of a registered SMS provider (verifying its webhooks needs no more)."""
        adapter = self._sms.get(provider)
        if adapter is None:
            cls = PROVIDERS.get(provider)
            if cls is None:
                raise ConfigurationError(f"{provider!r} is not a registered SMS provider",
                                         errors={"channels.provider": "not registered"})
            adapter = cls.from_settings(self.settings.section(provider))
            self._sms[provider] = adapter
        return adapter

    @property
    def sms_names(self) -> list[str]:
        """The registered SMS providers, the channels' own first."""
        used = sorted({c.provider for c in self.settings.channels})
        return used + sorted(set(PROVIDERS) - set(used))

    def sms_sender(self, channel: ChannelSettings) -> SmsProvider:
        """The adapter that sends for ``channel``; refuses to start without its credentials."""
        self.settings.require(*(f"{channel.provider}.{key}"
                                for key in PROVIDERS[channel.provider].required_for_api))
        return self.sms(channel.provider)

    def channel(self, channel_key: str) -> ChannelSettings | None:
        return next((c for c in self.settings.channels if c.key == channel_key), None)

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

    def _count_call(self, system: str, status: int | None) -> None:
        outcome = call_outcome(status)
        if system in HELPDESKS:
            self.counters.add("helpdesk_calls", {"helpdesk": system, "outcome": outcome})
        elif system in PROVIDERS:
            self.counters.add("sms_api_calls", {"provider": system, "outcome": outcome})

    def housekeeping(self) -> None:
        """Every few seconds, from a worker: write the calls counted since the last time, fold
        SQLite's WAL back into the database (web requests never do: see store._sqlite_setup).
        Finished jobs are forgotten by the scheduler's hourly ``purge_done`` job
        (connector/jobs/scheduler.py)."""
        try:
            self.counters.flush()
        finally:
            if self.sqlite:
                checkpoint(self.engine)

    def notify(self) -> None:
        """A job was queued: wake the worker (a thread here, or serve's worker process)."""
        self.wake.set()

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing anyway: a few seconds of call counts
            self.counters.flush()                # are not worth a crash
        previous = set_call_observer(None)
        if previous is not self._observer:
            set_call_observer(previous)  # a later runtime's: leave it counting
        self.engine.dispose()
