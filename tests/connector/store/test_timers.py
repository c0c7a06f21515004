"""Timers and leases in the store, on SQLite and PostgreSQL (see conftest.database_url)."""

from __future__ import annotations

import threading

import pytest

from connector.store import make_engine, reading
from connector.store.timers import (
    acquire_lease,
    cancel_timer,
    current_lease,
    due_timers,
    fire_timer,
    forget_fired,
    get_timer,
    release_lease,
    renew_lease,
    set_job,
    set_timer,
)

T0 = 1_000_000.0


def put(engine, kind, key, due_at, payload=None, **kwargs) -> bool:
    with engine.begin() as conn:
        return set_timer(conn, kind, key, due_at, payload, now=T0, **kwargs)


def get(engine, kind, key):
    with reading(engine) as conn:
        return get_timer(conn, kind, key)


def due(engine, now, limit=100):
    with reading(engine) as conn:
        return due_timers(conn, now, limit)


def fire(engine, timer_id, now):
    with engine.begin() as conn:
        return fire_timer(conn, timer_id, now)


def test_set_inserts_a_pending_timer(engine):
    assert put(engine, "sla.first_response", "conv:1", T0 + 900, {"ticket": 7})
    timer = get(engine, "sla.first_response", "conv:1")
    assert timer is not None
    assert (timer.due_at, timer.payload, timer.created_at) == (T0 + 900, {"ticket": 7}, T0)
    assert not timer.fired and timer.job_id is None
    assert get(engine, "sla.first_response", "conv:2") is None


def test_setting_again_before_it_fired_moves_it(engine):
    put(engine, "remind", "conv:1", T0 + 60, {"n": 1})
    assert put(engine, "remind", "conv:1", T0 + 600, {"n": 2})
    timer = get(engine, "remind", "conv:1")
    assert (timer.due_at, timer.payload) == (T0 + 600, {"n": 2})
    assert due(engine, T0 + 60) == []  # no longer due at the old time
    assert [t.key for t in due(engine, T0 + 600)] == ["conv:1"]
    # (kind, key) is the identity: the same key of another kind is another timer
    put(engine, "escalate", "conv:1", T0 + 60)
    assert [(t.kind, t.key) for t in due(engine, T0 + 60)] == [("escalate", "conv:1")]


def test_after_it_fired_set_is_a_no_op_unless_rearmed(engine):
    put(engine, "remind", "conv:1", T0 + 60, {"n": 1})
    timer = get(engine, "remind", "conv:1")
    assert fire(engine, timer.id, T0 + 60) is not None

    assert not put(engine, "remind", "conv:1", T0 + 120, {"n": 2})
    fired = get(engine, "remind", "conv:1")
    assert fired.fired_at == T0 + 60 and fired.due_at == T0 + 60 and fired.payload == {"n": 1}
    assert due(engine, T0 + 1000) == []

    assert put(engine, "remind", "conv:1", T0 + 120, {"n": 3}, rearm=True)
    rearmed = get(engine, "remind", "conv:1")
    assert rearmed.id == timer.id and not rearmed.fired and rearmed.due_at == T0 + 120
    assert [t.payload for t in due(engine, T0 + 120)] == [{"n": 3}]


def test_cancel_deletes_it(engine):
    put(engine, "escalate", "conv:1", T0 + 60)
    with engine.begin() as conn:
        assert cancel_timer(conn, "escalate", "conv:1")
        assert not cancel_timer(conn, "escalate", "conv:1")
    assert get(engine, "escalate", "conv:1") is None
    assert due(engine, T0 + 3600) == []
    assert put(engine, "escalate", "conv:1", T0 + 90)  # a cancelled timer can be set afresh


def test_due_timers_earliest_first_limited_and_unfired_only(engine):
    for n, offset in enumerate([30, 10, 20, 40, 3600]):
        put(engine, "remind", f"conv:{n}", T0 + offset)
    assert [t.key for t in due(engine, T0 + 40)] == ["conv:1", "conv:2", "conv:0", "conv:3"]
    assert [t.key for t in due(engine, T0 + 40, limit=2)] == ["conv:1", "conv:2"]
    assert due(engine, T0 + 9) == []
    fire(engine, get(engine, "remind", "conv:1").id, T0 + 40)
    assert [t.key for t in due(engine, T0 + 40, limit=2)] == ["conv:2", "conv:0"]


