"""Outage clusters: many customers texting that the service is down become ONE problem ticket.

A text triage flags ``outage_report`` (connector/text/triage.py) is an outage report. The pack's
outage scenario says when reports are an outage (``[scenarios.escalation] trigger =
"multiple_customers"``, ``distinct_numbers`` within ``window``: 3 in 15 minutes by default).

1. The inbound job acknowledges a lone report with the scenario's own ack ("we are checking");
   while a cluster is open, with the cluster's latest public update, else the outage script
   (:data:`SCRIPT_ID`: acknowledge, ETA, where to look meanwhile). See :func:`ack_for`.
2. Once the report's ticket exists, ``outage_report`` (queued by the inbound job behind itself,
   on the conversation's key) records it (connector/store/outages.py). The report that brings
   the distinct numbers in the window to the threshold forms the cluster: a unique key makes
   exactly one worker win, the others join the cluster it formed. A report while a cluster is
   open joins it (a late reporter); a cluster whose problem was solved is closed first, and the
   report counts toward a new one.
3. ``outage_link`` (one at a time per cluster: the queue's conversation key ``outage:<id>``)
   files the problem / tracker ticket once (its creation recorded before the call, settled by
   the adapter on a retry), links every report under it, records ``outage_linked`` in the SLA
   ledger, sets the ``outage`` escalation due now (the escalate job tags, notes and alerts), and
   texts each linked customer once: the latest update, else the outage script.
4. A public agent reply on the problem (the helpdesk's reply webhook; agent_reply.py hands it
   here because no conversation owns that ticket) queues ``outage_update`` on the same key:
   every comment not texted before goes to every linked customer who has not opted out, once
   each (unique outbound rows), and becomes the latest update late reporters get.

Fan-out texts are spaced to the channel's sending rate (:data:`SEGMENTS_PER_SECOND` per number
of the channel): each part takes the channel's next free sending slot (connector/store/outages.py
``take_slots``, a locked row) and its send job is queued to run then, so 20 customers' texts
leave over 20 seconds instead of overrunning the number.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, RowMapping, select

from connector.errors import ExternalServiceError, PermanentError, RetryableError, TicketGone
from connector.jobs.queue import Job, enqueue
from connector.model import (
    AUTHOR_AGENT,
    TICKET_CLOSED,
    TICKET_SOLVED,
    Comment,
    NewTicket,
    Triage,
    iso_epoch,
)
from connector.pipeline import conversation_events
from connector.pipeline.escalation import ESCALATE_JOB, timer_key
from connector.pipeline.outbox import queue_sms
from connector.pipeline.receive import conversation_key
from connector.store import conversations, messages, outages, reading, sla
from connector.store.optouts import is_opted_out
from connector.store.timers import set_timer
from connector.text.sms_text import render_comment
from mappings.policy import Scenario, format_duration, segments

if TYPE_CHECKING:
    from connector.runtime import Runtime

__all__ = [
    "FLAG",
    "LINK_JOB",
    "REPORT_JOB",
    "RULE",
    "SCRIPT_ID",
    "UPDATE_JOB",
    "ack_for",
    "handlers",
    "is_problem",
    "on_problem_reply",
    "outage_scenario",
    "outage_script",
    "queue_report",
]

log = logging.getLogger("sms_connector.outage")

FLAG = "outage_report"
RULE = "outage"  # the escalation rule: tags sms_escalated, sms_esc_outage
TRIGGER = "multiple_customers"
SCRIPT_ID = "outage_confirmed"  # the pack's outage script: acknowledge, ETA, fallback
REPORT_JOB = "outage_report"
LINK_JOB = "outage_link"
UPDATE_JOB = "outage_update"
SOURCE = "outage"  # outbound rows of the fan-out
PROBLEM_TAG = "sms_outage_problem"
# US long codes send about one segment a second per number (../shared/docs/reference/sms.md);
# a sender pool sends from each of its numbers.
SEGMENTS_PER_SECOND = 1.0
CLOCK_SKEW = 120.0  # the helpdesk's clock and ours, as the agent-reply flow allows


def handlers(runtime: Runtime) -> dict[str, Any]:
    return {REPORT_JOB: partial(handle_report, runtime),
            LINK_JOB: partial(handle_link, runtime),
            UPDATE_JOB: partial(handle_update, runtime)}


def cluster_key(cluster_id: int) -> str:
    return f"outage:{int(cluster_id)}"


def outage_scenario(runtime: Runtime) -> Scenario | None:
    """The pack's scenario whose escalation counts distinct reporters (None: no clustering)."""
    for scenario in runtime.policy.scenarios:
        rule = scenario.escalation
        if rule.trigger == TRIGGER and rule.distinct_numbers and rule.window:
            return scenario
    return None


