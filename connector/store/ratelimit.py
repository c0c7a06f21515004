"""A helpdesk rate budget shared by every worker process, kept in the connector's database.

Each helpdesk adapter says how its vendor counts (``HelpdeskAdapter.rate_limits``: Zendesk counts
per account per minute, and Update Ticket separately). Each class is a fixed window row in
``rate_windows``; taking a call is one UPDATE. A spent budget or a 429's ``Retry-After`` raises
:class:`~connector.errors.RateLimited`, which the worker turns into a rescheduled job — no worker
ever sleeps on a limit, and one account's pause does not hold up jobs that need no call to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from connector.errors import RateLimited
from connector.ports import Limit
from connector.store import rate_windows


class DbRateBudget:
    """Implements ``connector.ports.RateBudget`` for one helpdesk account."""

    def __init__(
        self,
        engine: Engine,
        account: str,
        limits: dict[str, Limit],
        *,
        keyed_limits: dict[str, Limit] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.account = account
        self.limits = limits
        self.keyed_limits = keyed_limits or {}
        self.clock = clock

    def before_call(self, endpoint_class: str, key: str | None = None) -> None:
        checks = []
        if endpoint_class in self.limits:
            checks.append((f"{self.account}:{endpoint_class}", self.limits[endpoint_class]))
        if key is not None and endpoint_class in self.keyed_limits:
            checks.append((f"{self.account}:{endpoint_class}:{key}",
                           self.keyed_limits[endpoint_class]))
        for row_key, limit in checks:
            self._take(row_key, limit)

    def record_retry_after(self, endpoint_class: str, seconds: float,
                           key: str | None = None) -> None:
        row_key = f"{self.account}:{endpoint_class}" + (f":{key}" if key else "")
        until = self.clock() + max(0.0, seconds)
        with self.engine.begin() as conn:
            updated = conn.execute(
                update(rate_windows).where(rate_windows.c.key == row_key)
                .values(blocked_until=until)
            ).rowcount
            if not updated:
                conn.execute(insert(rate_windows).values(key=row_key, window_start=self.clock(),
                                                         count=0, blocked_until=until))

    def _take(self, row_key: str, limit: Limit) -> None:
        now = self.clock()
        for _ in range(2):
            try:
                with self.engine.begin() as conn:
                    row = conn.execute(
                        select(rate_windows).where(rate_windows.c.key == row_key).with_for_update()
                    ).mappings().first()
                    if row is None:
                        conn.execute(insert(rate_windows).values(key=row_key, window_start=now,
                                                                 count=1, blocked_until=0.0))
                        return
                    if row["blocked_until"] > now:
                        raise RateLimited(f"{row_key}: paused by Retry-After",
                                          retry_after=row["blocked_until"] - now)
                    start, count = row["window_start"], row["count"]
                    if now - start >= limit.window_seconds:
                        start, count = now, 0
                    if count >= limit.calls:
                        raise RateLimited(f"{row_key}: {limit.calls} calls per "
                                          f"{limit.window_seconds:.0f}s used",
                                          retry_after=start + limit.window_seconds - now)
                    conn.execute(update(rate_windows).where(rate_windows.c.key == row_key)
                                 .values(window_start=start, count=count + 1))
                    return
            except IntegrityError:  # another process created the row first: read it again
                continue


__all__ = ["DbRateBudget", "Limit"]
