"""The scheduler, on SQLite and PostgreSQL (see conftest.database_url): timers fire once, from the
injected clock, with one lease holder; periodic jobs run once per interval across instances."""

from __future__ import annotations

import threading
import time
from collections import Counter
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from connector.clock import ManualClock
from connector.jobs.queue import DONE, Queue, enqueue
from connector.jobs.scheduler import (
    PERIODIC,
    PURGE_DONE,
    Periodic,
    Scheduler,
    scheduler_handlers,
)
from connector.store import jobs, make_engine, reading, timers_table
from connector.store.timers import cancel_timer, current_lease, get_timer, set_timer

T0 = 1_000_000.0
DAY = 24 * 3600


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def make(engine, clock, holder="a", **kwargs) -> Scheduler:
    kwargs.setdefault("periodic", {})
    return Scheduler(engine, enqueue, clock, holder_id=holder, lease_seconds=30, interval=0.01,
                     **kwargs)


def put(engine, clock, kind, key, due_at, payload=None, **kwargs) -> None:
    with engine.begin() as conn:
        set_timer(conn, kind, key, due_at, payload or {}, now=clock.now(), **kwargs)


def queued(engine) -> list[tuple[str, dict]]:
    with reading(engine) as conn:
        rows = conn.execute(select(jobs.c.kind, jobs.c.payload).order_by(jobs.c.id))
        return [(kind, dict(payload)) for kind, payload in rows]


def work_off(engine) -> None:
    """What a worker would do with the queued jobs (periodic ones coalesce while one waits)."""
    with engine.begin() as conn:
        conn.execute(update(jobs).values(status=DONE))


def per_key(engine) -> Counter[str]:
    return Counter(payload.get("timer_key") for _kind, payload in queued(engine))


def test_a_timer_24_hours_ahead_fires_once_when_the_clock_gets_there(engine, clock):
    scheduler = make(engine, clock)
    put(engine, clock, "sla.first_response", "conv:1", clock.now() + DAY, {"ticket": 7})

    assert scheduler.tick() == 0
    clock.advance(DAY - 1)
    assert scheduler.tick() == 0
    assert queued(engine) == []

    clock.advance(1)
    assert scheduler.tick() == 1
    assert queued(engine) == [("sla.first_response", {"ticket": 7, "timer_key": "conv:1"})]
    clock.advance(DAY)
    assert scheduler.tick() == 0  # fired once, never again
    assert len(queued(engine)) == 1

    with reading(engine) as conn:
        timer = get_timer(conn, "sla.first_response", "conv:1")
        job_id = conn.execute(select(jobs.c.id, jobs.c.run_at)).one()
    assert timer.fired_at == T0 + DAY and timer.job_id == job_id.id
    assert job_id.run_at == T0 + DAY  # the job is runnable at the scheduler's "now"


def test_the_queued_job_runs_in_the_worker(engine, clock):
    scheduler = make(engine, clock)
    put(engine, clock, "remind", "conv:1", clock.now() + 60, {"n": 1})
    clock.advance(60)
    scheduler.tick()
    queue = Queue(engine, clock=clock.now)
    job = queue.claim("w1", kinds=["remind"])
    assert job is not None and job.payload == {"n": 1, "timer_key": "conv:1"}
    assert job.conversation_key is None


def test_moved_timer_fires_at_its_new_time_and_cancelled_never(engine, clock):
    scheduler = make(engine, clock)
    put(engine, clock, "remind", "moved", clock.now() + 60)
    put(engine, clock, "remind", "cancelled", clock.now() + 60)
    put(engine, clock, "remind", "moved", clock.now() + 600, {"v": 2})
    with engine.begin() as conn:
        cancel_timer(conn, "remind", "cancelled")

    clock.advance(60)
    assert scheduler.tick() == 0
    clock.advance(540)
    assert scheduler.tick() == 1
    assert queued(engine) == [("remind", {"v": 2, "timer_key": "moved"})]