def _clusters(runtime: Runtime) -> bool:
    return outage_scenario(runtime) is not None and bool(
        getattr(runtime.helpdesk, "supports_problems", False))


def outage_script(runtime: Runtime) -> str:
    """The outage script with its ETA (the scenario's next update: its tier's next response,
    else its first response) and the pack's status page filled in."""
    scenario = outage_scenario(runtime)
    policy = runtime.policy
    eta = None
    if scenario is not None:
        eta = scenario.targets.next_response or policy.tier(scenario.tier).targets.next_response
        eta = eta or scenario.first_response
    return policy.render_script(SCRIPT_ID, eta=format_duration(eta or 1800))


# ---------------------------------------------------------------------- inbound's two calls


def ack_for(runtime: Runtime, result: Triage) -> tuple[str, int] | None:
    """The acknowledgement of an outage report while a cluster is open: the latest update (when
    it is one text), else the outage script; and the cluster. None: the scenario's own ack."""
    if FLAG not in result.flags or not _clusters(runtime):
        return None
    scenario = outage_scenario(runtime)
    assert scenario is not None
    try:
        # Solved since (no helpdesk tells every status change): over, so "we are checking".
        _close_if_solved(runtime, scenario)
    except (RetryableError, ExternalServiceError) as exc:
        # The ack never waits on the helpdesk: the safe text goes out, the report job looks again.
        log.info("outage: problem state unknown; the report is acknowledged as checking",
                 extra={"error": str(exc)})
        return None
    with reading(runtime.engine) as conn:
        found = outages.open_cluster(conn, runtime.settings.helpdesk.kind, scenario.id)
    if found is None:
        return None
    latest = found["latest_update"] or []
    if len(latest) > 1:
        return None  # several parts: the link job texts them all, in order
    return (latest[0] if latest else outage_script(runtime)), int(found["id"])


def queue_report(runtime: Runtime, conn: Connection, result: Triage, *, conversation_id: int,
                 message_id: int, told: int | None) -> None:
    """Count the text as an outage report once its ticket exists: queued in the inbound job's
    transaction, on the conversation's key, so it runs after that job."""
    if FLAG not in result.flags or not _clusters(runtime):
        return
    enqueue(conn, REPORT_JOB, {"conversation_id": int(conversation_id),
                               "message_id": int(message_id), "told": told,
                               "priority": result.priority},
            conversation_key=conversation_key(conversation_id),
            max_attempts=runtime.settings.queue.max_attempts, now=runtime.clock.now())


# ---------------------------------------------------------------------- the report


def handle_report(runtime: Runtime, job: Job) -> None:
    scenario = outage_scenario(runtime)
    if scenario is None:
        return
    kind = runtime.settings.helpdesk.kind
    payload = job.payload
    with reading(runtime.engine) as conn:
        message = conn.execute(select(messages.c.ticket_id, messages.c.received_at).where(
            messages.c.id == int(payload["message_id"]))).first()
        conv = conn.execute(select(conversations).where(
            conversations.c.id == int(payload["conversation_id"]))).mappings().one()
    if message is None:
        return
    if message.ticket_id is None:
        if conv["inflight"]:
            raise RetryableError("the report's ticket is not filed yet")
        return  # its ticket was never filed: nothing to count
    ticket_id = int(message.ticket_id)
    with runtime.engine.begin() as conn:
        outages.record_report(
            conn, helpdesk=kind, scenario=scenario.id, ticket_id=ticket_id,
            conversation_id=int(conv["id"]), phone=conv["customer_phone"],
            channel_key=conv["channel_key"], reported_at=float(message.received_at),
            told_cluster_id=payload.get("told"))
    _close_if_solved(runtime, scenario)
    cluster_id = _cluster(runtime, scenario, ticket_id, priority=payload.get("priority"))
    if cluster_id is not None:
        runtime.notify()


