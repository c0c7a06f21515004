"""Agent reply → SMS: latency from an agent's reply in Zendesk to the text reaching Twilio.

    .venv/bin/python benchmarks/bench_reply_latency.py [--latency-ms 100] [--replies 60]

Against the sandbox with ``--latency-ms`` on every Zendesk and Twilio API call (both sides),
embedded SQLite, a connector (web + worker) in this process on a real loopback port, its Zendesk
webhook and trigger installed by ``policy apply``. Each reply is posted as an agent in the
sandbox's web UI (``/_sandbox/agent_reply``); the clock stops when the sandbox Twilio has
accepted the message (``POST …/Messages.json`` answered: "reply → provider") and when the handset
shows it ("reply → handset", after the sandbox's simulated carrier). Replies go one at a time,
spread over several customers, and come from the benchmark's agent-reply corpus
(benchmarks/agent_replies/replies.toml) so rendering runs on realistic text.

The path measured: trigger → signed webhook → verify + enqueue → worker: one ``list_comments``
(one Zendesk call) → render → queue → ``send_sms`` (one Twilio call). With 100 ms per call the
floor is about 200 ms.

Writes benchmarks/results/reply_latency.md. Measures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests
from bench_stats import pct
from sqlalchemy import func, select

from connector.sandbox.runner import send_text, start_sandbox
from connector.sandbox.stack import (
    SUPPORT_NUMBER,
    free_port,
    sandbox_config,
    start_connector,
    wait_for,
)
from connector.store import jobs, reading
from connector.sync.policy import apply

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "reply_latency.md"
CORPUS = HERE / "agent_replies" / "replies.toml"


def wait(predicate):  # type: ignore[no-untyped-def]
    return wait_for(predicate, timeout=30.0, interval=0.002)


def corpus() -> list[dict[str, str]]:
    """Each reply as the agent UI posts it: the HTML ones as html_body, like Zendesk's."""
    replies = tomllib.loads(CORPUS.read_text())["reply"]
    return [{"html_body": r["body"], "body": "(see html_body)"} if r.get("html")
            else {"body": r["body"]} for r in replies]


def run(latency_ms: int, replies: int, customers: int, tmp: str) -> dict[str, list[float]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sandbox = start_sandbox(zendesk_port=0, twilio_port=0, connector_url=url,
                            latency_ms=latency_ms)
    connector = start_connector(sandbox_config(sandbox, connector_url=url,
                                               database_url=f"sqlite:///{tmp}/reply.db"), port)
    runtime, twilio = connector.runtime, sandbox.twilio
    try:
        apply(runtime, runtime.policy)

        def idle() -> bool:
            with reading(runtime.engine) as conn:
                return conn.execute(select(func.count()).select_from(jobs).where(
                    jobs.c.status.in_(("ready", "running")))).scalar_one() == 0

        def sent_to(phone: str) -> list[dict]:
            with twilio.lock:
                return [dict(m) for m in twilio.messages.values() if m["to"] == phone]

        tickets: list[tuple[str, int]] = []
        for i in range(customers):
            phone = f"+1202555{7000 + i:04d}"
            send_text(sandbox.twilio_url, phone, "hi, my order has not arrived",
                      to_number=SUPPORT_NUMBER)
            wait(lambda p=phone: sent_to(p))  # type: ignore[misc]
            ticket = wait(lambda p=phone: next(  # type: ignore[misc]
                (t["id"] for t in sandbox.zendesk.store.tickets.values() if p in t["subject"]),
                None))
            tickets.append((phone, int(ticket)))
        wait(idle)
        sandbox.twilio_server.app.extensions["twilio_sandbox"].sender.flush(30)
        texts = corpus()
        provider: list[float] = []
        handset: list[float] = []
        for n in range(replies):
            phone, ticket_id = tickets[n % len(tickets)]
            before = len(sent_to(phone))
            with twilio.lock:
                seen = len(twilio.handsets.get(phone, []))
            started = time.perf_counter()
            response = requests.post(f"{sandbox.zendesk_url}/_sandbox/agent_reply",
                                     json={"ticket_id": ticket_id, **texts[n % len(texts)]},
                                     timeout=30)
            response.raise_for_status()
            wait(lambda p=phone, b=before: len(sent_to(p)) > b)  # type: ignore[misc]
            provider.append((time.perf_counter() - started) * 1000)

            def arrived(p: str = phone, s: int = seen) -> bool:
                with twilio.lock:
                    return len(twilio.handsets.get(p, [])) > s

            wait(arrived)
            handset.append((time.perf_counter() - started) * 1000)
            wait(idle)
            sandbox.twilio_server.app.extensions["twilio_sandbox"].sender.flush(30)
        return {"provider": provider, "handset": handset,
                "calls": [float(runtime.helpdesk.calls["list_comments"])]}
    finally:
        connector.stop()
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--replies", type=int, default=60)
    parser.add_argument("--customers", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.latency_ms, args.replies, args.customers, tmp)
    command = (f"`.venv/bin/python benchmarks/bench_reply_latency.py --latency-ms {args.latency_ms}"
               f" --replies {args.replies}`")
    lines = [
        f"Agent reply → SMS latency ({command}), {time.strftime('%Y-%m-%d')}, "
        f"{os.cpu_count()} cores, sandbox latency {args.latency_ms} ms per Zendesk and per Twilio "
        "API call, SQLite, connector web + embedded worker in one process, webhook and trigger "
        "installed by `policy apply`; replies one at a time over "
        f"{args.customers} customers, texts from benchmarks/agent_replies/replies.toml.",
        "",
        "| from the agent's reply to | p50 ms | p99 ms | mean ms | max ms | n |",
        "|---|---|---|---|---|---|",
    ]
    for label, key in (("Twilio accepting the text (reply → provider)", "provider"),
                       ("the customer's handset (simulated carrier)", "handset")):
        values = result[key]
        lines.append(f"| {label} | {pct(values, 0.5):.0f} | {pct(values, 0.99):.0f} | "
                     f"{statistics.mean(values):.0f} | {max(values):.0f} | {len(values)} |")
    lines += [
        "",
        f"Zendesk calls per reply: {result['calls'][0] / args.replies:.2f} `list_comments` "
        "(comments and authors in one call); one Twilio send per text part (a reply over 1,600 characters goes as numbered parts).",
        "Floor with this latency: one Zendesk call + one Twilio call = "
        f"{2 * args.latency_ms} ms.",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
