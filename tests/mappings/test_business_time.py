"""When a target counted in business hours falls due: weekends, holidays, DST, several intervals."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from mappings.business_time import business_due, business_seconds
from mappings.policy import BusinessHours, Holiday, Interval, load_policy

NY = ZoneInfo("America/New_York")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
HOURS = BusinessHours("America/New_York", (Interval(WEEKDAYS, time(9), time(18)),))


def at(*args: int) -> float:
    return datetime(*args, tzinfo=NY).timestamp()


def local(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, NY).replace(tzinfo=None)


def test_inside_hours_it_is_plain_addition():
    assert local(business_due(HOURS, at(2026, 12, 2, 10, 0), 600)) == datetime(2026, 12, 2, 10, 10)


def test_before_opening_the_clock_starts_at_opening():
    assert local(business_due(HOURS, at(2026, 12, 2, 3, 0), 600)) == datetime(2026, 12, 2, 9, 10)


def test_what_is_left_at_closing_carries_to_the_next_morning():
    due = business_due(HOURS, at(2026, 12, 2, 17, 55), 600)
    assert local(due) == datetime(2026, 12, 3, 9, 5)


def test_friday_evening_runs_over_the_weekend_to_monday():
    due = business_due(HOURS, at(2026, 12, 4, 17, 58), 600)  # a Friday
    assert local(due) == datetime(2026, 12, 7, 9, 8)
    sunday_night = business_due(HOURS, at(2026, 12, 6, 23, 0), 600)
    assert local(sunday_night) == datetime(2026, 12, 7, 9, 10)


def test_a_holiday_is_closed_all_day():
    hours = BusinessHours(HOURS.timezone, HOURS.intervals,
                          (Holiday("Christmas Day", date(2026, 12, 25), date(2026, 12, 25)),))
    due = business_due(hours, at(2026, 12, 24, 17, 55), 600)  # Thursday before Christmas
    assert local(due) == datetime(2026, 12, 28, 9, 5)  # Friday closed, weekend, Monday


def test_a_several_day_holiday_and_the_default_pack_s_holidays():
    hours = BusinessHours(HOURS.timezone, HOURS.intervals,
                          (Holiday("Break", date(2026, 12, 28), date(2026, 12, 31)),))
    assert local(business_due(hours, at(2026, 12, 28, 10, 0), 60)) == datetime(2027, 1, 1, 9, 1)
    pack = load_policy().business_hours  # New Year's Day 2027 is in the default pack
    assert local(business_due(pack, at(2026, 12, 31, 17, 59), 120)) == datetime(2027, 1, 4, 9, 1)


def test_dst_spring_forward_weekend_counts_real_seconds():
    # 2027-03-14 02:00 EST -> 03:00 EDT (a Sunday); Friday 17:30 + 1 h = Monday 09:30 EDT.
    due = business_due(HOURS, at(2027, 3, 12, 17, 30), 3600)
    assert local(due) == datetime(2027, 3, 15, 9, 30)
    assert datetime.fromtimestamp(due, NY).utcoffset().total_seconds() == -4 * 3600


def test_dst_inside_an_open_interval_counts_the_hour_the_day_lacks():
    # Open all Sunday 00:00-12:00 on the change day: 12 wall hours but 11 real ones.
    hours = BusinessHours("America/New_York", (Interval(("sun",), time(0), time(12)),))
    due = business_due(hours, at(2027, 3, 14, 0, 0), 11 * 3600)
    assert local(due) == datetime(2027, 3, 14, 12, 0)
    # One second more is next Sunday's first second.
    assert local(business_due(hours, at(2027, 3, 14, 0, 0), 11 * 3600 + 1)) == \
        datetime(2027, 3, 21, 0, 0, 1)


def test_dst_fall_back_day_has_an_hour_more():
    hours = BusinessHours("America/New_York", (Interval(("sun",), time(0), time(12)),))
    due = business_due(hours, at(2026, 11, 1, 0, 0), 12 * 3600)  # 13 real hours that day
    assert local(due) == datetime(2026, 11, 1, 11, 0)


def test_several_intervals_a_day_and_a_saturday_morning():
    hours = BusinessHours("America/New_York", (
        Interval(WEEKDAYS, time(9), time(12)), Interval(WEEKDAYS, time(13), time(17)),
        Interval(("sat",), time(10), time(12))))
    assert local(business_due(hours, at(2026, 12, 2, 11, 55), 600)) == datetime(2026, 12, 2, 13, 5)
    assert local(business_due(hours, at(2026, 12, 4, 16, 55), 600)) == datetime(2026, 12, 5, 10, 5)


def test_zero_is_now_and_never_open_is_an_error():
    assert business_due(HOURS, 1234.5, 0) == 1234.5
    with pytest.raises(ValueError, match="do not open"):
        business_due(BusinessHours("UTC", ()), 0.0, 60)


# --- business_seconds: the open time between two instants (the weekly report's measure) ---

def test_business_seconds_inside_one_window_is_plain_subtraction():
    assert business_seconds(HOURS, at(2026, 12, 2, 10, 0), at(2026, 12, 2, 10, 25)) == 1500


def test_business_seconds_skips_nights_weekends_and_holidays():
    # Friday 17:50 to Monday 9:05: 10 minutes on Friday, 5 on Monday.
    assert business_seconds(HOURS, at(2026, 12, 4, 17, 50), at(2026, 12, 7, 9, 5)) == 900
    # Sunday night to Monday 8:00: closed all the way.
    assert business_seconds(HOURS, at(2026, 12, 6, 22, 0), at(2026, 12, 7, 8, 0)) == 0
    hours = BusinessHours(HOURS.timezone, HOURS.intervals,
                          (Holiday("Christmas Day", date(2026, 12, 25), date(2026, 12, 25)),))
    assert business_seconds(hours, at(2026, 12, 24, 17, 0), at(2026, 12, 28, 10, 0)) == 2 * 3600


def test_business_seconds_is_zero_when_end_is_not_after_start():
    assert business_seconds(HOURS, at(2026, 12, 2, 10, 0), at(2026, 12, 2, 9, 0)) == 0


@pytest.mark.parametrize("start", [at(2026, 12, 2, 3, 0), at(2026, 12, 4, 17, 58),
                                   at(2026, 3, 6, 16, 0), at(2026, 10, 30, 17, 30)])
@pytest.mark.parametrize("seconds", [60, 600, 9 * 3600, 30 * 3600])
def test_business_seconds_inverts_business_due(start, seconds):
    # Across weekends and both 2026 DST changes (8 March, 1 November in New York).
    assert business_seconds(HOURS, start, business_due(HOURS, start, seconds)) == pytest.approx(
        seconds)
