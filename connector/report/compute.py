"""The report's arithmetic, from the records data.py read: no SQL, no clock, no I/O.

First response, per ticket of the ledger:

- measured from the customer's first text (``received_at``) to the first public agent reply
  (``first_response_at``), in business seconds when the scenario counts its target in business
  hours (``mappings.business_time.business_seconds``), else in wall-clock seconds;
- **met** when that is within the scenario's target, **missed** when not; a ticket not answered
  by ``as_of`` is **missed** once its due time has passed (measured up to ``as_of``), else
  **open**; a ticket without a target (no scenario) counts as a ticket only;
- median and p90 are of the answered tickets (late ones included); p90 is the nearest-rank
  value (the ceil(0.9 n)-th smallest).

Each miss gets one cause, the first of these that applies (``CAUSES`` is that order). The
connector's own failures come first, so a miss the connector caused is never put on an agent:

1. ``connector_backlog``: the ticket was filed more than ``backlog_after`` after the customer's
   first text, or a job naming its conversation or the ticket, queued while its clock ran, waited
   longer than that (rate budget, a helpdesk outage, a stopped worker);
2. ``delivery_failure``: the acknowledgement or the first agent reply was refused by the SMS
   provider or reported failed / undelivered;
3. ``after_hours``: the text arrived outside business hours on a scenario whose target runs
   around the clock (a staffing gap, not one agent's);
4. ``escalated``: escalated by a rule other than the first-response one (dispute, high value,
   outage, loops …) before it was answered: a hand-over took the time;
5. ``waiting_on_customer``: before the answer, the engine was waiting on the customer (a
   reminder sent, a no-customer-response escalation, solved for silence);
6. ``agent_late``: none of the above.

Delivery: ``sent`` counts texts the provider accepted (``send_state`` sent); ``failed`` counts
texts refused (rejected) or reported failed / undelivered, by error code; ``delivered`` those
reported delivered (or read); segments are of the texts sent, counted as the provider bills
them (connector/text/sms_text.py); UCS-2 texts and texts of more than one segment are the cost
drivers.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from connector.report.data import JobWait, OutText, Records
from connector.store.sla import SlaEvent, SlaTicket
from connector.text.sms_text import UCS2, segment_info
from mappings.business_time import business_seconds
from mappings.policy import BusinessHours

__all__ = [
    "CAUSES",
    "CAUSE_LABELS",
    "Delivery",
    "Miss",
    "Outcome",
    "Report",
    "ScenarioStats",
    "compute",
    "p90",
]

BACKLOG, DELIVERY, AFTER_HOURS, ESCALATED, WAITING, AGENT = (
    "connector_backlog", "delivery_failure", "after_hours", "escalated", "waiting_on_customer",
    "agent_late")
CAUSES = (BACKLOG, DELIVERY, AFTER_HOURS, ESCALATED, WAITING, AGENT)
CAUSE_LABELS = {
    BACKLOG: "connector backlog", DELIVERY: "delivery failure", AFTER_HOURS: "after hours",
    ESCALATED: "escalated", WAITING: "waiting on customer", AGENT: "agent late",
}
MET, MISSED, OPEN, NO_TARGET = "met", "missed", "open", "no_target"
UNCLASSIFIED = "unclassified"

# Escalation rules that are not a hand-over: the first-response one is the miss itself; the
# no-customer-response one means the ball is in the customer's court.
_NOT_HANDOVER = frozenset({"first_response", "no_customer_response"})
_FAILED_STATUSES = frozenset({"failed", "undelivered"})
_DELIVERED_STATUSES = frozenset({"delivered", "read"})


@dataclass(frozen=True)
class Outcome:
    ticket: SlaTicket
    state: str  # met | missed | open | no_target
    seconds: float | None  # counted to the first response; to as_of for an unanswered miss
    cause: str | None = None


@dataclass(frozen=True)
class Miss:
    ticket_id: int
    scenario: str
    tier: str | None
    target_seconds: float
    actual_seconds: float
    answered: bool
    cause: str


@dataclass
class ScenarioStats:
    scenario: str
    tier: str | None
    target_seconds: float | None = None
    business_hours: bool = False
    tickets: int = 0
    met: int = 0
    missed: int = 0
    open: int = 0
    reopened: int = 0  # tickets reopened at least once
    escalations: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)  # reminded, auto_solved, paged …
    responses: list[float] = field(default_factory=list)  # answered tickets' counted seconds

    @property
    def median_seconds(self) -> float | None:
        return statistics.median(self.responses) if self.responses else None

    @property
    def p90_seconds(self) -> float | None:
        return p90(self.responses)

    @property
    def compliance(self) -> float | None:
        """Met share of the decided tickets (met + missed); None when none is decided."""
        decided = self.met + self.missed
        return self.met / decided if decided else None

    @property
    def reopen_rate(self) -> float | None:
        return self.reopened / self.tickets if self.tickets else None


@dataclass
class Delivery:
    received: int = 0  # texts in
    queued: int = 0  # texts out recorded in the window
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    by_error_code: dict[str, int] = field(default_factory=dict)
    segments: int = 0
    ucs2_texts: int = 0
    ucs2_segments: int = 0
    long_texts: int = 0  # more than one segment
    long_segments: int = 0
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)  # sent / segments / failed
    opt_outs: int = 0


@dataclass
class Report:
    since: float
    until: float
    as_of: float
    scenarios: list[ScenarioStats]
    total: ScenarioStats
    outcomes: list[Outcome]
    misses: list[Miss]
    delivery: Delivery
    timezone: str = "UTC"
    previous: Report | None = None

    @property
    def misses_by_cause(self) -> dict[str, int]:
        counts = Counter(m.cause for m in self.misses)
        return {cause: counts.get(cause, 0) for cause in CAUSES}


def p90(values: Iterable[float]) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def _failed(text: OutText) -> bool:
    return text.send_state == "rejected" or text.status in _FAILED_STATUSES


@functools.lru_cache(maxsize=4096)
def _segments(body: str) -> tuple[int, bool]:
    info = segment_info(body)
    return info.segments, info.encoding == UCS2


class _Judge:
    """Measures one ticket and, for a miss, names its cause."""

    def __init__(self, records: Records, hours: BusinessHours | None, backlog_after: float):
        self.records, self.hours, self.backlog_after = records, hours, backlog_after

    def counted(self, ticket: SlaTicket, end: float) -> float:
        if ticket.business_hours and self.hours is not None:
            return business_seconds(self.hours, ticket.received_at, end)
        return max(0.0, end - ticket.received_at)

    def outcome(self, ticket: SlaTicket) -> Outcome:
        if ticket.target_seconds is None:
            answered = ticket.first_response_at
            return Outcome(ticket, NO_TARGET,
                           None if answered is None else self.counted(ticket, answered))
        target = float(ticket.target_seconds)
        if ticket.first_response_at is not None:
            seconds = self.counted(ticket, ticket.first_response_at)
            if seconds <= target:
                return Outcome(ticket, MET, seconds)
            return Outcome(ticket, MISSED, seconds, self.cause(ticket))
        due = ticket.due_at if ticket.due_at is not None else ticket.received_at + target
        if self.records.as_of < due:
            return Outcome(ticket, OPEN, None)
        return Outcome(ticket, MISSED, self.counted(ticket, self.records.as_of),
                       self.cause(ticket))

    def cause(self, ticket: SlaTicket) -> str:
        stop = ticket.first_response_at if ticket.first_response_at is not None \
            else self.records.as_of
        if self._backlog(ticket, stop):
            return BACKLOG
        if self._delivery_failed(ticket):
            return DELIVERY
        if self._after_hours(ticket):
            return AFTER_HOURS
        events = [e for e in self.records.events.get(ticket.ticket_id, ()) if e.at <= stop]
        if any(e.kind == "escalated" and e.rule not in _NOT_HANDOVER for e in events):
            return ESCALATED
        if any(_waiting(e) for e in events):
            return WAITING
        return AGENT

    def _backlog(self, ticket: SlaTicket, stop: float) -> bool:
        if ticket.created_at - ticket.received_at > self.backlog_after:
            return True
        due = ticket.due_at if ticket.due_at is not None else stop
        end = min(stop, due)
        waits: list[JobWait] = list(self.records.jobs_by_ticket.get(ticket.ticket_id, ()))
        if ticket.conversation_id is not None:
            waits += self.records.jobs_by_conversation.get(ticket.conversation_id, ())
        for job in waits:
            if not ticket.received_at - 1 <= job.created_at < end:
                continue
            done = job.finished_at if job.finished_at is not None else self.records.as_of
            if done - job.created_at > self.backlog_after:
                return True
        return False

    def _delivery_failed(self, ticket: SlaTicket) -> bool:
        if ticket.conversation_id is not None:
            for ack in self.records.acks.get(ticket.conversation_id, ()):
                # The ack is queued by the job that files the ticket, before filing it.
                in_window = (ticket.received_at - 1 <= ack.created_at
                             <= ticket.created_at + self.backlog_after)
                if in_window and _failed(ack):
                    return True
        replies = self.records.replies.get(ticket.ticket_id, ())
        if replies:
            first = min(replies, key=lambda t: (t.created_at, t.id)).source_id
            return any(_failed(t) for t in replies if t.source_id == first)
        return False

    def _after_hours(self, ticket: SlaTicket) -> bool:
        if ticket.business_hours:
            return False  # its clock stops outside business hours: it cannot be the cause
        if self.hours is None:
            return ticket.after_hours
        return not self.hours.is_open(datetime.fromtimestamp(ticket.received_at, UTC))


def _waiting(event: SlaEvent) -> bool:
    return event.kind in ("reminded", "auto_solved") or (
        event.kind == "escalated" and event.rule == "no_customer_response")


def _delivery(records: Records) -> Delivery:
    out = Delivery(received=records.texts_in, opt_outs=records.opt_outs)
    codes: Counter[str] = Counter()
    for text in records.texts_out:
        out.queued += 1
        source = out.by_source.setdefault(text.source, {"sent": 0, "segments": 0, "failed": 0})
        if _failed(text):
            out.failed += 1
            source["failed"] += 1
            codes[text.error_code or "none"] += 1
        if text.status in _DELIVERED_STATUSES:
            out.delivered += 1
        if text.send_state != "sent":
            continue
        segments, ucs2 = _segments(text.body)
        out.sent += 1
        out.segments += segments
        source["sent"] += 1
        source["segments"] += segments
        if ucs2:
            out.ucs2_texts += 1
            out.ucs2_segments += segments
        if segments > 1:
            out.long_texts += 1
            out.long_segments += segments
    out.by_error_code = dict(sorted(codes.items(), key=lambda kv: (-kv[1], kv[0])))
    return out


def _add(stats: ScenarioStats, outcome: Outcome, events: list[SlaEvent]) -> None:
    ticket = outcome.ticket
    stats.tickets += 1
    stats.met += outcome.state == MET
    stats.missed += outcome.state == MISSED
    stats.open += outcome.state == OPEN
    stats.reopened += ticket.reopens > 0
    if ticket.first_response_at is not None and outcome.seconds is not None:
        stats.responses.append(outcome.seconds)
    for event in events:
        if event.kind == "escalated":
            rule = event.rule or "unknown"
            stats.escalations[rule] = stats.escalations.get(rule, 0) + 1
        else:
            stats.events[event.kind] = stats.events.get(event.kind, 0) + 1


def compute(records: Records, hours: BusinessHours | None, *, backlog_after: float = 120.0,
            progress: Callable[[int], None] | None = None) -> Report:
    """The report of ``records``; ``progress(n)`` hears of every n tickets measured."""
    judge = _Judge(records, hours, backlog_after)
    groups: dict[tuple[str, str | None], ScenarioStats] = {}
    total = ScenarioStats("all", None)
    outcomes: list[Outcome] = []
    misses: list[Miss] = []
    step = 0
    for ticket in records.tickets:
        outcome = judge.outcome(ticket)
        outcomes.append(outcome)
        scenario = ticket.scenario or UNCLASSIFIED
        stats = groups.get((scenario, ticket.tier))
        if stats is None:
            stats = groups[(scenario, ticket.tier)] = ScenarioStats(scenario, ticket.tier)
        if ticket.target_seconds is not None:
            stats.target_seconds = float(ticket.target_seconds)
            stats.business_hours = ticket.business_hours
        events = records.events.get(ticket.ticket_id, [])
        _add(stats, outcome, events)
        _add(total, outcome, events)
        if outcome.state == MISSED:
            misses.append(Miss(ticket.ticket_id, scenario, ticket.tier,
                               float(ticket.target_seconds or 0), round(outcome.seconds or 0, 3),
                               ticket.first_response_at is not None, outcome.cause or AGENT))
        step += 1
        if progress is not None and step == 250:
            progress(step)
            step = 0
    if progress is not None and step:
        progress(step)
    ordered = sorted(groups.values(), key=lambda s: (s.tier or "~", s.scenario))
    return Report(records.since, records.until, records.as_of, ordered, total, outcomes, misses,
                  _delivery(records), timezone=hours.timezone if hours is not None else "UTC")
