"""The ledger as the real pipeline fills it (sandbox helpdesk, hand-moved clock) reads as the
report expects: a text filed as a ticket and answered in time is one ticket met, measured from
the customer's text."""

from __future__ import annotations

from pathlib import Path

from connector.report import build_report
from tests.connector.pipeline.test_escalation import TARGET, make_world


def test_texts_through_the_pipeline_show_up_in_the_report(tmp_path: Path):
    world, sandbox = make_world(tmp_path)
    try:
        start = world.clock.now()
        answered = world.text("hello, I have a question about my account")
        world.later(30)
        world.agent_reply(answered)
        world.later(TARGET * 2)
        runtime = world.runtime
        report = build_report(runtime.engine, since=start - 1, until=world.clock.now() + 1,
                              as_of=world.clock.now(), hours=runtime.policy.business_hours)
    finally:
        world.runtime.close()
        sandbox.stop()
    [outcome] = report.outcomes
    assert outcome.ticket.ticket_id == answered and outcome.state == "met"
    assert 29 <= (outcome.seconds or 0) <= 31  # counted from the customer's text
    assert report.total.tickets == 1 and report.total.met == 1
    assert report.delivery.sent + report.delivery.queued >= 1  # the ack at least
