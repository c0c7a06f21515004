"""``Queue.discard_dead``: only dead letters go, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from connector.jobs.queue import DEAD, READY, Queue, dead_letter
from connector.store import jobs, reading


def statuses(engine) -> dict[int, str]:
    with reading(engine) as conn:
        return {int(i): s for i, s in conn.execute(select(jobs.c.id, jobs.c.status))}


def test_discard_deletes_only_the_named_dead_letters(engine):
    queue = Queue(engine, clock=lambda: 1_000.0)
    with engine.begin() as conn:
        first = dead_letter(conn, "inbound", {"n": 1}, "boom", conversation_key="c1", now=1.0)
        second = dead_letter(conn, "inbound", {"n": 2}, "boom", now=1.0)
    ready = queue.enqueue("inbound", {"n": 3})
    assert ready is not None

    assert queue.discard_dead([second, ready, 999_999, second]) == [second]
    assert statuses(engine) == {first: DEAD, ready: READY}
    assert [d.id for d in queue.dead_letters()] == [first]
    assert queue.discard_dead([]) == []


def test_a_retried_dead_letter_is_no_longer_discardable(engine):
    queue = Queue(engine, clock=lambda: 1_000.0)
    with engine.begin() as conn:
        job_id = dead_letter(conn, "outbound", {}, "boom", now=1.0)
    assert queue.retry_dead([job_id]) == 1
    assert queue.discard_dead([job_id]) == []
    assert statuses(engine) == {job_id: READY}
