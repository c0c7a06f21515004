"""Inbound SMS → helpdesk: API calls per message, text → acknowledgement latency, webhook latency.

    .venv/bin/python benchmarks/bench_inbound.py [--helpdesk zendesk|freshdesk] [--latency-ms 100]
        [--customers 30] [--seconds 10] [--runs 3] [--layouts serve,serve+worker,wsgi-thread]
        [--calls-only]

Against the sandbox with ``--latency-ms`` on every helpdesk and Twilio call, embedded SQLite:

1. Helpdesk API calls per inbound message (connector in this process, its client's call counter):
   a new customer, a returning customer's new ticket, a follow-up, a burst of 5 texts in < 1 s.
2. text → acknowledgement on the handset, p50 / p99, one new customer at a time.
3. webhook answer latency p50 / p99 at 50 and 200 requests/s, worker running and the sandbox at
   the same latency, for each way of running the connector (``--layouts``): ``sms-connector
   serve`` (its queue worker in a process of its own), ``serve --no-worker`` + ``worker``, and an
   outside gunicorn whose queue worker is a thread. Pre-signed requests from a paced client in
   its own process (load_client.py; open loop: latency counts from each request's scheduled
   start); several interleaved runs, pooled.

Writes benchmarks/results/inbound.md. Measures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests
from bench_stats import pct
from sqlalchemy import func, select

from connector.sandbox.runner import send_text, sms_tickets, start_sandbox
from connector.sandbox.signing import twilio_signature
from connector.sandbox.stack import (
    SUPPORT_NUMBER,
    connector_process,
    free_port,
    sandbox_config,
    start_connector,
    wait_for,
)
from connector.store import jobs, reading


def idle(runtime) -> bool:  # type: ignore[no-untyped-def]
    with reading(runtime.engine) as conn:
        return conn.execute(select(func.count()).select_from(jobs)
                            .where(jobs.c.status.in_(("ready", "running")))).scalar_one() == 0


def wait(predicate):  # type: ignore[no-untyped-def]
    return wait_for(predicate, timeout=60.0, interval=0.005)


def calls_and_ack(latency_ms: int, customers: int, tmp: str,
                  helpdesk: str) -> tuple[dict[str, float], list[float]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sandbox = start_sandbox(helpdesk=helpdesk, helpdesk_port=0, twilio_port=0, connector_url=url,
                            latency_ms=latency_ms)
    connector = start_connector(sandbox_config(sandbox, connector_url=url,
                                               database_url=f"sqlite:///{tmp}/calls.db"), port)
    runtime, twilio = connector.runtime, sandbox.twilio
    counter = runtime.helpdesk.calls

    def measure(action) -> int:  # type: ignore[no-untyped-def]
        before = counter["total"]
        action()
        wait(lambda: idle(runtime))
        return counter["total"] - before

    def handset(phone: str) -> list:  # type: ignore[type-arg]
        with twilio.lock:
            return list(twilio.handsets.get(phone, []))

    try:
        figures: dict[str, float] = {}
        acks: list[float] = []
        new_calls = []
        for i in range(customers):
            phone = f"+1202555{1000 + i:04d}"
            started = time.perf_counter()
            new_calls.append(measure(lambda p=phone: send_text(
                sandbox.twilio_url, p, "hi, my order #4411 has not arrived", SUPPORT_NUMBER)))
            wait(lambda p=phone: handset(p))
            acks.append(time.perf_counter() - started)
        # Acknowledgement latency on its own (the loop above waits for the job too).
        ack_only = []
        for i in range(customers):
            phone = f"+1312555{1000 + i:04d}"
            started = time.perf_counter()
            send_text(sandbox.twilio_url, phone, "internet down since this morning", SUPPORT_NUMBER)
            wait(lambda p=phone: handset(p))
            ack_only.append(time.perf_counter() - started)
            wait(lambda: idle(runtime))
        figures["new customer"] = statistics.mean(new_calls)
        phone = "+12025551000"
        figures["follow-up"] = measure(lambda: send_text(sandbox.twilio_url, phone,
                                                         "any news?", SUPPORT_NUMBER))
        burst_total = measure(lambda: [send_text(sandbox.twilio_url, phone, f"burst {n}",
                                                 SUPPORT_NUMBER) for n in range(5)])
        figures["burst of 5 texts (existing ticket): calls"] = burst_total
        fresh = "+14155550100"
        before_new_burst = counter["total"]
        for n in range(5):
            send_text(sandbox.twilio_url, fresh, f"new customer burst {n}", SUPPORT_NUMBER)
        wait(lambda: idle(runtime))
        figures["burst of 5 texts (new customer): calls"] = counter["total"] - before_new_burst
        # A returning customer: their ticket is closed, they write again → a new ticket. Closed
        # as an agent closes it (the helpdesk's rules run; Freshdesk's tells the connector).
        state = requests.get(sandbox.helpdesk_url + "/_sandbox/state", timeout=10).json()
        for ticket in sms_tickets(state, helpdesk):
            requests.post(f"{sandbox.helpdesk_url}/_sandbox/tickets/{ticket['id']}/status",
                          json={"status": "closed"}, timeout=10).raise_for_status()
        requests.post(sandbox.helpdesk_url + "/_sandbox/flush", json={}, timeout=30)
        wait(lambda: idle(runtime))
        with runtime.engine.begin() as conn:
            from connector.store import conversations

            conn.execute(conversations.update().values(ticket_status="closed"))
        figures["returning customer, new ticket"] = measure(lambda: send_text(
            sandbox.twilio_url, "+12025551001", "back again: billing question", SUPPORT_NUMBER))
        return figures, ack_only
    finally:
        connector.stop()
        sandbox.stop()


def ack_latency_serve(latency_ms: int, customers: int, tmp: str,
                      helpdesk: str = "zendesk") -> list[float]:
    """text → acknowledgement with ``sms-connector serve`` in its own processes: the webhook
    wakes the worker process through its pipe (the handset is polled every 5 ms)."""
    path = Path(tmp) / "ack-serve"
    path.mkdir()
    acks = []
    with connector_process(path, latency_ms=latency_ms, helpdesk=helpdesk) as stack:
        for i in range(customers):
            phone = f"+1415555{2000 + i:04d}"
            started = time.perf_counter()
            send_text(stack.sandbox.twilio_url, phone, "internet down since this morning",
                      SUPPORT_NUMBER)
            wait_for(lambda p=phone: stack.handset(p), timeout=60.0, interval=0.005)
            acks.append(time.perf_counter() - started)
    return acks


LAYOUT_NAMES = {
    "serve": "`serve` (queue worker in its own process)",
    "serve+worker": "`serve --no-worker` + `worker`",
    "wsgi-thread": "`gunicorn connector.serve.server:wsgi_app()` (queue worker thread)",
}


def webhook_latency(rate: int, seconds: float, warmup: float, tmp: str, layout: str,
                    latency_ms: int, run: int, extra: dict[str, Any] | None = None,
                    helpdesk: str = "zendesk") -> tuple[list[float], int]:
    """Signed webhooks at a fixed rate from a separate client process (load_client.py); the
    first ``warmup`` seconds of requests (cold threads, connections, statement cache) are sent
    but not counted."""
    import json
    import subprocess

    path = Path(tmp) / f"{layout}-{rate}-{run}"
    path.mkdir()
    with connector_process(path, layout=layout, latency_ms=latency_ms, extra=extra,
                           helpdesk=helpdesk) as stack:
        url = stack.connector_url + "/webhooks/sms/twilio"
        token = stack.config["twilio"]["auth_token"]
        requests_ = []
        for n in range(int(rate * (warmup + seconds))):
            params = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": "AC" + "0" * 32,
                      "From": f"+1646555{n % 50:04d}", "To": SUPPORT_NUMBER,
                      "Body": f"load test text {n}", "NumMedia": "0"}
            requests_.append({"body": urlencode(params), "headers": {
                "X-Twilio-Signature": twilio_signature(token, url, params),
                "Content-Type": "application/x-www-form-urlencoded"}})
        spec = path / "requests.json"
        spec.write_text(json.dumps({"url": url, "requests": requests_,
                                    "warmup": int(rate * warmup)}))
        client = Path(__file__).with_name("load_client.py")
        out = subprocess.run([sys.executable, str(client), str(spec), str(rate)],
                             capture_output=True, text=True, check=True,
                             timeout=warmup + seconds + 120)
        results = json.loads(out.stdout)
    return [latency for latency, _ in results], sum(1 for _, status in results if status != 200)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--helpdesk", choices=("zendesk", "freshdesk"), default="zendesk")
    parser.add_argument("--calls-only", action="store_true",
                        help="only the API calls and acknowledgement latency (no webhook load)")
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--customers", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup-seconds", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3, help="webhook runs per layout and rate")
    parser.add_argument("--layouts", default=",".join(LAYOUT_NAMES))
    parser.add_argument("--worker-niceness", type=int, default=None,
                        help="server.worker_niceness for `serve` (default: the config's)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results") / "inbound.md"))
    args = parser.parse_args()
    layouts = args.layouts.split(",")
    extra = ({"server": {"worker_niceness": args.worker_niceness}}
             if args.worker_niceness is not None else None)
    loads: dict[tuple[str, int], list[tuple[list[float], int]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        figures, acks = calls_and_ack(args.latency_ms, args.customers, tmp, args.helpdesk)
        serve_acks = ack_latency_serve(args.latency_ms, args.customers, tmp, args.helpdesk)
        # Interleaved, so a noisy minute on a shared machine lands on every layout alike.
        for run in range(0 if args.calls_only else args.runs):
            for layout in layouts:
                for rate in (50, 200):
                    loads.setdefault((layout, rate), []).append(webhook_latency(
                        rate, args.seconds, args.warmup_seconds, tmp, layout, args.latency_ms,
                        run, extra, args.helpdesk))
    ms = [a * 1000 for a in acks]
    serve_ms = [a * 1000 for a in serve_acks]
    name = args.helpdesk.capitalize()
    # The targets per helpdesk (Freshdesk needs a contact lookup first: no upsert).
    targets = {"zendesk": ("≤ 2", "1"), "freshdesk": ("≤ 3", "≤ 2")}[args.helpdesk]
    lines = [
        f"Inbound benchmark (`.venv/bin/python benchmarks/bench_inbound.py --helpdesk "
        f"{args.helpdesk} --latency-ms {args.latency_ms} --customers {args.customers} "
        f"--seconds {args.seconds:g} --runs {args.runs}"
        f"{' --calls-only' if args.calls_only else ''}`), "
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, sandbox latency "
        f"{args.latency_ms} ms per {name} / Twilio call, SQLite, worker running.",
        "",
        f"| {name} API calls | measured | target |",
        "|---|---|---|",
        f"| new customer (mean of {args.customers}) | {figures['new customer']:.2f} | "
        f"{targets[0]} |",
        f"| returning customer's new ticket | {figures['returning customer, new ticket']:.0f} | "
        f"{targets[1]} |",
        f"| follow-up text | {figures['follow-up']:.0f} | 1 |",
        f"| burst of 5 texts in < 1 s, existing ticket: all calls | "
        f"{figures['burst of 5 texts (existing ticket): calls']:.0f} | ≤ 2 |",
        f"| burst of 5 texts in < 1 s, new customer: all calls | "
        f"{figures['burst of 5 texts (new customer): calls']:.0f} | |",
        "",
        "| latency | p50 ms | p99 ms | n |",
        "|---|---|---|---|",
        f"| text → acknowledgement on the handset (connector in this process, worker thread) "
        f"| {pct(ms, 0.5):.0f} | {pct(ms, 0.99):.0f} | {len(ms)} |",
        f"| text → acknowledgement on the handset (`serve`: webhook wakes the worker process) "
        f"| {pct(serve_ms, 0.5):.0f} | {pct(serve_ms, 0.99):.0f} | {len(serve_ms)} |",
    ]
    lines += [
        "",
        f"Webhook answer latency: signed webhooks at a fixed rate from a paced client in its own "
        f"process (open loop, from each request's scheduled start), 50 senders, sandbox latency "
        f"{args.latency_ms} ms, SQLite; {args.runs} runs of {args.seconds:g} s per row, pooled, "
        f"after {args.warmup_seconds:g} s of uncounted warm-up each. Target: p99 ≤ 10 ms.",
        "",
        "| layout | req/s | p50 ms | p90 ms | p99 ms | p99 of each run | non-200 | n |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (layout, rate), runs in loads.items():
        pooled = [x * 1000 for lat, _ in runs for x in lat]
        each = ", ".join(f"{pct([x * 1000 for x in lat], 0.99):.1f}" for lat, _ in runs)
        errors = sum(e for _, e in runs)
        lines.append(f"| {LAYOUT_NAMES[layout]} | {rate} | {pct(pooled, 0.5):.1f} | "
                     f"{pct(pooled, 0.9):.1f} | {pct(pooled, 0.99):.1f} | {each} | {errors} | "
                     f"{len(pooled)} |")
    table = "\n".join(lines)
    print(table)
    out = Path(args.out)
    out.parent.mkdir(exist_ok=True)
    out.write_text(table + "\n")


if __name__ == "__main__":
    main()
