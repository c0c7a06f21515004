"""Phone numbers: E.164 normalization, a syntactic check, and masking for logs.

Numbers are checked with phonenumbers' *possibility* test (length for the country), never its
*validity* test: validity depends on number-range metadata that goes stale as carriers open new
ranges, and a customer must never be refused because our copy of the metadata is old
(https://github.com/google/libphonenumber/blob/master/FAQ.md#what-is-the-difference-between-isvalidnumber-and-ispossiblenumber).
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

__all__ = ["is_e164", "mask_phone", "normalize_phone"]

# ITU-T E.164: "+", a country code that never starts with 0, at most 15 digits in all.
_E164 = re.compile(r"\+[1-9]\d{1,14}")

# phonenumbers.parse() digs a number out of any text ("whatsapp:+1…", "call +1…") and reads
# vanity letters; a phone field holds only digits and the usual separators.
_PHONE_CHARS = re.compile(r"[0-9+()./\-\s]+")

# Longer input is not a phone number; libphonenumber itself gives up at 250 characters.
_MAX_INPUT = 64


@functools.lru_cache(maxsize=65536)
def normalize_phone(raw: str, default_region: str | None = None) -> str:
    """``raw`` as E.164 (``+12025550142``); ``default_region`` (``"US"``) reads national formats.

    Cached: every webhook normalizes its From and To, and the same few numbers recur (parsing
    is the costliest step of answering a webhook after the database).

    Raises ValueError for anything that cannot be a phone number: empty, letters-only, a national
    number without a region, the wrong length for its country, or a local-only number that lacks
    its area code (its E.164 form would be a different number).
    """
    text = (raw or "").strip()
    if not text or len(text) > _MAX_INPUT or not _PHONE_CHARS.fullmatch(text):
        raise ValueError(f"not a phone number: {raw!r}")
    try:
        number = phonenumbers.parse(text, default_region.upper() if default_region else None)
    except NumberParseException as exc:
        raise ValueError(f"not a phone number: {raw!r} ({exc})") from exc
    # is_possible_number() also accepts IS_POSSIBLE_LOCAL_ONLY (a US number dialled without its
    # area code); turning that into E.164 would name someone else's line, so only IS_POSSIBLE.
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != ValidationResult.IS_POSSIBLE:
        raise ValueError(f"not a possible phone number: {raw!r}")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def is_e164(value: object) -> bool:
    """True when ``value`` is syntactically E.164 (``+`` and 2–15 digits); no metadata check."""
    return isinstance(value, str) and _E164.fullmatch(value) is not None


def mask_phone(e164: str) -> str:
    """``+12025550142`` → ``+1202***0142``: country code, area code and the last four digits.

    For logs and notes; never raises. The masked middle is always ``***`` so its length does not
    leak the number's length.
    """
    value = (e164 or "").strip()
    digits = re.sub(r"\D", "", value)
    if not is_e164(value):
        return "***" + digits[-4:] if len(digits) > 4 else "***"
    try:
        number = phonenumbers.parse(value, None)
        country = str(number.country_code)
        national = phonenumbers.national_significant_number(number)
        area_len = phonenumbers.length_of_national_destination_code(number)
    except NumberParseException:
        country, national, area_len = "", digits, 0
    # Keep at least three digits hidden; short numbers lose the area code first.
    if area_len + 4 + 3 > len(national):
        area_len = max(0, len(national) - 7)
    tail = national[-4:] if len(national) > 4 else ""
    return f"+{country}{national[:area_len]}***{tail}"