def test_fire_stamps_a_timer_once_and_only_when_due(engine):
    put(engine, "remind", "conv:1", T0 + 60, {"n": 1})
    timer_id = get(engine, "remind", "conv:1").id
    assert fire(engine, timer_id, T0 + 59) is None  # not due yet (moved later since it was read)
    fired = fire(engine, timer_id, T0 + 61)
    assert fired is not None and fired.fired_at == T0 + 61 and fired.payload == {"n": 1}
    assert fire(engine, timer_id, T0 + 62) is None  # a second scheduler gets nothing
    with engine.begin() as conn:
        set_job(conn, timer_id, 42)
    assert get(engine, "remind", "conv:1").job_id == 42
    assert fire(engine, timer_id + 1000, T0 + 62) is None  # cancelled / unknown


def test_forget_fired_keeps_pending_and_recent(engine):
    put(engine, "remind", "old", T0)
    put(engine, "remind", "recent", T0)
    put(engine, "remind", "pending", T0 + 10**6)
    fire(engine, get(engine, "remind", "old").id, T0 + 10)
    fire(engine, get(engine, "remind", "recent").id, T0 + 500)
    with engine.begin() as conn:
        assert forget_fired(conn, before=T0 + 100) == 1
    assert get(engine, "remind", "old") is None
    assert get(engine, "remind", "recent") is not None
    assert get(engine, "remind", "pending") is not None


def test_lease_one_holder_until_it_expires(engine):
    with engine.begin() as conn:
        assert acquire_lease(conn, "scheduler", "a", ttl=30, now=T0)
        assert not acquire_lease(conn, "scheduler", "b", ttl=30, now=T0 + 10)
        assert acquire_lease(conn, "scheduler", "a", ttl=30, now=T0 + 20)  # renews
        assert not acquire_lease(conn, "scheduler", "b", ttl=30, now=T0 + 49)
        lease = current_lease(conn, "scheduler", now=T0 + 49)
        assert lease is not None and (lease.holder, lease.expires_at) == ("a", T0 + 50)
        # a stopped holder stops renewing: once expired, another takes over
        assert current_lease(conn, "scheduler", now=T0 + 50) is None
        assert acquire_lease(conn, "scheduler", "b", ttl=30, now=T0 + 50)
        assert not renew_lease(conn, "scheduler", "a", ttl=30, now=T0 + 51)
        assert renew_lease(conn, "scheduler", "b", ttl=30, now=T0 + 51)
        assert current_lease(conn, "scheduler", now=T0 + 60).expires_at == T0 + 81
        # other names are other leases
        assert acquire_lease(conn, "other", "a", ttl=30, now=T0 + 60)


def test_release_hands_the_lease_over_at_once(engine):
    with engine.begin() as conn:
        assert acquire_lease(conn, "scheduler", "a", ttl=30, now=T0)
        assert not release_lease(conn, "scheduler", "b")  # not b's to give
        assert not acquire_lease(conn, "scheduler", "b", ttl=30, now=T0 + 1)
        assert release_lease(conn, "scheduler", "a")
        assert current_lease(conn, "scheduler", now=T0 + 1) is None
        assert acquire_lease(conn, "scheduler", "b", ttl=30, now=T0 + 1)
        assert not renew_lease(conn, "scheduler", "a", ttl=30, now=T0 + 2)


def test_concurrent_acquire_has_one_winner(engine, database_url):
    """Contenders on engines of their own, released together: the guarded upsert lets one in."""
    contenders = 8
    engines = [make_engine(database_url) for _ in range(contenders)]
    start = threading.Barrier(contenders)
    won: list[str] = []

    def contend(n: int) -> None:
        holder = f"holder-{n}"
        start.wait()
        with engines[n].begin() as conn:
            if acquire_lease(conn, "scheduler", holder, ttl=30, now=T0):
                won.append(holder)

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for eng in engines:
        eng.dispose()
    assert len(won) == 1
    with reading(engine) as conn:
        assert current_lease(conn, "scheduler", now=T0).holder == won[0]


@pytest.mark.parametrize("rearm", [False, True])
def test_set_timer_is_one_statement_under_concurrency(engine, database_url, rearm):
    """Many writers setting the same timer at once: one row, no unique-violation errors."""
    writers = 8
    engines = [make_engine(database_url) for _ in range(writers)]
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        start.wait()
        try:
            with engines[n].begin() as conn:
                set_timer(conn, "remind", "conv:1", T0 + n, {"n": n}, now=T0, rearm=rearm)
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for eng in engines:
        eng.dispose()
    assert errors == []
    timer = get(engine, "remind", "conv:1")
    assert timer is not None and timer.payload == {"n": int(timer.due_at - T0)}
