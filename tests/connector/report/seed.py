"""A seeded week of conversations, written straight into the ledger and the store tables, with
what the report must make of each ticket worked out by hand (not by the report's code).

The week: Mon 2026-11-30 00:00 to Mon 2026-12-07 00:00, America/New_York (the default pack's
business hours: Mon-Fri 9:00-18:00). The report looks at Mon 2026-12-07 00:05.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert

from connector.store import jobs, messages, opt_outs, outbound, sla_events, sla_tickets

NY = ZoneInfo("America/New_York")
HELPDESK = "zendesk"


def at(*args: int) -> float:
    return datetime(*args, tzinfo=NY).timestamp()


SINCE, UNTIL = at(2026, 11, 30), at(2026, 12, 7)
AS_OF = at(2026, 12, 7, 0, 5)
PREVIOUS_SINCE = at(2026, 11, 23)


@dataclass(frozen=True)
class Seeded:
    ticket_id: int
    scenario: str
    tier: str
    target: float
    business: bool
    received: float
    response_after: float | None  # wall seconds after received; None = unanswered
    expected: str  # met | missed | open
    counted: float | None  # expected seconds (business where counted so; to AS_OF if missed)
    cause: str | None = None
    filed_after: float = 5.0
    reopens: int = 0


WEEK = [
    Seeded(101, "billing", "P2", 1200, False, at(2026, 11, 30, 10), 600, "met", 600),
    Seeded(102, "billing", "P2", 1200, False, at(2026, 11, 30, 11), 1800, "missed", 1800,
           "agent_late"),
    # 2 a.m. on a scenario counted around the clock: nobody on shift.
    Seeded(103, "outage", "P1", 300, False, at(2026, 12, 1, 2), 900, "missed", 900,
           "after_hours"),
    # Escalated as a dispute at +5 min, answered at +25 min.
    Seeded(104, "technical", "P2", 900, False, at(2026, 12, 1, 10), 1500, "missed", 1500,
           "escalated"),
    # Its acknowledgement came back undelivered.
    Seeded(105, "order", "P3", 600, False, at(2026, 12, 2, 10), 1000, "missed", 1000,
           "delivery_failure"),
    # Filed 400 s after the text (backlog_after is 120 s).
    Seeded(106, "order", "P3", 600, False, at(2026, 12, 2, 11), 700, "missed", 700,
           "connector_backlog", filed_after=400),
    # Business hours: Thu 17:55 → Fri 9:04 is 5 + 4 minutes of business time (15 h of wall).
    Seeded(107, "general", "P3", 600, True, at(2026, 12, 3, 17, 55),
           at(2026, 12, 4, 9, 4) - at(2026, 12, 3, 17, 55), "met", 540),
    # A reminder to the customer went out before the answer.
    Seeded(108, "general", "P3", 600, True, at(2026, 12, 3, 10), 900, "missed", 900,
           "waiting_on_customer"),
    # Unanswered, due Sun 23:20, looked at Mon 0:05: a miss of 65 minutes so far, at night.
    Seeded(109, "billing", "P2", 1200, False, at(2026, 12, 6, 23), None, "missed", 3900,
           "after_hours"),
    # Unanswered, due Mon 0:13: still open at 0:05.
    Seeded(110, "technical", "P2", 900, False, at(2026, 12, 6, 23, 58), None, "open", None),
    # Met, though its reply was then refused by the provider (not a miss: nothing to explain).
    Seeded(111, "outage", "P1", 300, False, at(2026, 12, 3, 12), 120, "met", 120, reopens=1),
    # Saturday, business hours: no business time passes before the answer.
    Seeded(112, "general", "P3", 600, True, at(2026, 12, 5, 10), 3600, "met", 0),
    # Its inbound job waited 700 s on the rate budget.
    Seeded(113, "technical", "P2", 900, False, at(2026, 12, 3, 14), 1000, "missed", 1000,
           "connector_backlog"),
]

PREVIOUS = [
    Seeded(201, "billing", "P2", 1200, False, at(2026, 11, 24, 10), 300, "met", 300),
    Seeded(202, "billing", "P2", 1200, False, at(2026, 11, 25, 10), 2000, "missed", 2000,
           "agent_late"),
    Seeded(203, "outage", "P1", 300, False, at(2026, 11, 27, 10), 100, "met", 100),
]

# Escalations and other engine events: (ticket, kind, rule, seconds after received).
EVENTS = [
    (104, "escalated", "dispute", 300),
    (104, "escalated", "first_response", 900),
    (108, "reminded", None, 100),
    (103, "paged", None, 301),
]

GSM_LONG = "Thanks for waiting. " * 10  # 200 GSM-7 characters: 2 segments
UCS2 = "Merci, c’est réglé 🙂"  # a curly apostrophe and an emoji: UCS-2, 1 segment

# Texts out in the week: (ticket / conversation, source, send_state, status, error, body).
TEXTS_OUT = [
    (101, "ack", "sent", "delivered", None, "Thanks, we got your text."),
    (101, "agent_reply", "sent", "delivered", None, GSM_LONG),
    (102, "agent_reply", "sent", "delivered", None, UCS2),
    (105, "ack", "sent", "undelivered", "30005", "Thanks, we got your text."),
    (111, "agent_reply", "rejected", None, "21610", "We are looking into it."),
    (108, "reminder", "sent", "failed", "30003", "Are you still there?"),
    (112, "keyword", "sent", "delivered", None, "You are unsubscribed."),
]
EXPECTED_DELIVERY = {"sent": 6, "delivered": 4, "failed": 3, "segments": 7, "opt_outs": 1}
EXPECTED_BY_ERROR_CODE = {"21610": 1, "30003": 1, "30005": 1}


def response_at(s: Seeded) -> float | None:
    return None if s.response_after is None else s.received + s.response_after


def seed(engine: Engine) -> None:
    from mappings.business_time import business_due
    from mappings.policy import load_policy

    hours = load_policy().business_hours
    with engine.begin() as conn:
        for s in WEEK + PREVIOUS:
            due = (business_due(hours, s.received, s.target) if s.business
                   else s.received + s.target)
            answered = response_at(s)
            conn.execute(insert(sla_tickets).values(
                helpdesk=HELPDESK, ticket_id=s.ticket_id, conversation_id=s.ticket_id,
                scenario=s.scenario, tier=s.tier, received_at=s.received,
                created_at=s.received + s.filed_after, target_seconds=s.target,
                business_hours=s.business, due_at=due, after_hours=False,
                enforced_by="connector", first_response_at=answered,
                solved_at=None if answered is None else answered + 600, reopens=s.reopens,
                updated_at=s.received))
            conn.execute(insert(messages).values(
                provider="twilio", provider_message_id=f"SM{s.ticket_id}", conversation_id=None,
                channel_key="+15005550006", from_number="+12025550142",
                to_number="+15005550006", body="help", media=[], raw={},
                received_at=s.received, state="delivered", ticket_id=s.ticket_id))
        by_id = {s.ticket_id: s for s in WEEK}
        for n, (ticket, kind, rule, after) in enumerate(EVENTS):
            conn.execute(insert(sla_events).values(
                helpdesk=HELPDESK, ticket_id=ticket, kind=kind, rule=rule,
                at=by_id[ticket].received + after, details={}, dedup=f"seed:{n}"))
        for n, (ticket, source, state, status, error, body) in enumerate(TEXTS_OUT):
            s = by_id[ticket]
            created = s.received + (2 if source == "ack" else (s.response_after or 60) + 1)
            conn.execute(insert(outbound).values(
                conversation_id=ticket, ticket_id=None if source == "ack" else ticket,
                source=source, source_id=f"seed-{n}", part=1, provider="twilio",
                to_number="+12025550142", body=body, media_urls=[], send_state=state,
                status=status, error_code=error, noted=False, created_at=created,
                updated_at=created))
        slow = by_id[113]
        conn.execute(insert(jobs).values(
            kind="inbound", conversation_key="c:113", payload={"conversation_id": 113},
            status="done", attempts=1, max_attempts=8, run_at=slow.received,
            created_at=slow.received, updated_at=slow.received + 700,
            finished_at=slow.received + 700))
        quick = by_id[101]  # a job that ran at once: no backlog
        conn.execute(insert(jobs).values(
            kind="inbound", conversation_key="c:101", payload={"conversation_id": 101},
            status="done", attempts=1, max_attempts=8, run_at=quick.received,
            created_at=quick.received, updated_at=quick.received + 3,
            finished_at=quick.received + 3))
        conn.execute(insert(opt_outs).values(phone="+12025550199", channel_key="+15005550006",
                                             opted_out_at=at(2026, 12, 2, 12), source="keyword"))
        conn.execute(insert(opt_outs).values(phone="+12025550198", channel_key="+15005550006",
                                             opted_out_at=at(2026, 11, 25, 12), source="keyword"))