def _close_if_solved(runtime: Runtime, scenario: Scenario) -> None:
    """A cluster whose problem was solved (or deleted) ends: the next reports count anew."""
    kind = runtime.settings.helpdesk.kind
    with reading(runtime.engine) as conn:
        found = outages.open_cluster(conn, kind, scenario.id)
    if found is None or found["problem_id"] is None:
        return
    try:
        state = runtime.helpdesk.get_ticket(int(found["problem_id"])).state
    except TicketGone:
        state = TICKET_CLOSED
    if state in (TICKET_SOLVED, TICKET_CLOSED):
        with runtime.engine.begin() as conn:
            if outages.close_cluster(conn, int(found["id"]), runtime.clock.now()):
                log.info("outage cluster closed: its problem ticket is solved",
                         extra={"cluster": found["id"], "ticket_id": found["problem_id"]})


def _cluster(runtime: Runtime, scenario: Scenario, ticket_id: int, *,
             priority: str | None = None) -> int | None:
    """Count the report: join the open cluster, or form one when it makes the threshold. The
    cluster's id, or None while the report stands alone."""
    kind = runtime.settings.helpdesk.kind
    rule = scenario.escalation
    assert rule.distinct_numbers is not None and rule.window is not None
    for _ in range(3):
        now = runtime.clock.now()
        with runtime.engine.begin() as conn:
            mine = outages.report(conn, kind, ticket_id)
            assert mine is not None
            cluster_id = mine["cluster_id"]
            if cluster_id is None:
                found = outages.open_cluster(conn, kind, scenario.id)
                if found is not None:
                    cluster_id = int(found["id"])
                    outages.join_cluster(conn, int(mine["id"]), cluster_id)
                else:
                    since = now - rule.window
                    if outages.distinct_reporters(conn, kind, scenario.id,
                                                  since) < rule.distinct_numbers:
                        return None
                    cluster_id = outages.try_open(conn, helpdesk=kind, scenario=scenario.id,
                                                  now=now, problem_key=uuid.uuid4().hex,
                                                  priority=priority)
                    if cluster_id is None:
                        continue  # another worker formed it just now: join it
                    claimed = outages.claim_reports(conn, cluster_id, kind, scenario.id, since)
                    log.warning("outage: %d reports from distinct numbers within %s",
                                claimed, format_duration(rule.window),
                                extra={"cluster": cluster_id, "ticket_id": ticket_id})
            enqueue(conn, LINK_JOB, {"cluster_id": int(cluster_id)},
                    conversation_key=cluster_key(cluster_id), coalesce=True,
                    max_attempts=runtime.settings.queue.max_attempts, now=now)
            return int(cluster_id)
    raise RetryableError("outage cluster kept changing")


# ---------------------------------------------------------------------- the problem and its links


def handle_link(runtime: Runtime, job: Job) -> None:
    cluster_id = int(job.payload["cluster_id"])
    with reading(runtime.engine) as conn:
        found = outages.cluster(conn, cluster_id)
        reports = outages.reports_of(conn, cluster_id)
    if found["problem_id"] is None:
        if found["closed_at"] is not None:
            return
        found = _file_problem(runtime, found, reports)
        with reading(runtime.engine) as conn:
            reports = outages.reports_of(conn, cluster_id)
    problem_id = int(found["problem_id"])
    helpdesk: Any = runtime.helpdesk  # the problem methods are the adapter's optional ones
    for row in reports:
        if row["linked_at"] is None:
            try:
                helpdesk.link_to_problem(int(row["ticket_id"]), problem_id)
            except TicketGone:
                log.info("outage report's ticket deleted; not linked",
                         extra={"ticket_id": row["ticket_id"]})
            with runtime.engine.begin() as conn:
                _linked(runtime, conn, found, [row])
    runtime.notify()


