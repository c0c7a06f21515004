"""Outage clusters in the store (migration 0008): reports, the open cluster, sending slots.

- ``outage_reports``: one row per ticket whose text reported the service down (unique on the
  helpdesk and ticket: a retried job records it once), with the customer's number, channel and
  when they wrote; ``cluster_id`` once it counts toward a cluster, ``linked_at`` once the ticket
  is linked under the cluster's problem / tracker.
- ``outage_clusters``: ``open_key`` is ``"<helpdesk>:<scenario>"`` while the cluster is open and
  NULL once closed. It is unique, so whichever worker inserts it first forms THE cluster; every
  other one finds its insert ignored and joins (no read-then-write race, SQLite or PostgreSQL).
- ``send_slots``: each channel's next free moment for a fan-out text, taken under a row lock, so
  texts queued by several workers are spaced to the channel's sending rate together.

Every function runs in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    Float,
    Index,
    RowMapping,
    String,
    Table,
    UniqueConstraint,
    func,
    select,
    update,
)

from connector.store import Id, insert_ignore, metadata

__all__ = [
    "claim_reports",
    "close_cluster",
    "cluster",
    "cluster_of_problem",
    "distinct_reporters",
    "join_cluster",
    "mark_linked",
    "open_cluster",
    "outage_clusters",
    "outage_reports",
    "record_report",
    "report",
    "reports_of",
    "send_slots",
    "set_problem",
    "take_slots",
    "try_open",
]

outage_clusters = Table(
    "outage_clusters",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("helpdesk", String(16), nullable=False),
    Column("scenario", String(32), nullable=False),
    Column("open_key", String(64)),
    Column("opened_at", Float, nullable=False),
    Column("closed_at", Float),
    Column("problem_key", String(64), nullable=False),  # the creation's idempotency key
    Column("problem_attempted_at", Float),
    Column("problem_id", BigInteger),
    Column("priority", String(16)),  # the reports' priority (PRIORITY_*, from triage)
    Column("latest_comment_id", BigInteger),
    Column("latest_update", JSON),  # the newest public update's texts (its parts)
    UniqueConstraint("open_key", name="uq_outage_clusters_open_key"),
    Index("ix_outage_clusters_problem", "helpdesk", "problem_id"),
)

outage_reports = Table(
    "outage_reports",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("helpdesk", String(16), nullable=False),
    Column("scenario", String(32), nullable=False),
    Column("ticket_id", BigInteger, nullable=False),
    Column("conversation_id", BigInteger, nullable=False),
    Column("phone", String(32), nullable=False),
    Column("channel_key", String(64), nullable=False),
    Column("reported_at", Float, nullable=False),
    Column("cluster_id", BigInteger),
    Column("linked_at", Float),
    Column("told_cluster_id", BigInteger),  # its acknowledgement was this cluster's text
    UniqueConstraint("helpdesk", "ticket_id", name="uq_outage_reports_ticket"),
    Index("ix_outage_reports_window", "helpdesk", "scenario", "cluster_id", "reported_at"),
    Index("ix_outage_reports_cluster", "cluster_id"),
)

send_slots = Table(
    "send_slots",
    metadata,
    Column("channel_key", String(64), primary_key=True),
    Column("next_at", Float, nullable=False),
)


def open_key(helpdesk: str, scenario: str) -> str:
    return f"{helpdesk}:{scenario}"


def record_report(conn: Connection, *, helpdesk: str, scenario: str, ticket_id: int,
                  conversation_id: int, phone: str, channel_key: str, reported_at: float,
                  told_cluster_id: int | None) -> bool:
    """The report of ``ticket_id``; False when it was recorded before."""
    return insert_ignore(conn, outage_reports, {
        "helpdesk": helpdesk, "scenario": scenario, "ticket_id": int(ticket_id),
        "conversation_id": int(conversation_id), "phone": phone, "channel_key": channel_key,
        "reported_at": reported_at, "cluster_id": None, "linked_at": None,
        "told_cluster_id": told_cluster_id,
    })


def report(conn: Connection, helpdesk: str, ticket_id: int) -> RowMapping | None:
    return conn.execute(select(outage_reports).where(
        outage_reports.c.helpdesk == helpdesk,
        outage_reports.c.ticket_id == int(ticket_id))).mappings().first()


def open_cluster(conn: Connection, helpdesk: str, scenario: str) -> RowMapping | None:
    return conn.execute(select(outage_clusters).where(
        outage_clusters.c.open_key == open_key(helpdesk, scenario))).mappings().first()


def cluster(conn: Connection, cluster_id: int) -> RowMapping:
    return conn.execute(select(outage_clusters).where(
        outage_clusters.c.id == int(cluster_id))).mappings().one()


def cluster_of_problem(conn: Connection, helpdesk: str, problem_id: int) -> RowMapping | None:
    return conn.execute(select(outage_clusters).where(
        outage_clusters.c.helpdesk == helpdesk,
        outage_clusters.c.problem_id == int(problem_id))).mappings().first()


def distinct_reporters(conn: Connection, helpdesk: str, scenario: str, since: float) -> int:
    """Distinct numbers among the reports since ``since`` that no cluster has counted."""
    r = outage_reports.c
    return int(conn.execute(
        select(func.count(func.distinct(r.phone))).where(
            r.helpdesk == helpdesk, r.scenario == scenario, r.cluster_id.is_(None),
            r.reported_at >= since)).scalar_one())


def try_open(conn: Connection, *, helpdesk: str, scenario: str, now: float,
             problem_key: str, priority: str | None = None) -> int | None:
    """Form the scenario's cluster; None when another one is open (it won the race)."""
    if not insert_ignore(conn, outage_clusters, {
            "helpdesk": helpdesk, "scenario": scenario,
            "open_key": open_key(helpdesk, scenario), "opened_at": now, "closed_at": None,
            "problem_key": problem_key, "problem_attempted_at": None, "problem_id": None,
            "latest_comment_id": None, "latest_update": None, "priority": priority}):
        return None
    row = open_cluster(conn, helpdesk, scenario)
    assert row is not None
    return int(row["id"])


