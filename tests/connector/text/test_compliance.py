"""Keywords (whole message, tolerant of case and punctuation, no false STOPs) and quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from connector.model import KEYWORD_HELP, KEYWORD_START, KEYWORD_STOP
from connector.text.compliance import (
    in_quiet_hours,
    keyword_of,
    local_zones,
)


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        "Stop.",
        " stop! ",
        "STOP 🛑",
        "stop\n",
        "STOPALL",
        "stop all",
        "UNSUBSCRIBE",
        "Cancel",
        "END",
        "quit",
        "Revoke",
        "OPTOUT",
        "opt out",
        "Opt-Out.",
        # Reasonable revocations in plain words (FCC 24-24).
        "stop texting me",
        "Please stop texting me!",
        "STOP PLEASE",
        "stop now",
        "Unsubscribe me",
        "remove me",
        "Remove me from this list",
        "take me off your list",
        "don't text me",
        "Don’t text me anymore",
        "do not text me",
        "no more texts",
        "opt me out",
        "I want to opt out",
        "Stöp",
    ],
)
def test_stop(text: str) -> None:
    assert keyword_of(text) == KEYWORD_STOP


@pytest.mark.parametrize("text", ["START", "start", "Yes", "YES!", "unstop", " Start. "])
def test_start(text: str) -> None:
    assert keyword_of(text) == KEYWORD_START


@pytest.mark.parametrize("text", ["HELP", "help?", "Help!!", "INFO", "info."])
def test_help(text: str) -> None:
    assert keyword_of(text) == KEYWORD_HELP


@pytest.mark.parametrize(
    "text",
    [
        # Customers talking about an order or a service, not revoking consent.
        "my order was cancelled",
        "CANCEL MY ORDER",
        "cancel my subscription",
        "don't stop the service",
        "please don't stop",
        "stop the charges",
        "when does the sale end",
        "the end",
        "the app keeps quitting",
        "remove my card",
        "stopp",
        "stop by the store?",
        # Longer help / yes messages are conversation, not keywords.
        "help me",
        "please help",
        "HELP MY WIFI IS DOWN",
        "yes i did",
        "yes please",
        "info about my order",
        "start date?",
        "ok",
        "",
        "   ",
        "??",
    ],
)
def test_near_misses_are_not_keywords(text: str) -> None:
    assert keyword_of(text) is None


def test_none_is_no_keyword() -> None:
    assert keyword_of(None) is None


# --- quiet hours ------------------------------------------------------------------------------

NEW_YORK = "+12125550123"  # one zone: America/New_York
LONDON = "+442079460000"
TOLL_FREE = "+18005550123"  # North American toll-free: every NANP zone, Hawaii to Newfoundland


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 6, 3, hour, minute, tzinfo=UTC)  # June: New York is UTC-4


def test_local_zones() -> None:
    assert local_zones(NEW_YORK) == ("America/New_York",)
    assert "Europe/London" in local_zones(LONDON)
    assert len(local_zones(TOLL_FREE)) > 3
    assert local_zones("not a number") == ()


@pytest.mark.parametrize(
    ("utc_hour", "utc_minute", "quiet"),
    [
        (11, 59, True),  # 07:59 local
        (12, 0, False),  # 08:00 local: the window opens
        (18, 0, False),  # 14:00
        (0, 59, False),  # 20:59
        (1, 0, True),  # 21:00: the window has closed
        (6, 0, True),  # 02:00
    ],
)
def test_single_zone_number(utc_hour: int, utc_minute: int, quiet: bool) -> None:
    assert in_quiet_hours(NEW_YORK, at(utc_hour, utc_minute)) is quiet


def test_any_aware_datetime_is_accepted() -> None:
    new_york_summer = timezone(timedelta(hours=-4))
    assert not in_quiet_hours(NEW_YORK, datetime(2024, 6, 3, 10, 0, tzinfo=new_york_summer))


def test_custom_window() -> None:
    assert in_quiet_hours(NEW_YORK, at(14), start=11, end=20)  # 10:00 local
    assert not in_quiet_hours(NEW_YORK, at(15), start=11, end=20)


def test_number_spanning_zones_is_quiet_if_quiet_anywhere() -> None:
    # 14:00 UTC: 10:00 in New York, but 04:00 in Honolulu.
    assert not in_quiet_hours(NEW_YORK, at(14))
    assert in_quiet_hours(TOLL_FREE, at(14))
    # NANP reaches Guam (UTC+10) and Newfoundland (UTC-2:30): the only hours awake in all of
    # them are 22:00-24:00 UTC (08:00 in Guam, 19:30 in St. John's, 12:00 in Honolulu).
    assert in_quiet_hours(TOLL_FREE, at(21))  # 07:00 in Guam
    assert not in_quiet_hours(TOLL_FREE, at(22, 30))


def test_other_country() -> None:
    assert not in_quiet_hours(LONDON, at(12))  # 13:00 BST
    assert in_quiet_hours(LONDON, at(21))  # 22:00 BST


def test_unknown_zone_is_quiet_unless_a_fallback_is_given() -> None:
    unknown = "+80012345678"  # international freephone: no geography
    assert local_zones(unknown) == ()
    assert in_quiet_hours(unknown, at(16))
    assert not in_quiet_hours(unknown, at(16), fallback_zone="America/New_York")
    assert in_quiet_hours("garbage", at(16))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        in_quiet_hours(NEW_YORK, datetime(2024, 6, 3, 16, 0))
    with pytest.raises(ValueError, match="start < end"):
        in_quiet_hours(NEW_YORK, at(16), start=21, end=8)
