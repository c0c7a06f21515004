"""The shared rate budget, on SQLite and PostgreSQL: every worker process takes from one pot."""

from __future__ import annotations

import pytest

from connector.errors import RateLimited
from connector.store.ratelimit import DbRateBudget, Limit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def budget(engine, clock, **limits):
    return DbRateBudget(engine, "zendesk:acme",
                        {"account": Limit(limits.get("account", 3), 60.0),
                         "ticket_update": Limit(limits.get("updates", 100), 60.0)},
                        keyed_limits={"ticket_update": Limit(limits.get("per_ticket", 2), 600.0)},
                        clock=clock)


def test_account_budget_is_spent_then_refills(engine):
    clock = Clock()
    first, second = budget(engine, clock), budget(engine, clock)  # two worker processes
    first.before_call("account")
    second.before_call("account")
    first.before_call("account")
    with pytest.raises(RateLimited) as info:
        second.before_call("account")
    assert 0 < info.value.retry_after <= 60
    clock.now += 60
    second.before_call("account")


def test_per_ticket_update_budget(engine):
    clock = Clock()
    b = budget(engine, clock, account=1000)
    b.before_call("ticket_update", "42")
    b.before_call("ticket_update", "42")
    with pytest.raises(RateLimited) as info:
        b.before_call("ticket_update", "42")
    assert info.value.retry_after == pytest.approx(600)
    b.before_call("ticket_update", "43")  # another ticket is not held up


def test_retry_after_pauses_the_class(engine):
    clock = Clock()
    b = budget(engine, clock, account=1000)
    b.record_retry_after("account", 30)
    with pytest.raises(RateLimited) as info:
        b.before_call("account")
    assert info.value.retry_after == pytest.approx(30)
    clock.now += 31
    b.before_call("account")
