"""connector.text.phones: E.164 from what customers and providers send, masking for logs."""

from __future__ import annotations

import phonenumbers
import pytest

from connector.text.phones import is_e164, mask_phone, normalize_phone


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+12025550142", None, "+12025550142"),
        ("(202) 555-0142", "US", "+12025550142"),
        ("202.555.0142", "us", "+12025550142"),  # region code case does not matter
        ("1-202-555-0142", "US", "+12025550142"),
        ("  +1 202 555 0142 ", None, "+12025550142"),
        ("07700 900123", "GB", "+447700900123"),
        ("0044 7700 900123", "GB", "+447700900123"),  # international prefix from the UK
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("+33 6 12 34 56 78", "US", "+33612345678"),  # a leading + ignores the default region
        ("030 123456", "DE", "+4930123456"),
    ],
)
def test_normalize_national_and_international_formats(
    raw: str, region: str | None, expected: str
) -> None:
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "+19995550142",  # area code 999 is not assigned: possible, not valid
        "+11235550142",  # area codes never start with 1
        "+15555555555",
        "+33012345678",
    ],
)
def test_possible_but_invalid_numbers_are_accepted(raw: str) -> None:
    # The metadata says "invalid" today; a customer must never be refused for it.
    number = phonenumbers.parse(raw)
    assert phonenumbers.is_possible_number(number)
    assert not phonenumbers.is_valid_number(number)
    assert normalize_phone(raw) == raw


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("", None),
        ("   ", "US"),
        ("hello", "US"),
        ("2025550142", None),  # national format without a region
        ("+1202", None),  # too short for +1
        ("+120255501429999", None),  # too long
        ("555-0142", "US"),  # local only: its E.164 form would be someone else's number
        ("+1" + "2" * 80, None),
        ("whatsapp:+12025550142", None),  # a channel address, not a phone number
        ("call me at +12025550142", None),  # phonenumbers would extract it; we do not
        ("1-800-FLOWERS", "US"),
    ],
)
def test_garbage_raises_value_error(raw: str, region: str | None) -> None:
    with pytest.raises(ValueError):
        normalize_phone(raw, region)


def test_is_e164() -> None:
    assert is_e164("+12025550142")
    assert is_e164("+447700900123")
    assert not is_e164("12025550142")
    assert not is_e164("+02025550142")
    assert not is_e164("+1 202 555 0142")
    assert not is_e164("+1234567890123456")  # 16 digits
    assert not is_e164(None)
    assert not is_e164(12025550142)


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+12025550142", "+1202***0142"),
        ("+19995550142", "+1999***0142"),  # possible-but-invalid still masks by area code
        ("+33612345678", "+336***5678"),
        ("+4930123456", "+493***3456"),
    ],
)
def test_mask_keeps_country_area_and_last_four(e164: str, masked: str) -> None:
    assert mask_phone(e164) == masked


def test_mask_never_raises_and_never_reveals_the_whole_number() -> None:
    assert mask_phone("not a phone") == "***"
    assert mask_phone("12025550142") == "***0142"
    assert mask_phone("") == "***"
    short = mask_phone("+123")
    assert short.startswith("+1") and "***" in short
    for number in ("+447700900123", "+12025550142", "+861012345678"):
        masked = mask_phone(number)
        assert masked.endswith(number[-4:])
        assert "***" in masked
        assert number not in masked
