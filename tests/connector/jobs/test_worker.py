"""The worker loop in-process, and real worker processes racing on one database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connector.errors import PermanentError, RateLimited
from connector.jobs.queue import Queue
from connector.jobs.worker import Reschedule, Worker
from connector.store import jobs, reading

from .worker_proc import runs, test_meta

REPO = Path(__file__).resolve().parents[3]


def test_worker_acks_retries_and_dead_letters(engine):
    queue = Queue(engine, lease_seconds=5, backoff_base=0.01, backoff_max=0.01)
    seen: list[str] = []

    def ok(job):
        seen.append("ok")

    def flaky(job):
        if len([s for s in seen if s == "limited"]) < 3:
            seen.append("limited")
            raise RateLimited("429", retry_after=0)  # waits without using an attempt
        assert job.attempts == 1
        seen.append("flaky")

    def broken(job):
        raise PermanentError("cannot ever work")

    def later(job):
        if not job.payload.get("done") and len(seen) < 10:
            seen.append("later")
            raise Reschedule(0)

    worker = Worker(queue, {"ok": ok, "flaky": flaky, "broken": broken, "later": later})
    for kind in ("ok", "flaky", "broken", "later"):
        queue.enqueue(kind, {}, max_attempts=1 if kind == "later" else 3)
    deadline = time.time() + 10
    while time.time() < deadline and queue.counts().get("ready", 0) + queue.counts().get(
        "running", 0
    ):
        worker.run_once()
    counts = queue.counts()
    assert counts.get("done") == 3 and counts.get("dead") == 1
    assert "flaky" in seen and "ok" in seen
    dead = queue.dead_letters()
    assert dead[0].kind == "broken" and "cannot ever work" in dead[0].last_error


def test_unexpected_exception_is_retried_with_traceback(engine):
    queue = Queue(engine, lease_seconds=5, backoff_base=0.01, backoff_max=0.01)

    def boom(job):
        raise KeyError("missing")

    worker = Worker(queue, {"boom": boom})
    queue.enqueue("boom", {}, max_attempts=2)
    worker.run_once()
    time.sleep(0.05)
    worker.run_once()
    [dead] = queue.dead_letters()
    assert "KeyError" in dead.last_error and dead.attempts == 2


def test_heartbeat_keeps_a_long_job_leased(engine):
    queue = Queue(engine, lease_seconds=0.3)
    calls = Counter()

    def slow(job):
        calls["slow"] += 1
        time.sleep(1.0)  # over three leases long

    worker = Worker(queue, {"slow": slow})
    queue.enqueue("slow", {})
    import threading

    t = threading.Thread(target=worker.run_once)
    t.start()
    time.sleep(0.5)
    assert queue.claim("intruder") is None  # still leased thanks to the heartbeat
    t.join()
    assert queue.counts() == {"done": 1} and calls["slow"] == 1


# --- real processes -------------------------------------------------------------------------


def _spawn(url: str, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", "tests.connector.jobs.worker_proc", url, *extra],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def _prepare(engine) -> Queue:
    test_meta.drop_all(engine)
    test_meta.create_all(engine)
    return Queue(engine)


@pytest.mark.slow
def test_sigkill_mid_job_is_retried_after_the_lease(engine, database_url):
    queue = _prepare(engine)
    queue.enqueue("work", {"sleep": 30})  # the first worker will never finish it
    first = _spawn(database_url, "--lease", "1.5", "--idle-exit", "60")
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            if queue.counts().get("running"):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the worker never claimed the job")
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.communicate(timeout=10)
    with engine.begin() as conn:  # make the retried attempt quick
        conn.execute(jobs.update().values(payload={"sleep": 0}))
    second = _spawn(database_url, "--lease", "1.5", "--idle-exit", "2")
    _, err = second.communicate(timeout=60)
    assert second.returncode == 0, err.decode()
    with reading(engine) as conn:
        job = conn.execute(select(jobs)).mappings().one()
        completed = conn.execute(select(func.count()).select_from(runs)).scalar_one()
    assert job["status"] == "done" and job["attempts"] == 2 and completed == 1


def _run_many(engine, url: str, *, total: int, conversations: int, long_every: int,
              workers: int = 4) -> tuple[Counter, dict[str, list[int]]]:
    queue = _prepare(engine)
    with engine.begin() as conn:
        from connector.jobs.queue import enqueue

        for i in range(total):
            conv = f"c{i % conversations}"
            sleep = 1.2 if long_every and i % long_every == 0 else 0.0  # longer than the lease
            enqueue(conn, "work", {"seq": i, "sleep": sleep}, conversation_key=conv)
    procs = [_spawn(url, "--lease", "0.6", "--idle-exit", "3") for _ in range(workers)]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()
    with reading(engine) as conn:
        rows = conn.execute(select(runs).order_by(runs.c.id)).mappings().all()
        left = queue.counts()
    assert left == {"done": total}, left
    per_job = Counter(r["job_id"] for r in rows)
    order: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        order[r["conv"]].append(r["seq"])
    return per_job, order


@pytest.mark.slow
def test_thousand_jobs_four_workers_exactly_once_in_order(engine, database_url):
    if database_url.startswith("sqlite"):
        total, long_every = 300, 100  # the same race, smaller: SQLite serialises writers anyway
    else:
        total, long_every = 1000, 125
    per_job, order = _run_many(engine, database_url, total=total, conversations=50,
                               long_every=long_every)
    assert len(per_job) == total
    assert set(per_job.values()) == {1}, "some job completed twice"
    for conv, seqs in order.items():
        assert seqs == sorted(seqs), f"{conv} ran out of order"
