"""What the admin pages show, read from the connector's own store (and files) only.

Nothing here calls a helpdesk or an SMS provider: a page load must not spend the API budget or
hang on an outside system (ARCHITECTURE.md §2). "Reachable" is therefore told from what the
workers last saw: errors of jobs still retrying or dead, and rate windows paused by a 429.
Phone numbers leave this module masked (``mask_phone``, ``scrub``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from connector.jobs.queue import DEAD, READY
from connector.jobs.scheduler import LEASE_NAME
from connector.logs import scrub
from connector.store import conversations, jobs, opt_outs, rate_windows, reading, timers_table
from connector.store.timers import current_lease
from connector.text.phones import mask_phone

if TYPE_CHECKING:
    from connector.runtime import Runtime

ROWS = 200  # rows per table page: enough to act on, small enough to render at once


@dataclass(frozen=True)
class Budget:
    endpoint_class: str
    calls: int
    window_seconds: float
    used: int
    left: int
    paused_until: float | None


def health(runtime: Runtime, now: float) -> dict[str, Any]:
    """The dashboard: database, queue, scheduler, last known errors, rate budget."""
    out: dict[str, Any] = {"now": now, "database": "ok", "schema": None, "queue": {},
                           "oldest_due_age": None, "scheduler": None, "errors": [],
                           "budget": [], "helpdesk": runtime.settings.helpdesk.kind,
                           "providers": sorted({c.provider for c in runtime.settings.channels})}
    try:
        runtime.database_ok()
    except Exception as exc:  # any driver error: the page still renders and says so
        out["database"] = f"unavailable: {type(exc).__name__}"
        return out
    out["schema"] = "current" if runtime.schema_current() else "outdated: run db upgrade"
    with reading(runtime.engine) as conn:
        out["queue"] = _queue(conn)
        first_due = conn.execute(select(func.min(jobs.c.run_at)).where(
            jobs.c.status == READY, jobs.c.run_at <= now)).scalar()
        out["oldest_due_age"] = None if first_due is None else max(0.0, now - float(first_due))
        lease = current_lease(conn, LEASE_NAME, now=now)
        out["scheduler"] = None if lease is None else {"holder": lease.holder,
                                                       "expires_at": lease.expires_at}
        out["errors"] = _errors(conn)
        out["budget"] = _budget(conn, runtime, now)
    return out


def _queue(conn: Connection) -> dict[str, dict[str, int]]:
    """Jobs by kind, then status."""
    table: dict[str, dict[str, int]] = {}
    rows = conn.execute(select(jobs.c.kind, jobs.c.status, func.count())
                        .group_by(jobs.c.kind, jobs.c.status))
    for kind, status, n in rows:
        table.setdefault(kind, {})[status] = int(n)
    return dict(sorted(table.items()))


def _errors(conn: Connection, limit: int = 8) -> list[dict[str, Any]]:
    # A job's last_error is cleared when it succeeds: what is left are jobs still retrying or
    # dead, i.e. what the helpdesk or the provider is refusing right now.
    rows = conn.execute(
        select(jobs.c.id, jobs.c.kind, jobs.c.status, jobs.c.last_error, jobs.c.updated_at)
        .where(jobs.c.last_error.is_not(None), jobs.c.status.in_((READY, DEAD)))
        .order_by(jobs.c.updated_at.desc()).limit(limit)
    ).mappings()
    return [{"id": r["id"], "kind": r["kind"], "status": r["status"],
             "error": first_line(r["last_error"]), "at": r["updated_at"]} for r in rows]


def _budget(conn: Connection, runtime: Runtime, now: float) -> list[Budget]:
    """Calls left in each account-wide window of the helpdesk in use."""
    from adapters.helpdesk import HELPDESKS

    kind = runtime.settings.helpdesk.kind
    adapter = HELPDESKS.get(kind)
    if adapter is None:
        return []
    try:
        account, limits, _keyed = adapter.rate_limits(runtime.settings.section(kind))
    except Exception:  # an incomplete section: the budget is unknown, not an error page
        return []
    keys = {f"{account}:{name}": name for name in limits}
    rows = {r["key"]: r for r in conn.execute(
        select(rate_windows).where(rate_windows.c.key.in_(list(keys)))).mappings()}
    out = []
    for key, name in keys.items():
        limit, row = limits[name], rows.get(key)
        used = 0
        paused = None
        if row is not None:
            if now - float(row["window_start"]) < limit.window_seconds:
                used = int(row["count"])
            if float(row["blocked_until"] or 0) > now:
                paused = float(row["blocked_until"])
        out.append(Budget(name, limit.calls, limit.window_seconds, used,
                          max(0, limit.calls - used), paused))
    return out


def dead_letters(runtime: Runtime) -> list[dict[str, Any]]:
    return [{"id": d.id, "kind": d.kind, "conversation": scrub(d.conversation_key or ""),
             "attempts": d.attempts, "error": first_line(d.last_error),
             "finished_at": d.finished_at}
            for d in runtime.queue.dead_letters(limit=ROWS)]


def recent_conversations(runtime: Runtime) -> list[dict[str, Any]]:
    from adapters.helpdesk import HELPDESKS

    kind = runtime.settings.helpdesk.kind
    # Adapters may learn to name a ticket's agent URL; until then the page shows the id.
    url_of = getattr(HELPDESKS.get(kind), "ticket_url", None)
    section = runtime.settings.sections.get(kind)
    with reading(runtime.engine) as conn:
        rows = conn.execute(select(conversations).order_by(conversations.c.updated_at.desc(),
                                                           conversations.c.id.desc())
                            .limit(ROWS)).mappings().all()
    out = []
    for r in rows:
        url = None
        if callable(url_of) and r["ticket_id"] is not None:
            try:
                url = url_of(section, int(r["ticket_id"]))
            except Exception:
                url = None
        out.append({"id": r["id"], "phone": mask_phone(r["customer_phone"]),
                    "channel": scrub(r["channel_key"]), "helpdesk": r["helpdesk"],
                    "ticket_id": r["ticket_id"], "ticket_url": url,
                    "status": r["ticket_status"], "category": r["category"], "tier": r["tier"],
                    "updated_at": r["updated_at"]})
    return out


def opt_out_list(runtime: Runtime) -> list[dict[str, Any]]:
    with reading(runtime.engine) as conn:
        rows = conn.execute(select(opt_outs).order_by(opt_outs.c.opted_out_at.desc())
                            .limit(ROWS)).mappings().all()
    return [{"phone": mask_phone(r["phone"]), "channel": scrub(r["channel_key"]),
             "at": r["opted_out_at"], "source": r["source"]} for r in rows]


def pending_timers(runtime: Runtime) -> list[dict[str, Any]]:
    """Timers not fired yet, soonest first (overdue ones mean the scheduler is behind)."""
    with reading(runtime.engine) as conn:
        rows = conn.execute(select(timers_table).where(timers_table.c.fired_at.is_(None))
                            .order_by(timers_table.c.due_at, timers_table.c.id)
                            .limit(ROWS)).mappings().all()
    return [{"id": r["id"], "kind": r["kind"], "key": scrub(r["key"]), "due_at": r["due_at"]}
            for r in rows]


def coverage_rows(runtime: Runtime) -> list[Any]:
    from mappings.coverage import coverage

    return list(coverage(runtime.policy, runtime.settings.helpdesk.kind))


def report_folder(runtime: Runtime) -> str:
    """``[report] weekly_to``, or "" while that section does not exist or is unset."""
    section = getattr(runtime.settings, "report", None)
    return str(getattr(section, "weekly_to", "") or "")


def latest_report(runtime: Runtime) -> Path | None:
    """The newest regular file in the weekly report folder (None: no folder, no report)."""
    folder = report_folder(runtime)
    if not folder:
        return None
    newest: tuple[float, str] | None = None
    try:
        with os.scandir(Path(folder).expanduser()) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                    continue
                stamp = (entry.stat(follow_symlinks=False).st_mtime, entry.path)
                newest = stamp if newest is None or stamp > newest else newest
    except OSError:
        return None
    return None if newest is None else Path(newest[1])


def first_line(text: str | None) -> str:
    return scrub((text or "").strip().splitlines()[0])[:300] if text and text.strip() else ""
