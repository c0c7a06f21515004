"""The weekly file: once an ISO week is over, its HTML report in ``[report] weekly_to``.

A periodic job of the scheduler (connector/jobs/scheduler.py) asks every hour; the file's name
(``report-2026-W49.html``) is the record that the week is done, so a restart, a second worker or
a missed hour neither skips a week nor writes one twice. Written to a temporary name and renamed,
so a reader (a mail script watching the folder) never sees half a file.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connector.report import build_report
from connector.report.periods import last_iso_week
from connector.report.render_html import render_html

if TYPE_CHECKING:
    from connector.runtime import Runtime

__all__ = ["WEEKLY_REPORT_JOB", "weekly_handlers", "write_weekly"]

WEEKLY_REPORT_JOB = "weekly_report"

log = logging.getLogger("sms_connector.report")


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(temp, 0o644)  # a report holds no customer text or phone: readable by the team
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_weekly(runtime: Runtime) -> Path | None:
    """Write last week's report unless it is there already; its path, or None."""
    folder = runtime.settings.report.weekly_to
    if not folder:
        return None
    hours = runtime.policy.business_hours
    now = runtime.clock.now()
    since, until, name = last_iso_week(now, hours.timezone)
    path = Path(folder).expanduser() / f"report-{name}.html"
    if path.exists():
        return None
    report = build_report(runtime.engine, since=since, until=until, as_of=now, hours=hours,
                          backlog_after=runtime.settings.report.backlog_after,
                          helpdesk=runtime.settings.helpdesk.kind)
    write_atomically(path, render_html(report))
    log.info("weekly report written", extra={"path": str(path), "week": name,
                                             "tickets": report.total.tickets})
    return path


def weekly_handlers(runtime: Runtime) -> dict[str, Callable[[Any], None]]:
    """The weekly job's handler when ``[report] weekly_to`` is set (else none: then the
    scheduler does not schedule it either)."""
    settings = getattr(runtime, "settings", None)  # a stand-in runtime may carry none
    if settings is None or not settings.report.weekly_to:
        return {}

    def weekly_report(_job: Any) -> None:
        write_weekly(runtime)

    return {WEEKLY_REPORT_JOB: weekly_report}
