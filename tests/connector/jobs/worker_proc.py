"""A worker process for the multi-process queue tests (run as a script, not collected).

Handlers record each completed run in the ``test_runs`` table so the test can count executions.
"""

from __future__ import annotations

import argparse
import os
import signal
import time

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, insert

from connector.jobs.queue import Queue
from connector.jobs.worker import Worker
from connector.store import make_engine

test_meta = MetaData()
runs = Table(
    "test_runs",
    test_meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, nullable=False),
    Column("conv", String(32)),
    Column("seq", Integer),
    Column("worker", String(64)),
    Column("finished", Float),
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--idle-exit", type=float, default=3.0,
                        help="exit after this many seconds without work")
    args = parser.parse_args()
    engine = make_engine(args.url)
    queue = Queue(engine, lease_seconds=args.lease, backoff_base=0.05, backoff_max=0.2)
    name = f"pid{os.getpid()}"

    def work(job):  # type: ignore[no-untyped-def]
        time.sleep(job.payload.get("sleep", 0))
        with engine.begin() as conn:
            conn.execute(insert(runs).values(job_id=job.id, conv=job.conversation_key,
                                             seq=job.payload.get("seq"), worker=name,
                                             finished=time.time()))

    worker = Worker(queue, {"work": work}, worker_id=name, poll_interval=0.02)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    idle_since = time.monotonic()
    while not worker.stopping:
        if worker.run_once():
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > args.idle_exit:
            break
        else:
            time.sleep(0.02)


if __name__ == "__main__":
    main()
