"""Business-time arithmetic: when a target counted in business hours falls due.

``business_due(hours, start, seconds)`` is the first instant at which ``seconds`` of open time
(the pack's weekly intervals, in its time zone, holidays closed) have passed since ``start``;
``business_seconds(hours, start, end)`` is its inverse, the open time between two instants (the
weekly report measures a first response counted in business hours with it).
Open windows are built from local wall-clock times and measured in UNIX seconds, so a day on
which the clocks change counts the hours it really has (a 09:00-18:00 window is 9 hours either
side of a DST change, because the change happens at night; an interval spanning it counts one
hour more or less). Overnight intervals (``end`` before ``start``) do not exist in the pack:
``BusinessHours.is_open`` reads ``start <= t < end`` too.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from mappings.policy import WEEKDAYS, BusinessHours

__all__ = ["business_due", "business_seconds", "open_windows"]

# A pack that is never open (no intervals, or a holiday covering years) must not loop for ever.
MAX_DAYS = 3 * 366


def open_windows(hours: BusinessHours, day: date) -> list[tuple[float, float]]:
    """The open windows of one local ``day`` as (start, end) UNIX seconds, merged and sorted."""
    if any(h.covers(day) for h in hours.holidays):
        return []
    zone = ZoneInfo(hours.timezone)
    weekday = WEEKDAYS[day.weekday()]
    spans = sorted(
        (datetime.combine(day, i.start, tzinfo=zone).timestamp(),
         datetime.combine(day, i.end, tzinfo=zone).timestamp())
        for i in hours.intervals if weekday in i.days and i.start < i.end
    )
    merged: list[tuple[float, float]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def business_due(hours: BusinessHours, start: float, seconds: float) -> float:
    """UNIX seconds at which ``seconds`` of business time have passed since ``start``.

    ValueError when the business hours never open again within ``MAX_DAYS``.
    """
    if seconds <= 0:
        return start
    remaining = float(seconds)
    day = datetime.fromtimestamp(start, ZoneInfo(hours.timezone)).date()
    for _ in range(MAX_DAYS):
        for open_at, close_at in open_windows(hours, day):
            begin = max(open_at, start)
            if begin >= close_at:
                continue
            if close_at - begin >= remaining:
                return begin + remaining
            remaining -= close_at - begin
        day += timedelta(days=1)
    raise ValueError(f"business hours {hours.name!r} do not open within {MAX_DAYS} days")


def business_seconds(hours: BusinessHours, start: float, end: float) -> float:
    """Seconds of business time between UNIX seconds ``start`` and ``end`` (0 when ``end`` is
    not after ``start``): ``business_seconds(h, s, business_due(h, s, n)) == n``.

    Walks the local days from ``start``'s to ``end``'s, so its cost grows with the span (a span
    of years is capped at ``MAX_DAYS``: what a report could ask for stays well inside it).
    """
    if end <= start:
        return 0.0
    zone = ZoneInfo(hours.timezone)
    day = datetime.fromtimestamp(start, zone).date()
    last = datetime.fromtimestamp(end, zone).date()
    total = 0.0
    for _ in range(MAX_DAYS):
        for open_at, close_at in open_windows(hours, day):
            begin, finish = max(open_at, start), min(close_at, end)
            if finish > begin:
                total += finish - begin
        if day >= last:
            break
        day += timedelta(days=1)
    return total
