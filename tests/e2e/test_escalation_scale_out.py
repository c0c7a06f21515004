"""Two connector workers on one PostgreSQL store never fire a timer twice (issue 13).

``serve --no-worker`` plus two ``sms-connector worker`` processes, each with its scheduler, on
the Zendesk sandbox; first responses of 4 s and ``tick = "1s"``. Ten customers text nobody
answers; half way the worker holding the scheduler lease is stopped (SIGTERM: it hands the lease
over) and the other one goes on. Every ticket is escalated exactly once: one escalate job per
timer, one note, one set of tags.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from connector.sandbox.runner import send_text
from connector.sandbox.stack import SUPPORT_NUMBER, environment
from connector.store import jobs, leases, reading, timers_table

from .connector_process import clean_postgres, connector_stack, wait_for
from .test_escalation import current, escalation_notes, fast_pack

pytestmark = pytest.mark.slow

PHONES = [f"+1202555{n:04d}" for n in range(200, 210)]


def lease_holder_pid(engine) -> int | None:
    with reading(engine) as conn:
        owner = conn.execute(select(leases.c.owner).where(
            leases.c.name == "scheduler", leases.c.expires_at > time.time())).scalar()
    return None if owner is None else int(str(owner).split(":")[1])


def test_two_workers_on_postgresql_fire_each_timer_once(tmp_path, request):
    url = clean_postgres(request.getfixturevalue("pg_schema_url"))
    extra = {"policy": {"pack": fast_pack(tmp_path, 4.0)}, "escalation": {"tick": "1s"}}
    with connector_stack(tmp_path, extra=extra, database_url=url,
                         layout="serve+worker") as stack:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMS_CONNECTOR_")}
        env.update(environment(stack.config))
        with (tmp_path / "second-worker.log").open("wb") as log:
            second = subprocess.Popen([sys.executable, "-m", "connector", "worker"], env=env,
                                      stdout=log, stderr=subprocess.STDOUT)
        try:
            for phone in PHONES[:5]:
                send_text(stack.sandbox.twilio_url, phone, "hello, a question about my account",
                          to_number=SUPPORT_NUMBER)
            first_holder = wait_for(lambda: lease_holder_pid(stack.engine))
            time.sleep(2)
            os.kill(first_holder, signal.SIGTERM)  # mid-run: the other worker takes over
            for phone in PHONES[5:]:
                send_text(stack.sandbox.twilio_url, phone, "hello, a question about my bill",
                          to_number=SUPPORT_NUMBER)

            def tickets() -> list[dict] | None:
                found = [t for t in stack.sms_tickets() if t["comments"]]
                return found if len(found) == len(PHONES) else None

            ids = [t["id"] for t in wait_for(tickets, timeout=30)]
            wait_for(lambda: all(escalation_notes(current(stack, i)) for i in ids), timeout=40)
            time.sleep(3)  # three more ticks of whichever scheduler holds the lease
            for ticket_id in ids:
                ticket = current(stack, ticket_id)
                assert len(escalation_notes(ticket)) == 1, ticket_id
                assert ticket["tags"].count("sms_esc_first_response") == 1
            with reading(stack.engine) as conn:
                fired = conn.execute(select(func.count()).select_from(timers_table).where(
                    timers_table.c.kind == "escalate",
                    timers_table.c.fired_at.is_not(None))).scalar_one()
                queued = conn.execute(select(func.count()).select_from(jobs).where(
                    jobs.c.kind == "escalate")).scalar_one()
            assert fired == queued == len(PHONES)
            assert lease_holder_pid(stack.engine) not in (None, first_holder)
        finally:
            if second.poll() is None:
                second.terminate()
                second.wait(timeout=20)
