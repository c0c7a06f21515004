"""The SLA ledger (connector/store/sla.py), on SQLite and PostgreSQL (conftest.database_url)."""

from __future__ import annotations

from connector.store import reading
from connector.store.sla import (
    count_events,
    events_between,
    events_for,
    first_response,
    get_ticket,
    open_ticket,
    record_event,
    reopened,
    solved,
    tickets_between,
)

T0 = 1_800_000_000.0


def opened(engine, ticket_id=7, received=T0, **overrides) -> bool:
    values = dict(helpdesk="zendesk", ticket_id=ticket_id, conversation_id=1, scenario="general",
                  tier="P3", received_at=received, created_at=received + 2, target_seconds=600.0,
                  business_hours=False, due_at=received + 600, after_hours=False,
                  enforced_by="connector", now=received)
    values.update(overrides)
    with engine.begin() as conn:
        return open_ticket(conn, **values)


def ticket(engine, ticket_id=7):
    with reading(engine) as conn:
        return get_ticket(conn, "zendesk", ticket_id)


def test_a_ticket_is_recorded_once_and_a_replay_changes_nothing(engine):
    assert opened(engine)
    assert not opened(engine, scenario="billing", received=T0 + 50)
    row = ticket(engine)
    assert (row.scenario, row.received_at, row.target_seconds) == ("general", T0, 600.0)
    assert row.first_response_at is None and row.reopens == 0
    with reading(engine) as conn:
        assert get_ticket(conn, "freshdesk", 7) is None  # another helpdesk's 7 is another ticket


def test_the_earliest_agent_reply_is_the_first_response_whatever_the_order_seen(engine):
    opened(engine)
    with engine.begin() as conn:
        assert first_response(conn, "zendesk", 7, T0 + 300, now=T0 + 400)
        assert not first_response(conn, "zendesk", 7, T0 + 500, now=T0 + 500)  # later: kept
        assert first_response(conn, "zendesk", 7, T0 + 120, now=T0 + 600)  # earlier: wins
        assert not first_response(conn, "zendesk", 99, T0, now=T0)  # not ours: nothing
    assert ticket(engine).first_response_at == T0 + 120


def test_solved_keeps_the_first_time_and_a_reopening_counts_once_per_solving(engine):
    opened(engine)
    with engine.begin() as conn:
        assert not reopened(conn, "zendesk", 7, now=T0)  # never solved: no reopening
        assert solved(conn, "zendesk", 7, T0 + 100, now=T0 + 100)
        assert not solved(conn, "zendesk", 7, T0 + 200, now=T0 + 200)  # told again
        assert reopened(conn, "zendesk", 7, now=T0 + 300)
        assert not reopened(conn, "zendesk", 7, now=T0 + 301)  # the same reopening, retold
        assert solved(conn, "zendesk", 7, T0 + 400, now=T0 + 400)
        assert reopened(conn, "zendesk", 7, now=T0 + 500)
    row = ticket(engine)
    assert row.reopens == 2 and row.solved_at is None


def test_an_event_is_recorded_once_per_dedup_key(engine):
    with engine.begin() as conn:
        assert record_event(conn, helpdesk="zendesk", ticket_id=7, kind="escalated",
                            rule="first_response", at=T0, dedup="escalated:zendesk:7:fr",
                            details={"late_seconds": 1.5, "note": "caf\u00e9 \u2615"})
        assert not record_event(conn, helpdesk="zendesk", ticket_id=7, kind="escalated",
                                rule="first_response", at=T0 + 9, dedup="escalated:zendesk:7:fr")
        assert record_event(conn, helpdesk="zendesk", ticket_id=7, kind="reminded", rule=None,
                            at=T0 + 5, dedup="x" * 400)  # a long key is cut, not refused
    with reading(engine) as conn:
        events = events_for(conn, "zendesk", 7)
        assert [(e.kind, e.at) for e in events] == [("escalated", T0), ("reminded", T0 + 5)]
        assert events[0].details == {"late_seconds": 1.5, "note": "caf\u00e9 \u2615"}
        assert count_events(conn, "escalated", "first_response") == 1
        assert count_events(conn, "escalated", "dispute") == 0


def test_a_week_is_read_by_when_the_customer_wrote(engine):
    day = 86_400.0
    for n in range(10):
        opened(engine, ticket_id=n, received=T0 + n * day)
        with engine.begin() as conn:
            record_event(conn, helpdesk="zendesk", ticket_id=n, kind="escalated", rule="r",
                         at=T0 + n * day + 60, dedup=f"e{n}")
    with reading(engine) as conn:
        week = tickets_between(conn, T0 + day, T0 + 8 * day)
        assert [t.ticket_id for t in week] == list(range(1, 8))  # since inclusive, until not
        assert tickets_between(conn, T0, T0 + day, helpdesk="freshdesk") == []
        assert [e.ticket_id for e in events_between(conn, T0, T0 + 2 * day)] == [0, 1]
