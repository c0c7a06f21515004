"""SMS compliance rules that do not need the store: keywords and quiet hours.

Keywords (../shared/docs/reference/sms.md, CTIA Messaging Principles and Best Practices,
https://www.ctia.org/the-wireless-industry/industry-commitments/messaging-interoperability-sms-mms):
a keyword is the *whole* message, case-insensitive, so "STOP" and " stop! " opt out while "please
stop the service from cancelling" does not. The FCC's 2024 TCPA order (FCC 24-24, 47 CFR
64.1200(a)(10)) requires honouring revocation "by any reasonable means" and names stop, quit, end,
revoke, opt out, cancel and unsubscribe as per-se revocations; beyond the CTIA words we accept a
small, documented set of unmistakable phrases (``_STOP_PHRASES``) and nothing looser — a false STOP
silences a customer mid-conversation, while the text itself still reaches the ticket for an agent.

Quiet hours (8:00-21:00 recipient local time, the TCPA's calling window, 47 CFR 64.1200(c)(1)) apply
to proactive messages only, never to replies to a customer who just texted.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezone

from connector.model import KEYWORD_HELP, KEYWORD_START, KEYWORD_STOP

__all__ = ["in_quiet_hours", "keyword_of", "local_zones"]

# CTIA / Twilio standard keywords, after normalisation (lowercase, punctuation → spaces).
_STOP_WORDS = frozenset(
    {
        "stop",
        "stopall",
        "stop all",
        "unsubscribe",
        "cancel",
        "end",
        "quit",
        "revoke",
        "optout",
        "opt out",
    }
)
_START_WORDS = frozenset({"start", "yes", "unstop"})
_HELP_WORDS = frozenset({"help", "info"})

# Reasonable revocations in plain words (FCC 24-24 ¶ 30: any reasonable means). Each names the
# messages or the list; none can be read as being about an order or a service.
_STOP_PHRASES = frozenset(
    {
        "stop texting",
        "stop texting me",
        "stop messaging me",
        "stop sending texts",
        "stop sending me texts",
        "stop sending me messages",
        "stop sending messages",
        "stop contacting me",
        "do not text me",
        "dont text me",
        "do not text me anymore",
        "dont text me anymore",
        "no more texts",
        "no more messages",
        "unsubscribe me",
        "remove me",
        "remove me from this list",
        "remove me from your list",
        "take me off your list",
        "take me off this list",
        "take me off the list",
        "opt me out",
        "i want to opt out",
        "i would like to opt out",
    }
)
# Courtesy words around a revocation ("STOP PLEASE", "please unsubscribe me thanks") do not make it
# less of one. Only stripped for STOP: "help please" is a customer asking for an agent.
_COURTESY = re.compile(
    r"^(?:(?:please|pls|plz|now|thanks|thank you|thx|ok)\s+)*|"
    r"(?:\s+(?:please|pls|plz|now|thanks|thank you|thx|ok))*$"
)
_NOT_LETTERS = re.compile(r"[^a-z]+")


def _normalise(text: str) -> str:
    """Case-folded letters only, single spaces: " STOP!! " → "stop", "Opt-Out." → "opt out"."""
    decomposed = unicodedata.normalize("NFKD", text)
    letters = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    # "don't" → "dont" before punctuation becomes spaces, so phrases match with or without it.
    letters = re.sub(r"(?<=[a-z])['’](?=[a-z])", "", letters)
    return _NOT_LETTERS.sub(" ", letters).strip()


def keyword_of(text: str | None) -> str | None:
    """``KEYWORD_STOP`` / ``KEYWORD_START`` / ``KEYWORD_HELP`` when the whole message is one."""
    if not text:
        return None
    words = _normalise(text)
    if words in _START_WORDS:
        return KEYWORD_START
    if words in _HELP_WORDS:
        return KEYWORD_HELP
    core = _COURTESY.sub("", words).strip()
    if words in _STOP_WORDS or core in _STOP_WORDS or core in _STOP_PHRASES:
        return KEYWORD_STOP
    return None




def local_zones(phone_e164: str) -> tuple[str, ...]:
    """The IANA zones phonenumbers' offline metadata gives for a number; () when unknown."""
    try:
        number = phonenumbers.parse(phone_e164, None)
    except phonenumbers.NumberParseException:
        return ()
    zones = phone_timezone.time_zones_for_number(number)
    return tuple(z for z in zones if z != phone_timezone.UNKNOWN_TIMEZONE)


def in_quiet_hours(
    phone_e164: str,
    now_utc: datetime,
    start: int = 8,
    end: int = 21,
    *,
    fallback_zone: str | None = None,
) -> bool:
    """Whether a proactive message to ``phone_e164`` must wait: local time outside start..end.

    A number whose prefix spans several zones (a US toll-free number, a mobile range covering a
    whole country) is quiet if it is quiet in any of them. A number with no known zone uses
    ``fallback_zone``, and without one is treated as quiet: sending late is the costly mistake.
    """
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware")
    if not 0 <= start < end <= 24:
        raise ValueError(f"quiet hours need 0 <= start < end <= 24, got {start}..{end}")
    zones = local_zones(phone_e164) or ((fallback_zone,) if fallback_zone else ())
    if not zones:
        return True
    for zone in zones:
        try:
            local = now_utc.astimezone(ZoneInfo(zone))
        except ZoneInfoNotFoundError:
            return True
        if not start <= local.hour < end:
            return True
    return False
