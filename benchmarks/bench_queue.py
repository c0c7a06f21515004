"""Queue throughput: enqueue + commit, and claim + ack, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_queue.py [--jobs 2000] [--postgres URL]

PostgreSQL is measured when --postgres or SMS_CONNECTOR_TEST_DATABASE_URL names a server (its own
schema, dropped afterwards). Prints a markdown table (jobs/s and per-operation p50 / p99 in ms) and
writes it to benchmarks/results/queue.md. Numbers, not assertions: this machine is shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_stats import pct
from sqlalchemy import text

from connector.jobs.queue import Queue, enqueue
from connector.store import make_engine, schema


def ms(values: list[float], q: float) -> float:
    return pct(values, q) * 1000


def run(url: str, jobs: int, workers: int) -> dict[str, float]:
    engine = make_engine(url)
    schema.upgrade(engine)
    queue = Queue(engine, lease_seconds=30)
    enq: list[float] = []
    started = time.perf_counter()
    for i in range(jobs):
        t0 = time.perf_counter()
        with engine.begin() as conn:
            enqueue(conn, "bench", {"i": i}, conversation_key=f"c{i % 200}")
        enq.append(time.perf_counter() - t0)
    enqueue_s = time.perf_counter() - started

    claim_ack: list[float] = []
    lock = threading.Lock()

    def drain(name: str) -> None:
        while True:
            t0 = time.perf_counter()
            job = queue.claim(name)
            if job is None:
                return
            queue.ack(job)
            with lock:
                claim_ack.append(time.perf_counter() - t0)

    started = time.perf_counter()
    threads = [threading.Thread(target=drain, args=(f"w{n}",)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    drain_s = time.perf_counter() - started
    engine.dispose()
    return {
        "enqueue_per_s": jobs / enqueue_s,
        "enqueue_p50": ms(enq, 0.5),
        "enqueue_p99": ms(enq, 0.99),
        "claim_ack_per_s": len(claim_ack) / drain_s,
        "claim_ack_p50": ms(claim_ack, 0.5),
        "claim_ack_p99": ms(claim_ack, 0.99),
        "done": len(claim_ack),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--postgres", default=os.environ.get("SMS_CONNECTOR_TEST_DATABASE_URL"))
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite (WAL file)"] = run(f"sqlite:///{tmp}/bench.db", args.jobs, args.workers)
    if args.postgres:
        name = f"smsc_bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(args.postgres)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        sep = "&" if "?" in args.postgres else "?"
        try:
            results["PostgreSQL"] = run(f"{args.postgres}{sep}options=-csearch_path%3D{name}",
                                        args.jobs, args.workers)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
            admin.dispose()
    lines = [
        f"Queue throughput: {args.jobs} jobs, 200 conversations, {args.workers} claiming threads "
        f"(`.venv/bin/python benchmarks/bench_queue.py --jobs {args.jobs}`), "
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores.",
        "",
        "| database | enqueue+commit jobs/s | enqueue p50 ms | enqueue p99 ms "
        "| claim+ack jobs/s | claim+ack p50 ms | claim+ack p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        assert r["done"] == args.jobs, f"{name}: {r['done']} of {args.jobs} jobs done"
        lines.append(
            f"| {name} | {r['enqueue_per_s']:.0f} | {r['enqueue_p50']:.2f} | "
            f"{r['enqueue_p99']:.2f} | {r['claim_ack_per_s']:.0f} | {r['claim_ack_p50']:.2f} | "
            f"{r['claim_ack_p99']:.2f} |"
        )
    if len(results) == 2:
        s, p = results["SQLite (WAL file)"], results["PostgreSQL"]
        lines += ["", f"Ratio SQLite / PostgreSQL: enqueue {s['enqueue_per_s'] / p['enqueue_per_s']:.2f}×,"
                  f" claim+ack {s['claim_ack_per_s'] / p['claim_ack_per_s']:.2f}×."]
    table = "\n".join(lines)
    print(table)
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    (out / "queue.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
