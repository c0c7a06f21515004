"""What the report reads: the SLA ledger and the store tables, for one window, in a few queries.

Everything is read in one deferred (read-only) transaction so the numbers agree with each other;
the rows come back as plain dataclasses and the arithmetic (compute.py) never touches SQL.

- tickets: ``sla.tickets_between`` (the customer's first text in [since, until));
- events: every SLA event of those tickets up to ``as_of`` (an escalation on Monday of a ticket
  filed on Sunday belongs to Sunday's week);
- texts out: outbound rows queued in the window (delivery figures), plus the acks and agent
  replies of the window's tickets (a failed one explains a miss) up to ``as_of``;
- jobs: those whose payload names a window ticket or its conversation (a job kept waiting by the
  rate budget or an outage explains a miss). Finished jobs are purged after a week, so for
  older windows only the ledger's filing delay is left to tell a backlog;
- texts in and opt-outs in the window (counts).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from connector.store import jobs, messages, opt_outs, outbound, sla
from connector.store.sla import SlaEvent, SlaTicket

__all__ = ["JobWait", "OutText", "Records", "load"]


@dataclass(frozen=True)
class OutText:
    id: int
    conversation_id: int | None
    ticket_id: int | None
    source: str
    source_id: str
    send_state: str
    status: str | None
    error_code: str | None
    body: str
    created_at: float


@dataclass(frozen=True)
class JobWait:
    """A job that names a ticket or a conversation: when it was queued and when it finished
    (None: still waiting or dead)."""

    kind: str
    created_at: float
    finished_at: float | None


@dataclass
class Records:
    since: float
    until: float
    as_of: float
    tickets: list[SlaTicket]
    events: dict[int, list[SlaEvent]] = field(default_factory=dict)  # by ticket id
    texts_out: list[OutText] = field(default_factory=list)  # queued in the window
    acks: dict[int, list[OutText]] = field(default_factory=dict)  # by conversation id
    replies: dict[int, list[OutText]] = field(default_factory=dict)  # by ticket id
    jobs_by_conversation: dict[int, list[JobWait]] = field(default_factory=dict)
    jobs_by_ticket: dict[int, list[JobWait]] = field(default_factory=dict)
    texts_in: int = 0
    opt_outs: int = 0


_OUT_COLUMNS = (outbound.c.id, outbound.c.conversation_id, outbound.c.ticket_id, outbound.c.source,
                outbound.c.source_id, outbound.c.send_state, outbound.c.status,
                outbound.c.error_code, outbound.c.body, outbound.c.created_at)


def _out(row: Any) -> OutText:
    # Positional (the order of _OUT_COLUMNS): a row's mapping view costs more than the row.
    (id_, conversation_id, ticket_id, source, source_id, send_state, status, error_code, body,
     created_at) = row
    return OutText(int(id_), conversation_id, ticket_id, source, source_id, send_state, status,
                   error_code, body, float(created_at))


def load(conn: Connection, since: float, until: float, as_of: float,
         helpdesk: str | None = None) -> Records:
    """Read the window [since, until); ``as_of`` is when the report looks (unanswered tickets
    are measured up to it)."""
    tickets = sla.tickets_between(conn, since, until, helpdesk)
    records = Records(since, until, as_of, tickets)
    if tickets:
        ids = {t.ticket_id for t in tickets}
        events: dict[int, list[SlaEvent]] = defaultdict(list)
        for event in sla.events_between(conn, since, max(as_of, until) + 1, helpdesk):
            if event.ticket_id in ids:
                events[event.ticket_id].append(event)
        records.events = dict(events)
        first = min(t.received_at for t in tickets)
        conversations = {t.conversation_id for t in tickets if t.conversation_id is not None}
        acks: dict[int, list[OutText]] = defaultdict(list)
        replies: dict[int, list[OutText]] = defaultdict(list)
        rows = conn.execute(select(*_OUT_COLUMNS).where(
            outbound.c.created_at >= first, outbound.c.created_at <= as_of,
            outbound.c.source.in_(("ack", "agent_reply"))))
        for row in rows:
            text = _out(row)
            if text.source == "ack" and text.conversation_id in conversations:
                acks[int(text.conversation_id)].append(text)
            elif text.source == "agent_reply" and text.ticket_id in ids:
                replies[int(text.ticket_id)].append(text)
        records.acks, records.replies = dict(acks), dict(replies)
        by_conversation: dict[int, list[JobWait]] = defaultdict(list)
        by_ticket: dict[int, list[JobWait]] = defaultdict(list)
        job_rows = conn.execute(select(jobs.c.kind, jobs.c.payload, jobs.c.created_at,
                                       jobs.c.finished_at)
                                .where(jobs.c.created_at >= first, jobs.c.created_at <= as_of))
        for kind, payload, created_at, finished_at in job_rows:
            wait = JobWait(kind, float(created_at),
                           None if finished_at is None else float(finished_at))
            payload = payload or {}
            if payload.get("conversation_id") in conversations:
                by_conversation[int(payload["conversation_id"])].append(wait)
            if payload.get("ticket_id") in ids:
                by_ticket[int(payload["ticket_id"])].append(wait)
        records.jobs_by_conversation, records.jobs_by_ticket = (dict(by_conversation),
                                                                dict(by_ticket))
    records.texts_out = [_out(row) for row in conn.execute(
        select(*_OUT_COLUMNS).where(outbound.c.created_at >= since,
                                    outbound.c.created_at < until).order_by(outbound.c.id))]
    records.texts_in = int(conn.execute(select(func.count()).select_from(messages).where(
        messages.c.received_at >= since, messages.c.received_at < until)).scalar() or 0)
    records.opt_outs = int(conn.execute(select(func.count()).select_from(opt_outs).where(
        opt_outs.c.opted_out_at >= since, opt_outs.c.opted_out_at < until)).scalar() or 0)
    return records
