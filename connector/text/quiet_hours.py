"""Quiet hours: when a text nobody asked for (a reminder) may reach a customer.

Proactive texts go out only between ``start`` and ``end`` (08:00-21:00 by default) in the
customer's local time. The zone comes from the number (phonenumbers' time-zone metadata for its
region: https://github.com/google/libphonenumber, ``timezone.time_zones_for_number``); a number
whose region spans several zones (a US toll-free number, a mobile range of a large country) must
be inside the window in every one of them, so no zone gets a text at night; a number the metadata
cannot place uses ``fallback`` (the pack's business-hours zone).

Pure: the caller gives the instant.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezones

__all__ = ["QUIET_END", "QUIET_START", "customer_zones", "is_allowed", "next_allowed"]

QUIET_START = time(8, 0)
QUIET_END = time(21, 0)
_UNKNOWN = "Etc/Unknown"  # what the metadata answers for a number it cannot place


def customer_zones(phone: str, fallback: str) -> tuple[ZoneInfo, ...]:
    """The time zones a number may be in (its region's), else ``fallback``."""
    names: tuple[str, ...] = ()
    try:
        parsed = phonenumbers.parse(phone, None)
        names = tuple(phone_timezones.time_zones_for_number(parsed))
    except phonenumbers.NumberParseException:
        pass
    zones = []
    for name in names:
        if name == _UNKNOWN:
            continue
        try:
            zones.append(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):  # metadata newer than the zone database
            continue
    return tuple(zones) or (ZoneInfo(fallback),)


def _inside(at: float, zone: ZoneInfo, start: time, end: time) -> bool:
    local = datetime.fromtimestamp(at, zone).time()
    return start <= local < end


def is_allowed(phone: str, at: float, *, fallback: str, start: time = QUIET_START,
               end: time = QUIET_END) -> bool:
    return all(_inside(at, zone, start, end) for zone in customer_zones(phone, fallback))


def next_allowed(phone: str, at: float, *, fallback: str, start: time = QUIET_START,
                 end: time = QUIET_END) -> float | None:
    """``at`` when a proactive text may go out then, else the first instant after it when it
    may; None when the zones never share an open moment (e.g. zones 12 hours apart with a
    13-hour window: nothing is sent rather than waking someone)."""
    zones = customer_zones(phone, fallback)
    if all(_inside(at, zone, start, end) for zone in zones):
        return at
    # A window shared by every zone opens when one of them reaches ``start``: try each zone's
    # next openings, earliest first.
    candidates = []
    for zone in zones:
        day = datetime.fromtimestamp(at, zone).date()
        for offset in range(3):
            opening = datetime.combine(day + timedelta(days=offset), start, tzinfo=zone)
            if opening.timestamp() > at:
                candidates.append(opening.timestamp())
    for candidate in sorted(candidates):
        if all(_inside(candidate, zone, start, end) for zone in zones):
            return candidate
    return None
