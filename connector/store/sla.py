"""The SLA ledger: what the weekly review counts, written as the pipeline sees it happen.

``sla_tickets`` holds one row per ticket the connector filed (``open_ticket``, in the transaction
that saves the ticket on its conversation), then its first public agent reply
(``first_response``: the earliest one wins, however often the reply's webhook is redelivered),
its solving and its reopenings (``solved`` / ``reopened``). ``sla_events`` holds what the
escalation engine did (``record_event``: escalated by a rule, a reminder sent, a ticket solved for
silence, a page sent), each once per ``dedup`` key so a retried job records it once.

Every write is one statement, the same on SQLite and PostgreSQL; times are UNIX seconds from the
caller's clock. The report (connector/report/) reads with ``tickets_between`` and
``events_between``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, RowMapping, and_, func, or_, select, update

from connector.store import insert_ignore, sla_events, sla_tickets

__all__ = [
    "SlaEvent",
    "SlaTicket",
    "count_events",
    "events_between",
    "events_for",
    "first_response",
    "get_ticket",
    "open_ticket",
    "record_event",
    "reopened",
    "solved",
    "tickets_between",
]


@dataclass(frozen=True)
class SlaTicket:
    helpdesk: str
    ticket_id: int
    conversation_id: int | None
    scenario: str | None
    tier: str | None
    received_at: float
    created_at: float
    target_seconds: float | None
    business_hours: bool
    due_at: float | None
    after_hours: bool
    enforced_by: str | None
    first_response_at: float | None
    solved_at: float | None
    reopens: int


@dataclass(frozen=True)
class SlaEvent:
    helpdesk: str
    ticket_id: int
    kind: str
    rule: str | None
    at: float
    details: dict[str, Any] = field(default_factory=dict)


def _ticket(row: RowMapping) -> SlaTicket:
    return SlaTicket(
        helpdesk=row["helpdesk"], ticket_id=int(row["ticket_id"]),
        conversation_id=row["conversation_id"], scenario=row["scenario"], tier=row["tier"],
        received_at=float(row["received_at"]), created_at=float(row["created_at"]),
        target_seconds=row["target_seconds"], business_hours=bool(row["business_hours"]),
        due_at=row["due_at"], after_hours=bool(row["after_hours"]),
        enforced_by=row["enforced_by"], first_response_at=row["first_response_at"],
        solved_at=row["solved_at"], reopens=int(row["reopens"] or 0),
    )


def _event(row: RowMapping) -> SlaEvent:
    return SlaEvent(helpdesk=row["helpdesk"], ticket_id=int(row["ticket_id"]), kind=row["kind"],
                    rule=row["rule"], at=float(row["at"]), details=dict(row["details"] or {}))


def open_ticket(conn: Connection, *, helpdesk: str, ticket_id: int, conversation_id: int | None,
                scenario: str | None, tier: str | None, received_at: float, created_at: float,
                target_seconds: float | None, business_hours: bool, due_at: float | None,
                after_hours: bool, enforced_by: str | None, now: float) -> bool:
    """Record a ticket the connector filed; False when it was recorded already (a replay)."""
    return insert_ignore(conn, sla_tickets, {
        "helpdesk": helpdesk, "ticket_id": int(ticket_id), "conversation_id": conversation_id,
        "scenario": scenario, "tier": tier, "received_at": received_at, "created_at": created_at,
        "target_seconds": target_seconds, "business_hours": business_hours, "due_at": due_at,
        "after_hours": after_hours, "enforced_by": enforced_by, "first_response_at": None,
        "solved_at": None, "reopens": 0, "updated_at": now,
    })


def _mine(helpdesk: str, ticket_id: int) -> Any:
    return and_(sla_tickets.c.helpdesk == helpdesk, sla_tickets.c.ticket_id == int(ticket_id))


def first_response(conn: Connection, helpdesk: str, ticket_id: int, at: float, *,
                   now: float) -> bool:
    """The first public agent reply, at ``at`` (the helpdesk's time of the comment); an earlier
    one replaces a later (replies may be seen out of order). True when the row changed."""
    column = sla_tickets.c.first_response_at
    result = conn.execute(update(sla_tickets).where(
        _mine(helpdesk, ticket_id), or_(column.is_(None), column > at))
        .values(first_response_at=at, updated_at=now))
    return bool(result.rowcount)


def solved(conn: Connection, helpdesk: str, ticket_id: int, at: float, *, now: float) -> bool:
    """Solved (or closed) at ``at``; a repeated notice keeps the first time."""
    result = conn.execute(update(sla_tickets).where(
        _mine(helpdesk, ticket_id), sla_tickets.c.solved_at.is_(None))
        .values(solved_at=at, updated_at=now))
    return bool(result.rowcount)


def reopened(conn: Connection, helpdesk: str, ticket_id: int, *, now: float) -> bool:
    """A solved ticket is open again: counted once per solving."""
    result = conn.execute(update(sla_tickets).where(
        _mine(helpdesk, ticket_id), sla_tickets.c.solved_at.is_not(None))
        .values(solved_at=None, reopens=sla_tickets.c.reopens + 1, updated_at=now))
    return bool(result.rowcount)


def record_event(conn: Connection, *, helpdesk: str, ticket_id: int, kind: str,
                 rule: str | None, at: float, dedup: str,
                 details: Mapping[str, Any] | None = None) -> bool:
    """Record what the engine did; False when an event with this ``dedup`` key exists."""
    return insert_ignore(conn, sla_events, {
        "helpdesk": helpdesk, "ticket_id": int(ticket_id), "kind": kind, "rule": rule,
        "at": at, "details": dict(details or {}), "dedup": dedup[:191],
    })


def get_ticket(conn: Connection, helpdesk: str, ticket_id: int) -> SlaTicket | None:
    row = conn.execute(select(sla_tickets).where(_mine(helpdesk, ticket_id))).mappings().first()
    return None if row is None else _ticket(row)


def tickets_between(conn: Connection, since: float, until: float,
                    helpdesk: str | None = None) -> list[SlaTicket]:
    """Tickets whose customer first wrote in [since, until), oldest first."""
    query = select(sla_tickets).where(sla_tickets.c.received_at >= since,
                                      sla_tickets.c.received_at < until)
    if helpdesk is not None:
        query = query.where(sla_tickets.c.helpdesk == helpdesk)
    rows = conn.execute(query.order_by(sla_tickets.c.received_at)).mappings()
    return [_ticket(row) for row in rows]


def events_between(conn: Connection, since: float, until: float,
                   helpdesk: str | None = None) -> list[SlaEvent]:
    """Events at [since, until), oldest first."""
    query = select(sla_events).where(sla_events.c.at >= since, sla_events.c.at < until)
    if helpdesk is not None:
        query = query.where(sla_events.c.helpdesk == helpdesk)
    rows = conn.execute(query.order_by(sla_events.c.at, sla_events.c.id)).mappings()
    return [_event(row) for row in rows]


def events_for(conn: Connection, helpdesk: str, ticket_id: int,
               kind: str | None = None) -> list[SlaEvent]:
    query = select(sla_events).where(sla_events.c.helpdesk == helpdesk,
                                     sla_events.c.ticket_id == int(ticket_id))
    if kind is not None:
        query = query.where(sla_events.c.kind == kind)
    rows = conn.execute(query.order_by(sla_events.c.at, sla_events.c.id)).mappings()
    return [_event(row) for row in rows]


def count_events(conn: Connection, kind: str, rule: str | None = None) -> int:
    query = select(func.count()).select_from(sla_events).where(sla_events.c.kind == kind)
    if rule is not None:
        query = query.where(sla_events.c.rule == rule)
    return int(conn.execute(query).scalar() or 0)
