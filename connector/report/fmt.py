"""Formatting the text and the HTML report share: durations, shares, trends, the window."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from connector.report.compute import Report, ScenarioStats

__all__ = ["duration", "label", "percent", "previous_of", "trend", "window"]


def duration(seconds: float | None) -> str:
    """``4m 05s`` / ``2h 10m`` / ``1d 3h``; ``-`` for none."""
    if seconds is None:
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def percent(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.1f}%"


def trend(now: float | None, before: float | None) -> str:
    """The change of a share in percentage points: ``+2.5 pts``; empty when either is unknown."""
    if now is None or before is None:
        return ""
    return f"{(now - before) * 100:+.1f} pts"


def label(stats: ScenarioStats) -> str:
    return f"{stats.scenario} ({stats.tier})" if stats.tier else stats.scenario


def window(report: Report) -> str:
    zone = ZoneInfo(report.timezone)

    def at(epoch: float) -> str:
        return datetime.fromtimestamp(epoch, zone).strftime("%a %Y-%m-%d %H:%M")

    return f"{at(report.since)} to {at(report.until)} ({report.timezone})"


def previous_of(report: Report, stats: ScenarioStats) -> ScenarioStats | None:
    """The same scenario and tier in the week before, if it had tickets."""
    if report.previous is None:
        return None
    if stats.scenario == "all":
        return report.previous.total
    for other in report.previous.scenarios:
        if (other.scenario, other.tier) == (stats.scenario, stats.tier):
            return other
    return None
