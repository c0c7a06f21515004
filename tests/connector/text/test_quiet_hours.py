"""Quiet hours for proactive texts (connector/text/quiet_hours.py)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from connector.text.quiet_hours import customer_zones, is_allowed, next_allowed

NY = "America/New_York"


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def test_the_zone_comes_from_the_number_else_the_fallback():
    assert customer_zones("+12025550142", NY) == (ZoneInfo("America/New_York"),)
    assert ZoneInfo("Europe/London") in customer_zones("+447911123456", NY)  # and the isles
    assert customer_zones("not a number \u2603", "Europe/Paris") == (ZoneInfo("Europe/Paris"),)
    assert len(customer_zones("+18005550100", NY)) > 10  # toll-free: the whole plan


def test_inside_the_window_a_text_goes_now_outside_it_waits_for_8_local():
    wednesday_22_ny = utc(2026, 12, 10, 3, 0)
    assert not is_allowed("+12025550142", wednesday_22_ny, fallback=NY)
    assert next_allowed("+12025550142", wednesday_22_ny, fallback=NY) == utc(2026, 12, 10, 13, 0)
    # The same instant is 03:00 in London: 08:00 London comes five hours earlier than New York's.
    assert next_allowed("+447911123456", wednesday_22_ny, fallback=NY) == utc(2026, 12, 10, 8, 0)
    noon_ny = utc(2026, 12, 9, 17, 0)
    assert next_allowed("+12025550142", noon_ny, fallback=NY) == noon_ny


def test_a_number_of_several_zones_waits_until_every_one_is_awake():
    at = utc(2026, 12, 9, 13, 0)  # 08:00 New York, 05:00 Los Angeles
    assert not is_allowed("+18005550100", at, fallback=NY)
    allowed = next_allowed("+18005550100", at, fallback=NY)
    assert allowed is not None and allowed > at
    for zone in customer_zones("+18005550100", NY):
        local = datetime.fromtimestamp(allowed, zone).time()
        assert time(8, 0) <= local < time(21, 0), zone


def test_zones_that_never_share_the_window_get_no_proactive_text():
    assert next_allowed("+12025550142", utc(2026, 12, 9, 17, 0), fallback=NY,
                        start=time(23, 0), end=time(23, 30)) is not None
    # Australia's mainland and Lord Howe, Christmas Island ... a window of a few minutes that
    # no two zones share: nothing rather than a text at night.
    assert next_allowed("+61412345678", utc(2026, 12, 9, 17, 0), fallback=NY,
                        start=time(8, 0), end=time(8, 5)) is None
