"""What one ``GET /metrics`` scrape costs on a store with history, embedded SQLite.

    .venv/bin/python benchmarks/bench_metrics.py [--messages 10000] [--scrapes 200]

Seeds a fresh SQLite store with ``--messages`` inbound texts (three providers' worth of states), as
many outbound texts, two finished jobs per text plus a few ready, running, retried and dead ones,
fired escalation timers (one per ten texts), opt-outs and call counters; then scrapes through the
Flask test client (no network) and times each scrape, and each store family's query on its own.

Writes benchmarks/results/metrics.md. Measures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_stats import pct
from sqlalchemy import insert

from connector.config import settings_from_dict
from connector.runtime import Runtime
from connector.store import jobs, messages, opt_outs, outbound, reading, schema, timers_table
from connector.store.counters import add_counts
from connector.web import create_app
from connector.web.metrics import FAMILIES

RESULTS = Path(__file__).with_name("results") / "metrics.md"


def seed(runtime: Runtime, n: int) -> None:
    now = time.time()
    providers = ("twilio", "vonage", "telnyx")
    with runtime.engine.begin() as conn:
        conn.execute(insert(messages), [
            {"provider": providers[i % 3], "provider_message_id": f"SM{i:030d}",
             "channel_key": "+12025550100", "from_number": f"+1202555{i % 10000:04d}",
             "to_number": "+12025550100", "body": "where is my order " * 3, "media": [],
             "raw": {}, "received_at": now - i, "state": ("delivered", "pending", "held")[i % 7 % 3],
             "ticket_id": i // 3} for i in range(n)])
        conn.execute(insert(outbound), [
            {"ticket_id": i // 3, "source": "agent_reply", "source_id": str(i), "part": 1,
             "provider": providers[i % 3], "to_number": f"+1202555{i % 10000:04d}",
             "body": "on its way", "media_urls": [], "send_state": "sent",
             "status": ("delivered", "sent", "failed", None)[i % 4], "created_at": now - i,
             "updated_at": now - i} for i in range(n)])
        kinds = ("inbound", "outbound", "send", "status")
        conn.execute(insert(jobs), [
            {"kind": kinds[i % 4], "payload": {}, "status": "done", "attempts": 1 + (i % 50 == 0),
             "max_attempts": 8, "run_at": now - i, "created_at": now - i, "updated_at": now - i,
             "finished_at": now - i} for i in range(2 * n)])
        conn.execute(insert(jobs), [
            {"kind": kinds[i % 4], "payload": {}, "status": ("ready", "running", "dead")[i % 3],
             "attempts": i % 3, "max_attempts": 8, "run_at": now - i, "created_at": now - i,
             "updated_at": now - i} for i in range(60)])
        conn.execute(insert(timers_table), [
            {"kind": "escalate", "key": f"t{i}", "due_at": now - i, "created_at": now - i,
             "payload": {"rule": ("first_response", "next_reply")[i % 2], "ticket_id": i},
             "fired_at": now - i} for i in range(n // 10)])
        conn.execute(insert(opt_outs), [
            {"phone": f"+1202556{i:04d}", "channel_key": "+12025550100", "opted_out_at": now,
             "source": "keyword"} for i in range(100)])
        add_counts(conn, {("helpdesk_calls", '{"helpdesk":"zendesk","outcome":"ok"}'): 5 * n,
                          ("helpdesk_calls", '{"helpdesk":"zendesk","outcome":"rate_limited"}'): 3,
                          ("sms_api_calls", '{"outcome":"ok","provider":"twilio"}'): n}, now=now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--scrapes", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_from_dict({"zendesk": {"subdomain": "bench"},
                                       "database": {"url": f"sqlite:///{tmp}/bench.db"}})
        runtime = Runtime(settings)
        schema.upgrade(runtime.engine)
        seed(runtime, args.messages)
        http = create_app(runtime=runtime).test_client()
        size = len(http.get("/metrics").get_data())
        scrapes: list[float] = []
        for _ in range(args.scrapes):
            started = time.perf_counter()
            answer = http.get("/metrics")
            scrapes.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200
        per_family: dict[str, list[float]] = {}
        now = time.time()
        for _ in range(args.scrapes):
            for family in FAMILIES:
                started = time.perf_counter()
                with reading(runtime.engine) as conn:
                    list(family(conn, now))
                per_family.setdefault(family.__name__.lstrip("_"), []).append(
                    (time.perf_counter() - started) * 1000)
        runtime.close()
    lines = [
        "# GET /metrics: scrape cost",
        "",
        f"`.venv/bin/python benchmarks/bench_metrics.py --messages {args.messages} "
        f"--scrapes {args.scrapes}`: embedded SQLite, {args.messages} inbound and "
        f"{args.messages} outbound texts, {2 * args.messages + 60} jobs, {args.messages // 10} "
        f"fired timers; Flask test client, no network; {size} bytes of text per scrape.",
        "",
        "| what | p50 ms | p95 ms |",
        "|---|---|---|",
        f"| whole scrape | {pct(scrapes, 0.5):.2f} | {pct(scrapes, 0.95):.2f} |",
    ]
    lines += [f"| {name} (its own connection and query) | {pct(times, 0.5):.2f} | "
              f"{pct(times, 0.95):.2f} |" for name, times in per_family.items()]
    text = "\n".join(lines) + "\n"
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
