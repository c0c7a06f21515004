"""The queue's contract, on SQLite and PostgreSQL (see conftest.database_url)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from connector.errors import LeaseLost
from connector.jobs.queue import DEAD, DONE, READY, Queue, enqueue
from connector.store import jobs, messages, reading


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(engine, clock) -> Queue:
    return Queue(engine, lease_seconds=30, backoff_base=2, backoff_max=60, clock=clock)


def status_of(engine, job_id: int) -> str:
    with reading(engine) as conn:
        return conn.execute(select(jobs.c.status).where(jobs.c.id == job_id)).scalar_one()


def test_enqueue_commits_with_the_callers_transaction(engine, queue, clock):
    with pytest.raises(RuntimeError), engine.begin() as conn:
        enqueue(conn, "inbound", {"n": 1}, conversation_key="c1", now=clock())
        raise RuntimeError("the caller's transaction fails after enqueueing")
    assert queue.claim("w1") is None  # rolled back together

    with engine.begin() as conn:
        enqueue(conn, "inbound", {"n": 2}, conversation_key="c1", now=clock())
    job = queue.claim("w1")
    assert job is not None and job.payload == {"n": 2}


def test_claim_leases_without_deleting(engine, queue, clock):
    job_id = queue.enqueue("inbound", {"x": 1})
    job = queue.claim("w1")
    assert job is not None and job.id == job_id and job.attempts == 1
    assert queue.claim("w2") is None  # leased to w1
    assert status_of(engine, job_id) == "running"  # still in the table
    queue.ack(job)
    assert status_of(engine, job_id) == DONE


def test_expired_lease_is_claimed_again_and_old_holder_cannot_ack(queue, clock):
    queue.enqueue("inbound", {})
    first = queue.claim("w1")
    assert first is not None
    clock.now += 31  # lease ran out (the worker died or stalled)
    second = queue.claim("w2")
    assert second is not None and second.id == first.id and second.attempts == 2
    with pytest.raises(LeaseLost):
        queue.ack(first)
    with pytest.raises(LeaseLost):
        queue.fail(first, "boom")
    queue.ack(second)


def test_lease_ran_out_but_unclaimed_still_cannot_ack(queue, clock):
    queue.enqueue("inbound", {})
    job = queue.claim("w1")
    clock.now += 31
    with pytest.raises(LeaseLost):
        queue.ack(job)


def test_extend_keeps_the_lease(queue, clock):
    queue.enqueue("inbound", {})
    job = queue.claim("w1")
    clock.now += 25
    job = queue.extend(job)
    clock.now += 25  # 50 s after the claim, 25 after the extension
    assert queue.claim("w2") is None
    queue.ack(job)


def test_retry_backs_off_and_honours_retry_after(engine, queue, clock):
    job_id = queue.enqueue("inbound", {})
    job = queue.claim("w1")
    assert queue.fail(job, "TransientError: 503") == READY
    assert queue.claim("w1") is None  # backing off
    clock.now += 61
    job = queue.claim("w1")
    assert job is not None and job.attempts == 2
    queue.fail(job, "RateLimited: 429", retry_after=120)
    clock.now += 119
    assert queue.claim("w1") is None
    clock.now += 2
    job = queue.claim("w1")
    assert job is not None and job.id == job_id


def test_backoff_grows_with_jitter_and_is_capped(queue):
    first = [queue.backoff(1) for _ in range(200)]
    late = [queue.backoff(10) for _ in range(200)]
    assert max(first) <= 2.0 and len(set(first)) > 10  # jittered
    assert max(late) <= 60.0 and sum(late) / len(late) > sum(first) / len(first)


def test_dead_letter_keeps_error_and_unblocks_conversation(engine, queue, clock):
    bad = queue.enqueue("inbound", {"n": 1}, conversation_key="c1", max_attempts=2)
    good = queue.enqueue("inbound", {"n": 2}, conversation_key="c1")
    job = queue.claim("w1")
    assert job.id == bad
    queue.fail(job, "PermanentError: nope")
    clock.now += 100
    assert queue.claim("w1").id == bad  # the next job of c1 waits behind the retrying one
    job_again = queue.claim("w2")
    assert job_again is None
    # second attempt fails → dead
    with reading(engine) as conn:
        token = conn.execute(select(jobs.c.lease_token).where(jobs.c.id == bad)).scalar_one()
    from connector.jobs.queue import Job

    running = Job(bad, "inbound", "c1", {"n": 1}, 2, 2, token, clock.now + 30)
    assert queue.fail(running, "PermanentError: still nope") == DEAD
    dead = queue.dead_letters()
    assert [d.id for d in dead] == [bad] and "still nope" in dead[0].last_error
    nxt = queue.claim("w1")
    assert nxt is not None and nxt.id == good  # the dead letter does not block c1


def test_permanent_failure_dead_letters_at_once(queue):
    queue.enqueue("inbound", {}, max_attempts=5)
    job = queue.claim("w1")
    assert queue.fail(job, "bad", permanent=True) == DEAD
    assert queue.retry_dead() == 1
    assert queue.claim("w1").attempts == 1


def test_one_job_in_flight_per_conversation_in_order(queue):
    ids = [queue.enqueue("inbound", {"n": i}, conversation_key="c1") for i in range(3)]
    other = queue.enqueue("inbound", {}, conversation_key="c2")
    a = queue.claim("w1")
    b = queue.claim("w2")
    assert a.id == ids[0] and b.id == other  # c1's second job waits for its first
    assert queue.claim("w3") is None
    queue.ack(a)
    assert queue.claim("w3").id == ids[1]


def test_release_does_not_count_an_attempt(queue):
    queue.enqueue("inbound", {})
    job = queue.claim("w1")
    queue.release(job)
    again = queue.claim("w1")
    assert again.attempts == 1


def test_reschedule_waits_without_counting(queue, clock):
    queue.enqueue("inbound", {}, max_attempts=1)
    job = queue.claim("w1")
    queue.reschedule(job, 10)
    assert queue.claim("w1") is None
    clock.now += 10
    assert queue.claim("w1").attempts == 1


def test_coalesce_skips_a_second_waiting_job(queue):
    first = queue.enqueue("outbound", {"t": 1}, conversation_key="ticket:1", coalesce=True)
    assert queue.enqueue("outbound", {"t": 1}, conversation_key="ticket:1", coalesce=True) is None
    job = queue.claim("w1")
    assert job.id == first
    # while it runs, a new event must queue a follow-up job
    assert queue.enqueue("outbound", {"t": 1}, conversation_key="ticket:1", coalesce=True)


def test_kinds_filter_and_counts(queue):
    queue.enqueue("a", {})
    queue.enqueue("b", {})
    job = queue.claim("w", kinds=["b"])
    assert job.kind == "b"
    assert queue.counts() == {"ready": 1, "running": 1}


def test_purge_done_keeps_dead_letters(queue, clock):
    queue.enqueue("a", {})
    queue.ack(queue.claim("w"))
    queue.enqueue("a", {})
    queue.fail(queue.claim("w"), "x", permanent=True)
    clock.now += 8 * 86400
    assert queue.purge_done() == 1
    assert len(queue.dead_letters()) == 1


def test_message_and_job_unique_insert_is_atomic(engine, queue, clock):
    """The inbound webhook's pattern: a duplicate message id rolls back its job too."""
    from sqlalchemy.exc import IntegrityError

    row = dict(provider="twilio", provider_message_id="SM1", from_number="+12025550142",
               to_number="+12025550100", body="hi", media=[], raw={}, received_at=clock.now,
               state="pending")
    with engine.begin() as conn:
        conn.execute(messages.insert().values(**row))
        enqueue(conn, "inbound", {}, conversation_key="c1", now=clock())
    with pytest.raises(IntegrityError), engine.begin() as conn:
        enqueue(conn, "inbound", {}, conversation_key="c1", now=clock())
        conn.execute(messages.insert().values(**row))
    assert queue.counts() == {"ready": 1}