def _file_problem(runtime: Runtime, found: RowMapping,
                  reports: list[RowMapping]) -> RowMapping:
    """The cluster's problem / tracker, filed once with the reports so far linked under it."""
    scenario = runtime.policy.scenario(found["scenario"])
    cluster_id = int(found["id"])
    now = runtime.clock.now()
    attempted = found["problem_attempted_at"]
    if attempted is None:
        with runtime.engine.begin() as conn:  # the intent first: a retry settles, never repeats
            outages.set_problem(conn, cluster_id, problem_attempted_at=now)
    incidents = [int(r["ticket_id"]) for r in reports]
    new = _problem_ticket(runtime, scenario, found, reports, attempted or now)
    helpdesk: Any = runtime.helpdesk
    problem = None
    if attempted is not None:
        problem = helpdesk.resume_problem(new, incidents)
    if problem is None:
        problem = helpdesk.create_problem(new, incidents)
    with runtime.engine.begin() as conn:
        outages.set_problem(conn, cluster_id, problem_id=problem.id)
        found = outages.cluster(conn, cluster_id)
        _linked(runtime, conn, found, reports)
        _escalate(runtime, conn, scenario, found, len(reports))
    log.warning("outage problem ticket filed", extra={
        "cluster": cluster_id, "ticket_id": problem.id, "linked": len(incidents)})
    return found


def _problem_ticket(runtime: Runtime, scenario: Scenario, found: RowMapping,
                    reports: list[RowMapping], attempted_at: float) -> NewTicket:
    rule = scenario.escalation
    numbers = len({r["phone"] for r in reports})
    first = reports[0]
    with reading(runtime.engine) as conn:
        requester = conn.execute(select(conversations.c.requester_id).where(
            conversations.c.id == first["conversation_id"])).scalar()
    if requester is None:
        raise PermanentError(f"outage cluster {found['id']}: its first report has no requester")
    listed = ", ".join(f"#{r['ticket_id']}" for r in reports)
    body = (f"[sms-connector] {numbers} customers texted about a service outage within "
            f"{format_duration(float(rule.window or 0))}: {listed}.\n"
            "Public replies on this ticket are texted to every linked customer who has not "
            "opted out; later reports are linked here and get the latest reply. Solving it ends "
            "the outage for the connector.")
    return NewTicket(
        requester_id=int(requester), subject=f"[sms-connector] Outage: {scenario.title}",
        body=body, key=str(found["problem_key"]), attempted_at=float(attempted_at),
        priority=found["priority"],  # as triage gave the reports (the scenario's tier)
        tags=("sms", f"sms_{scenario.id}", PROBLEM_TAG), group=scenario.group)


def _escalate(runtime: Runtime, conn: Connection, scenario: Scenario, found: RowMapping,
              reports: int) -> None:
    """The problem escalates with rule ``outage`` now (the escalate job: tags, note, alert)."""
    now = runtime.clock.now()
    problem_id = int(found["problem_id"])
    window = float(scenario.escalation.window or 0)
    payload: dict[str, Any] = {
        "ticket_id": problem_id, "rule": RULE, "scenario": scenario.id, "tier": scenario.tier,
        "target": window, "since": float(found["opened_at"]), "due_at": now,
        "business_hours": False,
        "reason": (f"{reports} customers reported the service down within "
                   f"{format_duration(window)}"),
    }
    if scenario.escalation.to_group or scenario.group:
        payload["group"] = scenario.escalation.to_group or scenario.group
    set_timer(conn, ESCALATE_JOB, timer_key(RULE, problem_id), now, payload, now=now)


def _linked(runtime: Runtime, conn: Connection, found: RowMapping,
            rows: Sequence[RowMapping]) -> None:
    """Reports now under the problem: marked, in the ledger, and told (once each)."""
    kind = runtime.settings.helpdesk.kind
    now = runtime.clock.now()
    fresh = [r for r in rows if r["linked_at"] is None]
    outages.mark_linked(conn, [int(r["id"]) for r in fresh], now)
    latest = list(found["latest_update"] or [])
    for row in fresh:
        sla.record_event(conn, helpdesk=kind, ticket_id=int(row["ticket_id"]),
                         kind="outage_linked", rule=RULE, at=now,
                         dedup=f"outage_linked:{kind}:{int(row['ticket_id'])}",
                         details={"problem_id": int(found["problem_id"]),
                                  "cluster": int(found["id"])})
        if row["told_cluster_id"] == found["id"]:
            continue  # its acknowledgement already was this outage's text
        bodies = latest or [outage_script(runtime)]
        tag = f"c{found['latest_comment_id']}" if latest else "script"
        _tell(runtime, conn, row, bodies, source_id=f"{found['id']}:{row['ticket_id']}:{tag}")


