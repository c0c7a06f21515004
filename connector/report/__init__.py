"""The weekly SLA review: ``sms-connector report`` and the file the scheduler writes each week.

Read from the connector's own records (the SLA ledger in connector/store/sla.py and the store's
texts, opt-outs and jobs), never from the helpdesk: the review costs no API call and counts what
the connector saw happen.

- data.py: the queries, one read-only transaction per window;
- compute.py: first-response compliance per scenario and tier, misses and their causes (the
  precedence is in its docstring), delivery and cost figures;
- render_text.py, render_json.py, render_html.py (+ charts.py, SVG drawn by matplotlib);
- weekly.py: the scheduler's weekly file (``[report] weekly_to``).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine

from connector.report.compute import Report, compute
from connector.report.data import load
from connector.store import reading
from mappings.policy import BusinessHours

__all__ = ["Report", "build_report"]


def build_report(engine: Engine, *, since: float, until: float, as_of: float,
                 hours: BusinessHours | None, backlog_after: float = 120.0,
                 helpdesk: str | None = None, previous: bool = True,
                 progress: Callable[[int, int], None] | None = None) -> Report:
    """The report of [since, until) as seen at ``as_of``, with the window of the same length
    before it as ``previous`` (the trend). ``progress(done, total)`` hears how many tickets of
    both windows have been measured."""
    span = until - since
    with reading(engine) as conn:
        records = load(conn, since, until, as_of, helpdesk)
        earlier = load(conn, since - span, since, as_of, helpdesk) if previous else None
    total = len(records.tickets) + (len(earlier.tickets) if earlier is not None else 0)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(n, total)

    report = compute(records, hours, backlog_after=backlog_after, progress=advance)
    if earlier is not None:
        report.previous = compute(earlier, hours, backlog_after=backlog_after, progress=advance)
    return report