def claim_reports(conn: Connection, cluster_id: int, helpdesk: str, scenario: str,
                  since: float) -> int:
    """The reports the cluster was formed from join it; how many."""
    r = outage_reports.c
    return int(conn.execute(update(outage_reports).where(
        r.helpdesk == helpdesk, r.scenario == scenario, r.cluster_id.is_(None),
        r.reported_at >= since).values(cluster_id=int(cluster_id))).rowcount or 0)


def join_cluster(conn: Connection, report_id: int, cluster_id: int) -> None:
    conn.execute(update(outage_reports).where(
        outage_reports.c.id == int(report_id), outage_reports.c.cluster_id.is_(None))
        .values(cluster_id=int(cluster_id)))


def reports_of(conn: Connection, cluster_id: int) -> list[RowMapping]:
    return list(conn.execute(select(outage_reports).where(
        outage_reports.c.cluster_id == int(cluster_id)).order_by(outage_reports.c.id))
        .mappings())


def mark_linked(conn: Connection, report_ids: Sequence[int], at: float) -> None:
    if report_ids:
        conn.execute(update(outage_reports).where(
            outage_reports.c.id.in_([int(i) for i in report_ids]),
            outage_reports.c.linked_at.is_(None)).values(linked_at=at))


def set_problem(conn: Connection, cluster_id: int, **values: Any) -> None:
    conn.execute(update(outage_clusters).where(outage_clusters.c.id == int(cluster_id))
                 .values(**values))


def close_cluster(conn: Connection, cluster_id: int, at: float) -> bool:
    """Close it (its problem was solved); True when this call did. Reports after this count
    toward a new cluster."""
    return bool(conn.execute(update(outage_clusters).where(
        outage_clusters.c.id == int(cluster_id), outage_clusters.c.open_key.is_not(None))
        .values(open_key=None, closed_at=at)).rowcount)


def take_slots(conn: Connection, channel_key: str, count: int, spacing: float,
               now: float) -> list[float]:
    """``count`` sending moments ``spacing`` seconds apart on ``channel_key``, from its next
    free one (or now): the row is locked while it moves, so concurrent callers never share a
    moment."""
    insert_ignore(conn, send_slots, {"channel_key": channel_key, "next_at": now})
    current = float(conn.execute(select(send_slots.c.next_at).where(
        send_slots.c.channel_key == channel_key).with_for_update()).scalar_one())
    start = max(now, current)
    slots = [start + i * spacing for i in range(count)]
    conn.execute(update(send_slots).where(send_slots.c.channel_key == channel_key)
                 .values(next_at=start + count * spacing))
    return slots