def _tell(runtime: Runtime, conn: Connection, row: RowMapping, bodies: Sequence[str], *,
          source_id: str) -> int:
    """Queue ``bodies`` to one reporter, each part at the channel's next sending slot; nothing
    to a number that opted out. How many texts were queued."""
    phone, channel_key = row["phone"], row["channel_key"]
    channel = runtime.channel(channel_key)
    if channel is None or is_opted_out(conn, phone, channel_key):
        return 0
    rate = SEGMENTS_PER_SECOND * max(1, len(channel.numbers))
    queued = 0
    for part, body in enumerate(bodies, start=1):
        slot = outages.take_slots(conn, channel_key, segments(body), 1.0 / rate,
                                  runtime.clock.now())[0]
        queued += queue_sms(conn, source=SOURCE, source_id=source_id, part=part,
                            to_number=phone, body=body, channel=channel,
                            conversation_id=int(row["conversation_id"]),
                            ticket_id=int(row["ticket_id"]),
                            max_attempts=runtime.settings.queue.max_attempts,
                            now=slot) is not None
    return queued


# ---------------------------------------------------------------------- updates on the problem


def is_problem(conn: Connection, helpdesk: str, ticket_id: int) -> bool:
    """Whether ``ticket_id`` is a problem / tracker the connector filed (its webhook counts)."""
    return outages.cluster_of_problem(conn, helpdesk, ticket_id) is not None


def on_problem_reply(runtime: Runtime, ticket_id: int) -> bool:
    """An agent-reply delivery for ``ticket_id``: True when it is an outage's problem, whose
    update is then queued for its customers (behind the cluster's linking)."""
    with reading(runtime.engine) as conn:
        found = outages.cluster_of_problem(conn, runtime.settings.helpdesk.kind, ticket_id)
    if found is None:
        return False
    with runtime.engine.begin() as conn:
        enqueue(conn, UPDATE_JOB, {"cluster_id": int(found["id"])},
                conversation_key=cluster_key(int(found["id"])), coalesce=True,
                max_attempts=runtime.settings.queue.max_attempts, now=runtime.clock.now())
    runtime.notify()
    return True


def _public_updates(comments: list[Comment], cutoff: float) -> list[Comment]:
    """Public replies by a person on the support side since ``cutoff``, oldest first: what the
    agent-reply flow texts (agent_reply.pick_replies; not imported: that module imports this)."""
    picked = []
    for c in reversed(comments):  # listed newest first
        created = iso_epoch(c.created_at)
        if (c.public and c.author == AUTHOR_AGENT and not c.from_integration and not c.merged
                and created is not None and created >= cutoff - CLOCK_SKEW):
            picked.append(c)
    return picked


def handle_update(runtime: Runtime, job: Job) -> None:
    cluster_id = int(job.payload["cluster_id"])
    with reading(runtime.engine) as conn:
        found = outages.cluster(conn, cluster_id)
    if found["problem_id"] is None:
        return
    problem_id = int(found["problem_id"])
    comments = runtime.helpdesk.list_comments(problem_id)
    picked = _public_updates(comments, float(found["opened_at"]))
    last = found["latest_comment_id"]
    fresh = [c for c in picked if last is None or c.id > int(last)]
    if not fresh:
        return
    rendered = [(c, render_comment(c.body, c.html_body).bodies) for c in fresh]
    rendered = [(c, bodies) for c, bodies in rendered if bodies]
    queued = 0
    with runtime.engine.begin() as conn:
        reports = [r for r in outages.reports_of(conn, cluster_id) if r["linked_at"] is not None]
        for comment, bodies in rendered:
            for row in reports:
                queued += _tell(runtime, conn, row, bodies,
                                source_id=f"{cluster_id}:{row['ticket_id']}:c{comment.id}")
        for row in reports:
            # The customer has an agent's public answer: their first response is given.
            conversation_events.agent_replied(
                runtime, conn, ticket_id=int(row["ticket_id"]),
                conversation_id=int(row["conversation_id"]), comments=fresh)
        values: dict[str, Any] = {"latest_comment_id": fresh[-1].id}
        if rendered:  # a reply that renders to nothing (a signature) keeps the last update
            values["latest_update"] = rendered[-1][1]
        outages.set_problem(conn, cluster_id, **values)
    runtime.notify()
    log.info("outage update texted", extra={"cluster": cluster_id, "ticket_id": problem_id,
                                            "customers": len(reports), "texts": queued})