def test_only_the_lease_holder_fires(engine, clock):
    a, b = make(engine, clock, "a"), make(engine, clock, "b")
    put(engine, clock, "remind", "conv:1", clock.now())
    assert b.tick() == 1 and b.holds_lease
    put(engine, clock, "remind", "conv:2", clock.now())
    assert a.tick() == 0 and not a.holds_lease
    assert b.tick() == 1
    assert per_key(engine) == {"conv:1": 1, "conv:2": 1}


def test_lease_taken_over_when_the_holder_stops_renewing(engine, clock):
    a, b = make(engine, clock, "a"), make(engine, clock, "b")
    a.tick()
    assert a.holds_lease
    put(engine, clock, "remind", "conv:1", clock.now() + 20)

    clock.advance(20)  # a has stopped ticking (paused, killed): its lease still runs
    assert b.tick() == 0 and not b.holds_lease
    clock.advance(10)  # now past a's expiry (30 s)
    assert b.tick() == 1 and b.holds_lease
    with reading(engine) as conn:
        assert current_lease(conn, "scheduler", now=clock.now()).holder == "b"

    assert a.tick() == 0 and not a.holds_lease  # a comes back and finds b in charge
    assert per_key(engine) == {"conv:1": 1}


def test_the_holder_renews_and_keeps_the_lease(engine, clock):
    a, b = make(engine, clock, "a"), make(engine, clock, "b")
    for _ in range(6):  # 6 × 20 s: four lease lengths, renewed half way each time
        a.tick()
        clock.advance(20)
        assert b.tick() == 0 and not b.holds_lease
    assert a.holds_lease


def test_stopping_gives_the_lease_up(engine, clock):
    a, b = make(engine, clock, "a"), make(engine, clock, "b")
    a.start()
    deadline = time.monotonic() + 10
    while not a.holds_lease and time.monotonic() < deadline:
        time.sleep(0.01)
    assert a.holds_lease
    a.stop()
    assert b.tick() == 0 and b.holds_lease  # no waiting for a's 30 s to run out