def test_insert_ignore_tells_new_rows_from_duplicates(engine, clock):
    """The dedupe key of every webhook: must hold on PostgreSQL too (rowcount is -1 there)."""
    from connector.store import insert_ignore

    row = dict(provider="twilio", provider_message_id="SM9", from_number="+12025550142",
               to_number="+12025550100", body="hi", media=[], raw={}, received_at=clock.now,
               state="pending")
    with engine.begin() as conn:
        assert insert_ignore(conn, messages, row) is True
        assert insert_ignore(conn, messages, row) is False


def test_writers_of_several_processes_share_one_file(tmp_path):
    """serve + worker (or several gunicorn workers) write to one SQLite file: none is refused."""
    import subprocess
    import sys

    from connector.store import make_engine, schema

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    engine = make_engine(url)
    schema.upgrade(engine)
    script = (
        "import sys\n"
        "from connector.jobs.queue import Queue\n"
        "from connector.store import make_engine\n"
        "q = Queue(make_engine(sys.argv[1]))\n"
        "for i in range(200):\n"
        "    q.enqueue('w', {'i': i}, conversation_key=sys.argv[2])\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, url, f"p{n}"]) for n in range(3)]
    assert [p.wait(120) for p in procs] == [0, 0, 0]
    assert Queue(engine).counts() == {"ready": 600}
    assert (tmp_path / "shared.db-writelock").exists()
    engine.dispose()
