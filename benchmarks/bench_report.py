"""What ``sms-connector report`` costs over a busy week, embedded SQLite.

    .venv/bin/python benchmarks/bench_report.py [--tickets 10000] [--runs 3]

Seeds a fresh SQLite store with ``--tickets`` ledger tickets in one week and as many again in
the week before (five scenarios, a third counted in business hours, one in six unanswered or
late), an escalation per tenth ticket, an acknowledgement and a reply per ticket (one in fifty
failed, one in eight UCS-2, one in five long), an inbound job per ticket and the customers'
texts; then times building the report (both weeks) and rendering it as text, JSON and HTML.

Writes benchmarks/results/report.md. Measures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert

from connector.report import build_report
from connector.report.render_html import render_html
from connector.report.render_json import render_json
from connector.report.render_text import render_text
from connector.store import jobs, make_engine, messages, outbound, schema, sla_events, sla_tickets
from mappings.business_time import business_due
from mappings.policy import load_policy

RESULTS = Path(__file__).with_name("results") / "report.md"
SCENARIOS = [("outage", "P1", 300, False), ("technical", "P2", 900, False),
             ("billing", "P2", 1200, False), ("order", "P3", 600, False),
             ("general", "P3", 600, True)]
UNTIL = 1_796_619_600.0  # Mon 2026-12-07 00:00 New York
WEEK = 7 * 86400


def seed(engine, n: int, hours) -> None:
    rng = random.Random(7)
    tickets, events, texts, job_rows, texts_in = [], [], [], [], []
    for i in range(2 * n):
        scenario, tier, target, business = SCENARIOS[i % len(SCENARIOS)]
        received = UNTIL - 2 * WEEK + rng.random() * 2 * WEEK
        due = business_due(hours, received, target) if business else received + target
        answer = None if i % 17 == 0 else received + rng.expovariate(1 / (target * 0.6))
        tickets.append({"helpdesk": "zendesk", "ticket_id": i + 1, "conversation_id": i + 1,
                        "scenario": scenario, "tier": tier, "received_at": received,
                        "created_at": received + rng.choice([2, 3, 5, 400]),
                        "target_seconds": target, "business_hours": business, "due_at": due,
                        "after_hours": False, "enforced_by": "connector",
                        "first_response_at": answer, "solved_at": None,
                        "reopens": int(i % 23 == 0), "updated_at": received})
        if i % 10 == 0:
            events.append({"helpdesk": "zendesk", "ticket_id": i + 1, "kind": "escalated",
                           "rule": rng.choice(["first_response", "dispute", "high_value"]),
                           "at": received + target, "details": {}, "dedup": f"e{i}"})
        body = ("Merci 🙂 " if i % 8 == 0 else "Thanks, on it. ") * (12 if i % 5 == 0 else 1)
        for source, at in (("ack", received + 2), ("agent_reply", (answer or received) + 1)):
            failed = i % 50 == 0 and source == "ack"
            texts.append({"conversation_id": i + 1, "ticket_id": None if source == "ack"
                          else i + 1, "source": source, "source_id": f"{source}{i}", "part": 1,
                          "provider": "twilio", "to_number": "+12025550142", "body": body,
                          "media_urls": [], "send_state": "sent",
                          "status": "undelivered" if failed else "delivered",
                          "error_code": "30005" if failed else None, "noted": False,
                          "created_at": at, "updated_at": at})
        job_rows.append({"kind": "inbound", "conversation_key": f"c{i}",
                         "payload": {"conversation_id": i + 1}, "status": "done", "attempts": 1,
                         "max_attempts": 8, "run_at": received, "created_at": received,
                         "updated_at": received, "finished_at": received + 3})
        texts_in.append({"provider": "twilio", "provider_message_id": f"SM{i}",
                         "conversation_id": None, "from_number": "+12025550142",
                         "to_number": "+15005550006", "body": "help", "media": [], "raw": {},
                         "received_at": received, "state": "delivered"})
    with engine.begin() as conn:
        for table, rows in ((sla_tickets, tickets), (sla_events, events), (outbound, texts),
                            (jobs, job_rows), (messages, texts_in)):
            for start in range(0, len(rows), 5000):
                conn.execute(insert(table), rows[start:start + 5000])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    hours = load_policy().business_hours
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/bench.db")
        schema.upgrade(engine)
        seed(engine, args.tickets, hours)
        timings: dict[str, list[float]] = {"build (both weeks)": [], "text": [], "json": [],
                                           "html (3 SVG charts)": []}
        for _ in range(args.runs):
            started = time.perf_counter()
            report = build_report(engine, since=UNTIL - WEEK, until=UNTIL, as_of=UNTIL + 300,
                                  hours=hours)
            timings["build (both weeks)"].append(time.perf_counter() - started)
            for name, render in (("text", render_text), ("json", render_json),
                                 ("html (3 SVG charts)", render_html)):
                started = time.perf_counter()
                out = render(report)
                timings[name].append(time.perf_counter() - started)
            size = len(out)
        engine.dispose()
    lines = [
        "# `sms-connector report` over a busy week (embedded SQLite)",
        "",
        f"{args.tickets} ledger tickets in the week and {args.tickets} in the week before, an "
        "ack and a reply per ticket, an inbound job per ticket, an escalation per tenth. "
        f"Best and median of {args.runs} runs; `benchmarks/bench_report.py`.",
        "",
        "| step | best | median |",
        "|---|---:|---:|",
    ]
    for name, values in timings.items():
        ordered = sorted(values)
        lines.append(f"| {name} | {ordered[0] * 1000:.0f} ms | "
                     f"{ordered[len(ordered) // 2] * 1000:.0f} ms |")
    lines += ["", f"Tickets in the week: {report.total.tickets}, misses: {len(report.misses)}; "
              f"HTML page {size / 1024:.0f} KiB."]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
