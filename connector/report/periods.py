"""Report windows: ``--since 7d`` / ``--until 2026-12-07``, and the last whole ISO week."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from connector.config_fields import parse_duration

__all__ = ["iso_week", "last_iso_week", "parse_moment"]


def parse_moment(value: str, *, now: float, timezone: str) -> float:
    """UNIX seconds of ``value``: a duration back from ``now`` (``7d``, ``36h``), ``now``, or an
    ISO date / date-time (local to ``timezone`` unless it carries an offset).

    ValueError naming the value otherwise.
    """
    text = value.strip()
    if text.lower() == "now":
        return now
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a duration or a date: {value!r} (use e.g. 7d, 36h, 2026-11-30 "
                         "or 2026-11-30T09:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment.timestamp()


def iso_week(day: date, timezone: str) -> tuple[float, float, str]:
    """The ISO week holding ``day``: (Monday 00:00, next Monday 00:00) local, and its name
    (``2026-W49``)."""
    zone = ZoneInfo(timezone)
    monday = day - timedelta(days=day.weekday())
    year, week, _ = monday.isocalendar()
    start = datetime.combine(monday, time(0), tzinfo=zone).timestamp()
    end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=zone).timestamp()
    return start, end, f"{year}-W{week:02d}"


def last_iso_week(now: float, timezone: str) -> tuple[float, float, str]:
    """The last ISO week that is over at ``now``."""
    today = datetime.fromtimestamp(now, ZoneInfo(timezone)).date()
    return iso_week(today - timedelta(days=7), timezone)