def _tick_together(schedulers: list[Scheduler]) -> list[int]:
    start = threading.Barrier(len(schedulers))
    counts = [0] * len(schedulers)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        start.wait()
        try:
            for _ in range(3):
                counts[n] += schedulers[n].tick()
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(schedulers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    return counts


@pytest.mark.parametrize("same_lease", [True, False], ids=["one-lease", "both-think-they-hold"])
def test_two_schedulers_enqueue_each_of_200_timers_once(engine, database_url, clock, same_lease):
    """Two schedulers on engines of their own tick at once from two threads. With one lease only
    one of them works; with a lease each (both believe they hold it, as a paused process whose
    lease ran out does) the guarded UPDATE still lets each timer through once."""
    for n in range(200):
        put(engine, clock, "remind", f"conv:{n}", clock.now() + 60, {"n": n})
    clock.advance(60)
    engines = [make_engine(database_url), make_engine(database_url)]
    schedulers = [
        make(engines[n], clock, f"holder-{n}", batch=50,
             lease_name="scheduler" if same_lease else f"scheduler-{n}")
        for n in range(2)
    ]
    try:
        counts = _tick_together(schedulers)
    finally:
        for eng in engines:
            eng.dispose()

    keys = per_key(engine)
    assert len(keys) == 200 and set(keys.values()) == {1}
    assert sum(counts) == 200
    if same_lease:
        assert sorted(s.holds_lease for s in schedulers) == [False, True]
        assert counts[[s.holds_lease for s in schedulers].index(False)] == 0
    with reading(engine) as conn:
        job_ids = conn.execute(select(jobs.c.id)).scalars().all()
        linked = conn.execute(select(timers_table.c.job_id)).scalars().all()
    assert sorted(linked) == sorted(job_ids)


def test_a_periodic_job_runs_once_per_interval_across_instances(engine, clock):
    periodic = {"sweep": Periodic(3600, "sweep", {"deep": True})}
    a, b = make(engine, clock, "a", periodic=periodic), make(engine, clock, "b", periodic=periodic)

    assert a.tick() == 1  # first run ever: at once
    work_off(engine)
    assert b.tick() == 0 and a.tick() == 0
    clock.advance(3599)
    assert a.tick() == 0
    clock.advance(1)
    assert a.tick() == 1
    work_off(engine)

    # a restarts (a new instance, same holder or not): the stored next run time holds
    a.stop()
    a2 = make(engine, clock, "a2", periodic=periodic)
    assert a2.tick() == 0 and a2.holds_lease
    clock.advance(3600)
    assert a2.tick() == 1 and b.tick() == 0
    assert queued(engine) == [("sweep", {"deep": True})] * 3


def test_periodic_runs_once_even_when_both_think_they_hold_the_lease(engine, database_url,
                                                                     clock):
    periodic = {"sweep": Periodic(60, "sweep", {})}
    engines = [make_engine(database_url), make_engine(database_url)]
    schedulers = [make(engines[n], clock, f"h{n}", periodic=periodic, lease_name=f"lease-{n}")
                  for n in range(2)]
    try:
        for _ in range(3):
            assert sum(_tick_together(schedulers)) == 1
            work_off(engine)
            clock.advance(60)
    finally:
        for eng in engines:
            eng.dispose()
    with reading(engine) as conn:
        assert conn.execute(select(jobs.c.conversation_key)).scalars().all() == [
            "periodic:sweep"] * 3


def test_a_stale_read_does_not_run_a_periodic_job_twice(engine, clock, monkeypatch):
    """b read the run time before a advanced it (as two instances ticking at once may): the
    guarded UPDATE in b's transaction, not b's read, decides."""
    periodic = {"sweep": Periodic(60, "sweep", {})}
    a, b = make(engine, clock, "a", periodic=periodic, lease_name="lease-a"), make(
        engine, clock, "b", periodic=periodic, lease_name="lease-b")
    assert a.tick() == 1
    work_off(engine)  # so coalescing cannot hide a second run
    monkeypatch.setattr("connector.jobs.scheduler._periodic_due", lambda *args: True)
    assert b.tick() == 0
    assert len(queued(engine)) == 1


def test_a_periodic_job_nobody_ran_is_not_queued_twice(engine, clock):
    """A worker down for hours finds one waiting run, not one per missed interval."""
    scheduler = make(engine, clock, periodic={"sweep": Periodic(60, "sweep", {})})
    for _ in range(5):
        scheduler.tick()
        clock.advance(60)
    assert len(queued(engine)) == 1


def test_a_shortened_interval_applies_without_waiting_out_the_old_one(engine, clock):
    make(engine, clock, periodic={"sweep": Periodic(3600, "sweep", {})}).tick()
    clock.advance(60)
    faster = make(engine, clock, "b", periodic={"sweep": Periodic(60, "sweep", {})})
    work_off(engine)
    assert faster.tick() == 1


def test_the_thread_fires_due_timers_wakes_the_worker_and_stops_cleanly(engine, clock):
    woken = threading.Event()
    scheduler = make(engine, clock, notify=woken.set)
    put(engine, clock, "remind", "conv:1", clock.now() + DAY)
    scheduler.start()
    assert scheduler.alive
    time.sleep(0.05)
    assert queued(engine) == [] and not woken.is_set()
    clock.advance(DAY)
    assert woken.wait(10)
    assert per_key(engine) == {"conv:1": 1}
    scheduler.stop()
    assert not scheduler.alive
    with reading(engine) as conn:
        assert current_lease(conn, "scheduler", now=clock.now()) is None


def test_a_failing_tick_keeps_the_loop_alive(engine, clock, caplog):
    calls = []

    def flaky_enqueue(conn, kind, payload, **kwargs):
        calls.append(kind)
        if len(calls) == 1:
            raise RuntimeError("database hiccup")
        return enqueue(conn, kind, payload, **kwargs)

    scheduler = Scheduler(engine, flaky_enqueue, clock, holder_id="a", interval=0.01,
                          periodic={})
    put(engine, clock, "remind", "conv:1", clock.now())
    scheduler.start()
    deadline = time.monotonic() + 10
    while not queued(engine) and time.monotonic() < deadline:
        time.sleep(0.01)
    scheduler.stop()
    assert per_key(engine) == {"conv:1": 1}  # the failed attempt rolled back, the retry fired
    assert "timer failed to fire" in caplog.text


def test_purge_done_handler_forgets_old_jobs_and_fired_timers(engine, clock):
    queue = Queue(engine, clock=clock.now)
    runtime = SimpleNamespace(queue=queue, engine=engine)
    handlers = scheduler_handlers(runtime)
    assert set(handlers) == {PURGE_DONE}

    old_job = queue.enqueue("x", {})
    job = queue.claim("w")
    queue.ack(job)
    put(engine, clock, "remind", "old", clock.now())
    scheduler = make(engine, clock)
    scheduler.tick()  # fires "old" (and queues its job)
    clock.advance(31 * DAY)
    put(engine, clock, "remind", "pending", clock.now() + DAY)

    handlers[PURGE_DONE](None)
    with reading(engine) as conn:
        ids = conn.execute(select(jobs.c.id)).scalars().all()
        assert get_timer(conn, "remind", "old") is None
        assert get_timer(conn, "remind", "pending") is not None
    assert old_job not in ids and len(ids) == 1  # the timer's job was never run: kept


def test_the_purge_is_registered_as_an_hourly_periodic_job():
    assert PERIODIC["purge_done"] == Periodic(3600.0, PURGE_DONE, {})


def test_embedded_worker_runs_the_scheduler_beside_it_and_stops_both(tmp_path):
    """connector/serve/server.py: the worker thread and the scheduler thread start and stop
    together; the worker runs what the scheduler queued (a timer and the periodic purge)."""
    from connector.config import settings_from_dict
    from connector.runtime import Runtime
    from connector.sandbox.runner import start_sandbox
    from connector.sandbox.stack import sandbox_config
    from connector.serve.server import EmbeddedWorker

    sandbox = start_sandbox(zendesk_port=0, twilio_port=0)
    data = sandbox_config(sandbox, connector_url="http://127.0.0.1:9",
                          database_url=f"sqlite:///{tmp_path / 'c.db'}")
    runtime = Runtime(settings_from_dict(data))
    try:
        runtime.prepare_schema()
        reminded = threading.Event()
        runtime.handlers = {**runtime.handlers, **scheduler_handlers(runtime),
                            "remind": lambda job: reminded.set()}
        with runtime.engine.begin() as conn:
            set_timer(conn, "remind", "conv:1", time.time(), {}, now=time.time())

        embedded = EmbeddedWorker(runtime).start()
        assert set(embedded.scheduler.periodic) == {"purge_done"}
        assert reminded.wait(10)
        deadline = time.monotonic() + 10
        while runtime.queue.counts() != {"done": 2} and time.monotonic() < deadline:
            time.sleep(0.02)
        assert runtime.queue.counts() == {"done": 2}  # the timer's job and the purge
        embedded.stop()
        assert not embedded.scheduler.alive and not embedded.thread.is_alive()
        with reading(runtime.engine) as conn:
            assert current_lease(conn, "scheduler", now=time.time()) is None
    finally:
        runtime.close()
        sandbox.stop()


def test_periodic_jobs_without_a_handler_are_not_scheduled(tmp_path):
    """Until a worker can run a periodic job's kind, queueing it would leave it waiting for ever."""
    from connector.config import settings_from_dict
    from connector.serve.server import make_scheduler

    settings = settings_from_dict({"zendesk": {"subdomain": "acme"},
                                   "escalation": {"tick": "2s"}})
    runtime = SimpleNamespace(engine=None, clock=ManualClock(T0), settings=settings)
    worker = SimpleNamespace(handlers={"inbound": None}, wake=threading.Event())
    assert make_scheduler(runtime, worker).periodic == {}
    worker.handlers[PURGE_DONE] = None
    scheduler = make_scheduler(runtime, worker)
    assert set(scheduler.periodic) == {"purge_done"}
    assert scheduler.interval == 2.0  # [escalation] tick
