"""connector/logs.py: what a log line may hold of a phone number or a media token."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest

from connector.logs import JsonFormatter, mask_media_tokens, mask_phones


@pytest.mark.parametrize(("text", "masked"), [
    ("from +12025550142", "from +1202***0142"),
    ("from +1 202 555 0142", "from +1202***0142"),
    ("from +1 (202) 555-0142.", "from +1202***0142."),
    ("from +1.202.555.0142", "from +1202***0142"),
    ("from +1-202-555-0142, again", "from +1202***0142, again"),
    ("from (202) 555-0142", "from +1202***0142"),
    ("from (202)555-0142", "from +1202***0142"),
    ("from +44 20 7946 0958", "from +4420***0958"),
    ("from +44 (0)20 7946 0958", "from +4420***0958"),
    ("from +33 6 12 34 56 78", "from +336***5678"),
])
def test_formatted_phone_numbers_are_masked(text, masked):
    assert mask_phones(text) == masked


@pytest.mark.parametrize("text", [
    "at 2024-01-02 10:11:12.123", "ticket 12345678901", "version 1.2.3", "took 1234.5 ms",
    "+5 points", "(20) 7946", "id (202) 5550142",
])
def test_other_numbers_are_left_alone(text):
    assert mask_phones(text) == text


def test_masking_is_linear_on_hostile_input():
    hostile = "+" + "1 " * 50_000 + "(" * 50_000
    started = time.perf_counter()
    mask_phones(hostile)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(("path", "logged"), [
    ("/media/AbCdEfGhIjKlMnOpQrSt.sig", "/media/AbCdEfGh…"),
    ("https://c.example.com/media/AbCdEfGhIjKlMnOp?x=1", "https://c.example.com/media/AbCdEfGh…?x=1"),
    ("/media/short", "/media/short"),
    ("/webhooks/sms/twilio", "/webhooks/sms/twilio"),
])
def test_media_tokens_are_cut(path, logged):
    assert mask_media_tokens(path) == logged


def test_every_field_of_a_line_is_scrubbed():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("sms_connector.test_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("texted +44 20 7946 0958 a link /media/AbCdEfGhSECRETSECRET",
                    extra={"phone": "(202) 555-0142", "url": "/media/AbCdEfGhSECRETSECRET"})
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["msg"] == "texted +4420***0958 a link /media/AbCdEfGh…"
    assert line["phone"] == "+1202***0142" and line["url"] == "/media/AbCdEfGh…"
