"""The weekly file the scheduler writes, and the precedence of a miss's causes."""

from __future__ import annotations

from pathlib import Path

from connector.clock import ManualClock
from connector.config import settings_from_dict
from connector.jobs.scheduler import PERIODIC, scheduler_handlers
from connector.report.compute import compute
from connector.report.data import JobWait, OutText, Records
from connector.runtime import Runtime
from connector.store.sla import SlaEvent, SlaTicket
from mappings.policy import load_policy
from tests.connector.report import seed

HOURS = load_policy().business_hours


def runtime_at(tmp_path: Path, now: float, weekly_to: str) -> Runtime:
    settings = settings_from_dict({
        "database": {"url": f"sqlite:///{tmp_path / 'c.db'}"}, "zendesk": {"subdomain": "acme"},
        "report": {"weekly_to": weekly_to}})
    runtime = Runtime(settings, clock=ManualClock(now))
    runtime.prepare_schema()
    return runtime


def test_the_scheduler_writes_last_weeks_report_once(tmp_path: Path):
    folder = tmp_path / "reports"
    runtime = runtime_at(tmp_path, seed.at(2026, 12, 9, 8), str(folder))  # a Wednesday
    seed.seed(runtime.engine)
    handlers = scheduler_handlers(runtime)
    assert PERIODIC["weekly_report"].kind in handlers
    handlers["weekly_report"](None)
    path = folder / "report-2026-W49.html"  # Mon 30 Nov - Sun 6 Dec
    page = path.read_text()
    assert page.count("<svg") == 3 and "Mon 2026-11-30 00:00 to Mon 2026-12-07 00:00" in page
    stamp = path.stat().st_mtime_ns
    handlers["weekly_report"](None)  # the next hour: nothing new
    assert path.stat().st_mtime_ns == stamp and sorted(p.name for p in folder.iterdir()) == [
        "report-2026-W49.html"]
    runtime.close()


def test_without_weekly_to_there_is_no_weekly_job(tmp_path: Path):
    runtime = runtime_at(tmp_path, seed.at(2026, 12, 9, 8), "")
    assert "weekly_report" not in scheduler_handlers(runtime)
    runtime.close()


def ticket(**kwargs) -> SlaTicket:
    base = {"helpdesk": "zendesk", "ticket_id": 1, "conversation_id": 1, "scenario": "billing",
            "tier": "P2", "received_at": seed.at(2026, 12, 1, 2), "created_at": 0.0,
            "target_seconds": 600.0, "business_hours": False, "due_at": None,
            "after_hours": False, "enforced_by": "connector", "first_response_at": None,
            "solved_at": None, "reopens": 0}
    base.update(kwargs)
    if not base["created_at"]:
        base["created_at"] = base["received_at"] + 5
    if base["first_response_at"] is None:
        base["first_response_at"] = base["received_at"] + 3600
    return SlaTicket(**base)


def cause(t: SlaTicket, **records) -> str | None:
    data = Records(since=seed.SINCE, until=seed.UNTIL, as_of=seed.AS_OF, tickets=[t], **records)
    [outcome] = compute(data, HOURS).outcomes
    return outcome.cause


def failed_ack(t: SlaTicket) -> dict:
    return {"acks": {1: [OutText(1, 1, None, "ack", "1:ack:1", "sent", "failed", "30003", "hi",
                                 t.received_at + 1)]}}


def test_the_connectors_own_causes_come_before_the_agents():
    night = ticket()  # 2 a.m. on a scenario counted around the clock
    assert cause(night) == "after_hours"
    assert cause(night, **failed_ack(night)) == "delivery_failure"
    late = ticket(created_at=night.received_at + 121)
    assert cause(late, **failed_ack(late)) == "connector_backlog"
    waited = {"jobs_by_conversation": {1: [JobWait("inbound", night.received_at,
                                                   night.received_at + 500)]}}
    assert cause(night, **failed_ack(night), **waited) == "connector_backlog"


def test_escalated_and_waiting_on_customer_come_before_agent_late():
    day = ticket(received_at=seed.at(2026, 12, 1, 10))
    assert cause(day) == "agent_late"
    ev = [SlaEvent("zendesk", 1, "escalated", "first_response", day.received_at + 600)]
    assert cause(day, events={1: ev}) == "agent_late"  # that escalation is the miss itself
    ev.append(SlaEvent("zendesk", 1, "reminded", None, day.received_at + 700))
    assert cause(day, events={1: ev}) == "waiting_on_customer"
    ev.append(SlaEvent("zendesk", 1, "escalated", "high_value", day.received_at + 800))
    assert cause(day, events={1: ev}) == "escalated"
    after = [SlaEvent("zendesk", 1, "escalated", "dispute", day.received_at + 4000)]
    assert cause(day, events={1: after}) == "agent_late"  # after the answer: not the cause
