"""connector.text.sms_text: segments, smart encoding, HTML, signatures, splitting, the pipeline.

Segment and smart-encoding vectors come from Twilio's own segment calculator
(tests/fixtures/segments/twilio_calculator.json, whose ``_source`` names the repository, commit and
files); the boundary cases below are derived from GSM 03.38 / the calculator's rules.
"""

from __future__ import annotations

import json
import random
import re
import time
import tomllib
from pathlib import Path

import pytest
import regex

from connector.text import sms_text
from connector.text.sms_text import (
    GSM7,
    GSM7_BASIC,
    GSM7_EXTENSION,
    MAX_BODY_CHARS,
    UCS2,
    fits_one_segment_gsm,
    html_to_text,
    is_gsm7,
    normalize_whitespace,
    render_reply,
    segment_info,
    smart_encode,
    split_message,
    strip_quoted_history,
    strip_signature,
    total_segments,
    utf16_len,
)

ROOT = Path(__file__).resolve().parents[3]
VECTORS = json.loads(
    (ROOT / "tests/fixtures/segments/twilio_calculator.json").read_text(encoding="ascii")
)
CORPUS = ROOT / "benchmarks/agent_replies/replies.toml"

BITS = {GSM7: 7, UCS2: 16}
UDH_BITS = 48  # 6-octet concatenation header per part


def _ids(cases: list[dict]) -> list[str]:
    return [case["description"] for case in cases]


def _graphemes(text: str) -> list[str]:
    return regex.findall(r"\X", text)


def test_all_names_exist() -> None:
    for name in sms_text.__all__:
        assert hasattr(sms_text, name), name


# --- Twilio's calculator vectors ------------------------------------------------------------------


@pytest.mark.parametrize("case", VECTORS["segment_counts"], ids=_ids(VECTORS["segment_counts"]))
def test_calculator_segment_counts(case: dict) -> None:
    info = segment_info(case["body"])
    assert info.encoding == case["encoding"]
    assert info.segments == case["segments"]
    assert len(info.parts) == case["segments"]
    assert "".join(info.parts) == case["body"]
    if "message_size_bits" in case:
        bits = info.units * BITS[info.encoding]
        assert bits == case["message_size_bits"]
        header = UDH_BITS * info.segments if info.segments > 1 else 0
        assert bits + header == case["total_size_bits"]
    if "unicode_scalars" in case:
        assert len(case["body"]) == case["unicode_scalars"]
    if case.get("all_non_gsm"):
        assert info.non_gsm == [case["body"][0]]


@pytest.mark.parametrize("case", VECTORS["line_breaks"], ids=_ids(VECTORS["line_breaks"]))
def test_calculator_line_breaks_count_one_septet_each(case: dict) -> None:
    info = segment_info(case["body"])
    assert info.encoding == case["encoding"]
    assert info.units == case["gsm7_septets"]


@pytest.mark.parametrize("case", VECTORS["last_part"], ids=_ids(VECTORS["last_part"]))
def test_calculator_last_part_holds_one_character(case: dict) -> None:
    info = segment_info(case["body"])
    assert info.segments == case["segments"]
    assert info.parts[-1] == case["last_part"]


@pytest.mark.parametrize("case", VECTORS["non_gsm"], ids=_ids(VECTORS["non_gsm"]))
def test_calculator_non_gsm_characters(case: dict) -> None:
    assert segment_info(case["body"]).non_gsm == case["non_gsm"]


def test_gsm7_table_matches_calculator_for_every_bmp_code_point() -> None:
    septets = {entry["char"]: entry["septets"] for entry in VECTORS["gsm7_septets"]}
    assert set(septets) == GSM7_BASIC | GSM7_EXTENSION
    for code_point in range(0x10000):
        char = chr(code_point)
        assert is_gsm7(char) == (char in septets), hex(code_point)
    for char, count in septets.items():
        assert segment_info(char).units == count, repr(char)


# Where smart_encode knowingly differs from the calculator's SmartEncodingMap.ts (see the comments
# on SMART_ENCODING_MAP): one space for every Unicode space (the calculator writes two, and seven
# for a tab), and single guillemets as quotes (the calculator maps them reversed, ‹ to ">").
SMART_DEVIATIONS = {"\u2039": "'", "\u203a": "'", "\t": " "}


def _expected_smart(char: str, replacement: str) -> str:
    if char in SMART_DEVIATIONS:
        return SMART_DEVIATIONS[char]
    return " " if replacement and not replacement.strip() else replacement


SMART_MAP = VECTORS["smart_encoding_map"]


@pytest.mark.parametrize(
    "entry", SMART_MAP, ids=[f"U+{ord(entry['char']):04X}" for entry in SMART_MAP]
)
def test_smart_encoding_matches_twilio_table(entry: dict) -> None:
    assert smart_encode(entry["char"]) == _expected_smart(entry["char"], entry["replacement"])


def test_smart_encoding_replaces_all_table_characters_at_once() -> None:
    text = "".join(entry["char"] for entry in SMART_MAP)
    expected = "".join(_expected_smart(entry["char"], entry["replacement"]) for entry in SMART_MAP)
    assert smart_encode(text) == expected
    assert is_gsm7(expected)


# --- Boundaries derived from the rules ------------------------------------------------------------

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 11 UTF-16 units
FLAG_IT = "\U0001f1ee\U0001f1f9"  # two regional indicators, 4 units
GRIN = "\U0001f600"


@pytest.mark.parametrize(
    ("body", "encoding", "segments", "first_part"),
    [
        pytest.param("a" * 160, GSM7, 1, "a" * 160, id="160 GSM-7 is one"),
        pytest.param("a" * 161, GSM7, 2, "a" * 153, id="161 GSM-7 is two of 153"),
        pytest.param("a" * 158 + "€", GSM7, 1, "a" * 158 + "€", id="158 + escape = 160"),
        pytest.param("a" * 159 + "€", GSM7, 2, "a" * 153, id="159 + escape = 161"),
        # 152 septets leave one: the 2-septet escape pair moves whole to part 2.
        pytest.param("a" * 152 + "€" + "b" * 10, GSM7, 2, "a" * 152, id="escape pair moves"),
        pytest.param("a" * 153 + "€" * 4, GSM7, 2, "a" * 153, id="escape opens part 2"),
        pytest.param("€" * 80, GSM7, 1, "€" * 80, id="80 euro = 160 septets"),
        pytest.param("€" * 81, GSM7, 2, "€" * 76, id="81 euro: 76 per part"),
        pytest.param("\f" * 3, GSM7, 1, "\f" * 3, id="form feed is extension"),
        pytest.param("ç" * 70, UCS2, 1, "ç" * 70, id="70 UCS-2"),
        pytest.param("ç" * 71, UCS2, 2, "ç" * 67, id="71 UCS-2 is two of 67"),
        pytest.param("a" * 68 + GRIN, UCS2, 1, "a" * 68 + GRIN, id="emoji is 2 units"),
        pytest.param("ç" * 66 + GRIN + "ç" * 5, UCS2, 2, "ç" * 66, id="surrogate pair moves"),
        pytest.param("ç" * 65 + FLAG_IT + "çç", UCS2, 2, "ç" * 65, id="flag moves whole"),
        pytest.param("ç" * 60 + FAMILY + "ç" * 5, UCS2, 2, "ç" * 60, id="ZWJ family moves whole"),
        # The calculator splits CR LF into two characters (index.test.js line-break tests).
        pytest.param("ç" * 66 + "\r\n" + "ççç", UCS2, 2, "ç" * 66 + "\r", id="CRLF may split"),
        pytest.param("Ç" * 160, GSM7, 1, "Ç" * 160, id="capital C cedilla is GSM"),
        pytest.param("`", UCS2, 1, "`", id="backtick is not GSM"),
        pytest.param("it’s" + "a" * 150, UCS2, 3, "it’s" + "a" * 63, id="one curly apostrophe"),
    ],
)
def test_segment_boundaries(body: str, encoding: str, segments: int, first_part: str) -> None:
    info = segment_info(body)
    assert (info.encoding, info.segments, info.parts[0]) == (encoding, segments, first_part)
    assert "".join(info.parts) == body


def test_empty_text_is_no_segment() -> None:
    info = segment_info("")
    assert (info.encoding, info.segments, info.units, info.parts) == (GSM7, 0, 0, [])


def test_units_and_remaining_room() -> None:
    info = segment_info("Hi " + GRIN)
    assert (info.encoding, info.units, info.non_gsm) == (UCS2, 5, [GRIN])
    assert (info.units_per_segment, info.remaining) == (70, 65)
    long = segment_info("a" * 200)
    assert (long.units_per_segment, long.remaining) == (153, 106)


def test_non_gsm_lists_each_cluster_once_in_order() -> None:
    assert segment_info("ç " + FAMILY + " ç í").non_gsm == ["ç", FAMILY, "í"]


def test_fits_one_segment_gsm_and_is_gsm7() -> None:
    assert fits_one_segment_gsm("a" * 160)
    assert not fits_one_segment_gsm("a" * 161)
    assert fits_one_segment_gsm("a" * 158 + "€")
    assert not fits_one_segment_gsm("a" * 159 + "€")
    assert not fits_one_segment_gsm("We’ll text you")
    assert fits_one_segment_gsm(smart_encode("We’ll text you"))
    assert is_gsm7("Çà@£$¥{}[]~^|\\€\f\r\n")
    assert not is_gsm7("ç")
    assert is_gsm7("")


def test_total_segments() -> None:
    assert total_segments(["a" * 161, "ç", ""]) == 3


# --- Smart encoding -------------------------------------------------------------------------------


def test_pasted_curly_apostrophe_keeps_message_gsm7() -> None:
    body = (
        "We’ve checked and there’s a fault on the line outside your home. An engineer’s booked"
        " for Thursday; you don’t need to be in. We’ll text once it’s fixed."
    )
    assert segment_info(body).segments == 3
    encoded = smart_encode(body)
    assert is_gsm7(encoded)
    assert segment_info(encoded).segments == 1


def test_smart_encode_never_touches_gsm_characters() -> None:
    every_gsm = "".join(sorted(GSM7_BASIC | GSM7_EXTENSION))
    assert smart_encode(every_gsm) == every_gsm
    assert (
        smart_encode("Müller, Ñandú? ¿Dónde? ÄÖÜ äöü ß É è")
        == "Müller, Ñandú? ¿Dónde? ÄÖÜ äöü ß É è"
    )


@pytest.mark.parametrize(
    "emoji",
    [
        GRIN,
        FAMILY,
        FLAG_IT,
        "\U0001f3f3\ufe0f\u200d\U0001f308",  # rainbow flag
        "1\ufe0f\u20e3",  # keycap one
        "\U0001f44d\U0001f3fd",  # thumbs up, skin tone
        "\u203c\ufe0f",  # ‼️: in Twilio's table as text, but here an emoji
        "\u2764\ufe0f",
        "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # Scotland
        "\u2705",
    ],
)
def test_smart_encode_keeps_emoji(emoji: str) -> None:
    text = f"Done {emoji} — thanks…"
    assert smart_encode(text) == f"Done {emoji} - thanks..."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("“Quoted” and ‘single’", "\"Quoted\" and 'single'"),
        ("a – b — c ‐ d ‑ e − f", "a - b - c - d - e - f"),
        ("wait…", "wait..."),
        ("24\u00a0hours\u202fnow\u2009ok", "24 hours now ok"),
        ("link\u200b here\ufeff\u2060", "link here"),
        ("soft\u00adhyphen", "softhyphen"),
        ("a\u200db\u200cc", "abc"),  # stray joiners between Latin letters join nothing
        ("\u200dstart", "start"),
        ("« oui »", '"oui"'),
        ("‹ non ›", "' non '"),
        ("Settings → Billing ⇒ Invoices ← back", "Settings -> Billing => Invoices <- back"),
        ("1920×1080, ½ off", "1920x1080, 1/2 off"),
        ("5′ 11″", "5' 11\""),
        ("• one\n  ● two\n· three\n▪ four", "- one\n  - two\n- three\n- four"),
        ("col·lecció • x", "col·lecció - x"),  # a mid-line middle dot is a Catalan letter joint
        ("n\u0303 e\u0301", "ñ é"),  # decomposed GSM letters compose, not "n~"
        ("e\u0302", "ê"),  # no GSM form: stays a letter, not "e^"
    ],
)
def test_smart_encode_replacements(text: str, expected: str) -> None:
    assert smart_encode(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "François, Dr. Núñez, María, Łódź, İstanbul",
        "Здравствуйте, Ольга",
        "您好 Wei",
        "می\u200cخواهم",  # Persian: the ZWNJ is orthography
        "क्\u200dष",  # Devanagari half-form ZWJ
        "مرحبا",
    ],
)
def test_smart_encode_keeps_letters_outside_gsm(text: str) -> None:
    assert smart_encode(text) == text


def test_smart_encode_is_idempotent_on_corpus() -> None:
    for reply in _corpus():
        once = smart_encode(reply["body"])
        assert smart_encode(once) == once, reply["id"]


# --- HTML -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<p>See <a href="https://x.example/guide">our guide</a>.</p>',
         "See our guide (https://x.example/guide)."),
        ('<p>Go to <a href="https://x.example/a">https://x.example/a</a></p>',
         "Go to https://x.example/a"),
        ('<p><a href="https://www.x.example/a/">x.example/a</a></p>', "x.example/a"),
        ('<p><a href="/hc/articles/1">relative</a> and <a href="#top">anchor</a></p>',
         "relative and anchor"),
        ('<p><a href="javascript:void(0)">click</a></p>', "click"),
        ('<p>Mail <a href="mailto:help@x.example?subject=Hi">help@x.example</a></p>',
         "Mail help@x.example"),
        ('<p>Mail <a href="mailto:help@x.example">us</a></p>', "Mail us (help@x.example)"),
        ('<p>Call <a href="tel:+1-555-0100">+1 555 0100</a></p>', "Call +1 555 0100"),
        ('<p>Call <a href="tel:+15550100">support</a></p>', "Call support (+15550100)"),
        ('<a href="https://x.example/p"><img src="a.png" alt=""></a>', "https://x.example/p"),
    ],
)  # fmt: skip
def test_html_links_stay_readable(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_html_lists() -> None:
    html = (
        '<div class="zd-comment" dir="auto"><p>Steps:</p>'
        "<ul><li>Open the app</li><li><p>Tap <strong>Orders</strong></p></li>"
        "<li>Pick one<ul><li>nested</li></ul></li></ul>"
        '<ol start="3"><li>three</li><li value="7">seven</li><li>eight</li></ol></div>'
    )
    assert html_to_text(html) == (
        "Steps:\n\n- Open the app\n- Tap Orders\n- Pick one\n- nested\n3. three\n7. seven\n8. eight"
    )


def test_html_whitespace_entities_and_invisible_elements() -> None:
    html = (
        "<html><head><style>p{color:red}</style><script>alert(1)</script></head><body>"
        "<p>Hello&nbsp;Ana &amp; Tom,</p><p></p><p></p><br><br><br>"
        "<p>Line one<br>Line two   </p><div>   </div><p>End</p></body></html>"
    )
    text = html_to_text(html)
    assert text == "Hello Ana & Tom,\n\nLine one\nLine two\n\nEnd"
    assert "\n\n\n" not in text
    assert all(line == line.rstrip() for line in text.split("\n"))


def test_html_drops_mail_client_quotes_and_signatures() -> None:
    html = (
        '<div dir="ltr">Reserved until Saturday.</div>'
        '<div class="gmail_signature">Ben | Store 12</div>'
        '<div class="gmail_quote">On Wed, Ben wrote:<blockquote>hold it?</blockquote></div>'
        '<blockquote type="cite">older</blockquote>'
    )
    assert html_to_text(html) == "Reserved until Saturday."


@pytest.mark.parametrize("html", ["", "   ", "<!-- only a comment -->", "<p> </p>"])
def test_html_empty(html: str) -> None:
    assert html_to_text(html) == ""


def test_html_plain_text_passes_through() -> None:
    assert html_to_text("just text, no tags") == "just text, no tags"


# --- Quoted history -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "history",
    [
        "On Tue, 4 Jun 2024 at 10:02, Sam <sam@x.example> wrote:\n> Does it cover the battery?",
        "On Tue, Jun 4, 2024 at 10:02 AM Sam Carter <sam.carter@example.org>\nwrote:\n> hi",
        "Le mar. 4 juin 2024 à 10:02, Sam <sam@x.example> a écrit :\n> Bonjour",
        "Am 04.06.2024 um 10:02 schrieb Sam <sam@x.example>:\n> Hallo",
        "Den 26 oktober 2017 23:49 skrev Lotta <lotta@x.example>:\n> Hej",
        "---------- Forwarded message ---------\nFrom: A <a@x.example>\nDate: Tue\nTo: B\n\nbody",
        "-----Original Message-----\nFrom: Sam\nSent: Tuesday\nTo: Support\nSubject: battery",
        "________________________________\nFrom: Sam <sam@x.example>\nSent: Tuesday\nTo: Us",
        "From: Sam <sam@x.example>\nSent: Tuesday, June 4\nTo: Support\nSubject: Re: battery",
        "##- Please type your reply above this line -##\n\nTicket #12: battery",
        "##- Veuillez écrire votre réponse au-dessus de cette ligne -##\nTicket",
        "> Does it cover the battery?\n>> earlier\n>",
    ],
)
def test_quoted_history_is_dropped(history: str) -> None:
    reply = "Yes, the warranty covers the battery."
    assert strip_quoted_history(f"{reply}\n\n{history}") == reply


def test_interleaved_quote_lines_are_dropped() -> None:
    text = "> Can I return it?\nYes, within 30 days.\n> And the box?\nKeep it if you can."
    assert strip_quoted_history(text) == "Yes, within 30 days.\nKeep it if you can."


@pytest.mark.parametrize(
    "text",
    [
        "On Monday we will ship the replacement.\nThe driver wrote: call on arrival.",
        "From: our Leeds store. Sent: yesterday.",
        "Order >5 items for free delivery.",
        "##- Please type your reply above this line -##",  # nothing above: keep rather than send ""
    ],
)
def test_quoted_history_conservative(text: str) -> None:
    assert strip_quoted_history(text) == text


# --- Signatures -----------------------------------------------------------------------------------

BODY = "I've issued the refund. It shows on your card within 3-5 business days."


@pytest.mark.parametrize(
    "signature",
    [
        "Best regards,\nMarta Gómez\nCustomer Care | Northwind\n+1 555 0100",
        "Kind regards,\n\nSiobhán O’Brien\nBilling",
        "Thanks,\nJane",
        "Thanks!\nJane from Acme Support",
        "Cheers,\nLena\nTechnical Support",
        "Many thanks\nTomás",
        "Cordialement,\nHélène Martin",
        "-- \nKai Schmidt\nMobile Support Team\n+44 20 7946 0000 | example-mobile.co.uk",
        "--\nKai",
        "Sent from my iPhone",
        "Best,\nJane\n\nSent from my iPhone",
        "Get Outlook for Android",
    ],
)
def test_signature_is_dropped(signature: str) -> None:
    assert strip_signature(f"{BODY}\n\n{signature}") == BODY


@pytest.mark.parametrize(
    "text",
    [
        "Thanks for your patience, the order shipped today.",
        f"{BODY}\n\nThanks!",
        f"{BODY}\nThanks,",
        "Thanks,\nOrder #12345 ships on Monday.",
        "Thanks,\nyour parcel is at the depot and will be delivered tomorrow morning.",
        "Best regards to your team as well.\nJane",
        f"Cheers,\nJane\n{BODY}\n{BODY}",
        f"Thanks,\nJane\n\n{BODY}",  # the closing is not at the end
        "Thanks,\nJane",  # nothing but a closing: keep rather than send ""
        "Step one.\n--\n" + "\n".join(f"Step {n}: do the thing number {n}." for n in range(12)),
        f"{BODY}\n\nRegards,\nWhat time suits you? Morning or afternoon",
    ],
)
def test_signature_conservative(text: str) -> None:
    assert strip_signature(text) == text


# --- Splitting ------------------------------------------------------------------------------------

PREFIX = re.compile(r"^\((\d+)/(\d+)\) ")


def _sentence(n: int) -> str:
    return f"Sentence number {n} explains one more detail of the setup process clearly."


def _check_parts(parts: list[str], original: str, max_chars: int) -> None:
    total = len(parts)
    bodies = []
    for index, part in enumerate(parts, start=1):
        assert utf16_len(part) <= max_chars
        if total > 1:
            match = PREFIX.match(part)
            assert match, part[:20]
            assert (int(match.group(1)), int(match.group(2))) == (index, total)
            bodies.append(part[match.end() :])
        else:
            bodies.append(part)
        assert bodies[-1] == bodies[-1].strip() and bodies[-1]
    assert "".join("".join(bodies).split()) == "".join(original.split())


def test_short_text_is_one_unnumbered_body() -> None:
    assert split_message("a" * MAX_BODY_CHARS) == ["a" * MAX_BODY_CHARS]
    assert split_message("  hi  ") == ["hi"]
    assert split_message(" \n ") == []


def test_split_at_sentence_boundaries() -> None:
    text = " ".join(_sentence(n) for n in range(40))  # ~3000 chars
    parts = split_message(text)
    assert len(parts) == 2
    _check_parts(parts, text, MAX_BODY_CHARS)
    for part in parts:
        assert part.endswith("clearly.")
        assert PREFIX.sub("", part).startswith("Sentence number")


def test_split_prefers_sentences_then_words_then_hard() -> None:
    words = " ".join(["word"] * 500)  # one 2499-char sentence
    parts = split_message(words)
    _check_parts(parts, words, MAX_BODY_CHARS)
    assert all(set(PREFIX.sub("", part).split()) == {"word"} for part in parts)
    token = "https://x.example/" + "a" * 3500  # one unbreakable token
    parts = split_message(token)
    assert len(parts) == 3
    _check_parts(parts, token, MAX_BODY_CHARS)


def test_hard_split_never_breaks_a_grapheme() -> None:
    text = (GRIN + FAMILY + FLAG_IT) * 200
    parts = split_message(text, max_chars=160)
    _check_parts(parts, text, 160)
    clusters = []
    for part in parts:
        clusters.extend(_graphemes(PREFIX.sub("", part)))
    assert clusters == _graphemes(text)


def test_numbering_counts_its_own_width() -> None:
    text = " ".join(_sentence(n) for n in range(200))  # ~15 000 chars: 10+ parts
    parts = split_message(text)
    assert len(parts) >= 10
    assert parts[0].startswith(f"(1/{len(parts)}) ")
    _check_parts(parts, text, MAX_BODY_CHARS)


def test_split_custom_limit_and_paragraphs() -> None:
    text = "First paragraph is here.\n\nSecond one follows it.\n\nThird closes."
    parts = split_message(text, max_chars=40)
    assert parts == [
        "(1/3) First paragraph is here.",
        "(2/3) Second one follows it.",
        "(3/3) Third closes.",
    ]
    with pytest.raises(ValueError):
        split_message(text, max_chars=10)


# --- The pipeline ---------------------------------------------------------------------------------


def test_render_reply_full_pipeline() -> None:
    html = (
        '<div class="zd-comment"><p>Hi Ana,</p>'
        "<p>We’re sorry — here’s " + " ".join(_sentence(n) for n in range(30)) + "</p>"
        '<p>Details in <a href="https://help.x.example/a">our guide</a>.</p>'
        "<p>Best regards,<br>Jane Doe<br>Support</p></div>"
    )
    parts = render_reply(html, is_html=True)
    assert len(parts) == 2
    assert parts[0].startswith("(1/2) Hi Ana,\n\nWe're sorry - here's Sentence")
    assert parts[-1].endswith("Details in our guide (https://help.x.example/a).")
    assert all(is_gsm7(part) and utf16_len(part) <= MAX_BODY_CHARS for part in parts)
    assert not any("Jane" in part for part in parts)


def test_render_reply_plain_text_and_smart_off() -> None:
    text = "It’s shipped!  \r\n\r\n\r\n  Tracking: 123\n\nOn Mon, Sam wrote:\n> where?"
    assert render_reply(text, is_html=False) == ["It's shipped!\n\nTracking: 123"]
    assert render_reply(text, is_html=False, smart=False) == ["It’s shipped!\n\nTracking: 123"]


def test_render_reply_skips_smart_encoding_that_costs_more() -> None:
    # Still UCS-2 because of the emoji: "…" → "..." would only add units.
    assert render_reply("Nearly there… 🚚", is_html=False) == ["Nearly there… 🚚"]
    # Same length and still UCS-2: the straight quote is used.
    assert render_reply("It’s coming 🚚", is_html=False) == ["It's coming 🚚"]


def test_render_reply_empty_and_custom_limit() -> None:
    assert render_reply("<p> </p>", is_html=True) == []
    parts = render_reply(" ".join(_sentence(n) for n in range(5)), is_html=False, max_chars=160)
    assert len(parts) == 3
    assert all(fits_one_segment_gsm(part) for part in parts)


def test_normalize_whitespace() -> None:
    assert normalize_whitespace("\n\n  a  b \r\n\r\n\r\n\tc\t\n\n") == "a b\n\nc"


# --- Property-like loops --------------------------------------------------------------------------

ALPHABET = (
    list("abcXYZ0129 .,!?-'\"\n")
    + list("€[]{}~^|\\\f")
    + ["\r\n", "ç", "í", "ł", "Ж", "中", "’", "—", "…", "\u00a0"]
    + [GRIN, FAMILY, FLAG_IT, "1\ufe0f\u20e3", "\U0001f44d\U0001f3fd", "e\u0301"]
)


def _random_texts(seed: int, count: int, max_len: int, gsm_only: bool = False) -> list[str]:
    rng = random.Random(seed)
    pool = [s for s in ALPHABET if is_gsm7(s)] if gsm_only else ALPHABET
    return ["".join(rng.choice(pool) for _ in range(rng.randint(0, max_len))) for _ in range(count)]


@pytest.mark.parametrize("gsm_only", [True, False])
def test_segment_parts_rejoin_and_fit(gsm_only: bool) -> None:
    for text in _random_texts(7 if gsm_only else 11, 400, 400, gsm_only):
        info = segment_info(text)
        assert "".join(info.parts) == text
        assert len(info.parts) == info.segments
        assert info.encoding == (GSM7 if is_gsm7(text) else UCS2)
        if info.encoding == GSM7:
            sizes = [sum(2 if ch in GSM7_EXTENSION else 1 for ch in part) for part in info.parts]
        else:
            sizes = [utf16_len(part) for part in info.parts]
        assert sum(sizes) == info.units
        single, multi = (160, 153) if info.encoding == GSM7 else (70, 67)
        assert (info.segments <= 1) == (info.units <= single)
        if info.segments > 1:
            assert max(sizes) <= multi
            # Greedy: each part but the last is full up to less than the next atom's size.
            assert all(size > multi - 11 for size in sizes[:-1])
        if info.encoding == UCS2:
            rejoined = [g for part in info.parts for g in _graphemes(part)]
            expected = [g for g in _graphemes(text)]
            # Only CR LF may be split between parts (as the calculator does).
            assert [g for g in rejoined if g not in "\r\n"] == [
                g for g in expected if g not in ("\r\n", "\r", "\n")
            ]


def test_split_message_random() -> None:
    for text in _random_texts(3, 60, 5000):
        for limit in (160, MAX_BODY_CHARS):
            parts = split_message(text, max_chars=limit)
            if text.strip():
                _check_parts(parts, text, limit)
            else:
                assert parts == []


def test_smart_encode_random_keeps_gsm_and_emoji() -> None:
    emoji = {GRIN, FAMILY, FLAG_IT, "1\ufe0f\u20e3", "\U0001f44d\U0001f3fd"}
    for text in _random_texts(5, 300, 200):
        encoded = smart_encode(text)
        if is_gsm7(text):
            assert encoded == text
        for cluster in _graphemes(text):
            if cluster in emoji:
                assert cluster in encoded
        assert smart_encode(encoded) == encoded


# --- Benchmark corpus -----------------------------------------------------------------------------


def _corpus() -> list[dict]:
    with CORPUS.open("rb") as fh:
        return list(tomllib.load(fh)["reply"])


def test_corpus_renders_within_limits() -> None:
    replies = _corpus()
    assert len(replies) >= 30
    assert len({reply["id"] for reply in replies}) == len(replies)
    for reply in replies:
        for smart in (True, False):
            parts = render_reply(reply["body"], is_html=reply["html"], smart=smart)
            assert parts, reply["id"]
            assert all(utf16_len(part) <= MAX_BODY_CHARS for part in parts), reply["id"]


# --- Hostile sizes: linear time, capped input -----------------------------------------------------

COMMENT_CHARS = 64 * 1024  # Zendesk's comment size: what a hostile or pasted reply can reach
RENDER_SECONDS = 2.0  # linear renders take well under a second; the quadratic ones took 7–230 s


def _fill(unit: str, head: str = "a", tail: str = "a") -> str:
    return head + (unit * COMMENT_CHARS)[: COMMENT_CHARS - len(head) - len(tail)] + tail


ADVERSARIAL = {
    # A run of marks with no space after it: the boundary regex retried from every mark (100 s).
    "dots": (_fill("."), False),
    "marks": (_fill("!?….!"), False),
    "marks-and-quotes": (_fill(".'!\")"), False),
    "spaces-before-guillemet": ("a" + "\u00a0" * (COMMENT_CHARS - 2) + "b", False),
    # quotequail re-reads every later line for each header-looking line (4,000 lines: 7.5 s).
    "from-lines": ("Hello\n" + "From: x@y.example\n" * 4000, False),
    "from-to-lines": ("Hello\n" + "From: a\nhi\n" * 4000, False),
    # ... and backtracks cubically on a date-and-address reply line.
    "gmail-reply-line": ("Hi\n" + _fill(" <@", head="2024/1/2 ", tail="x"), False),
    "quote-lines": ("Hi\n" + "> a\nb\n" * 8000, False),
    "plain-list": ("\n".join(f"{n}. item" for n in range(1, 5001)), False),
    # <ol> numbering counted every earlier sibling for each item (10,000 items: 9 s).
    "html-ol": ("<ol>" + "<li>x</li>" * 10_000 + "</ol>", True),
    "html-ul": ("<ul>" + "<li>x</li>" * 10_000 + "</ul>", True),
    "html-dots": ("<p>" + _fill(".") + "</p>", True),
}


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_adversarial_comment_renders_in_linear_time(name: str) -> None:
    text, is_html = ADVERSARIAL[name]
    started = time.perf_counter()
    parts = render_reply(text, is_html=is_html)
    elapsed = time.perf_counter() - started
    assert elapsed < RENDER_SECONDS, f"{name}: {elapsed:.2f} s"
    assert parts and all(utf16_len(part) <= MAX_BODY_CHARS for part in parts)


def test_html_ordered_list_numbering_in_one_pass_keeps_start_and_value() -> None:
    html = '<ol start="5">' + "<li>x</li>" * 3 + '<li value="20">y</li><li>z</li></ol>'
    assert html_to_text(html) == "5. x\n6. x\n7. x\n20. y\n21. z"


def test_quote_header_is_found_in_the_scanned_window_and_long_lines_stay_whole() -> None:
    long_line = "word " * 99 + "end"  # 498 characters: cut for the scan, kept whole
    text = f"{long_line}\nSee you.\n\nOn Mon, 5 Jan 2026, Sam <sam@x.example> wrote:\n> old"
    assert strip_quoted_history(text) == f"{long_line}\nSee you."
    # A header past the scanned lines stays (the text is still capped).
    lines = "\n".join(f"line {n}" for n in range(400))
    late = f"{lines}\nOn Mon, Sam <sam@x.example> wrote:\n> old"
    assert strip_quoted_history(late) == late.removesuffix("\n> old")  # "> " lines still go


def test_text_over_the_render_cap_is_cut_at_a_word_and_says_so() -> None:
    text = "Hello there. " * (sms_text.MAX_RENDER_CHARS // 13 + 100)
    parts = render_reply(text, is_html=False)
    assert parts[-1].endswith(sms_text.TRUNCATED_NOTE)
    assert parts[-1].endswith("there.\n\n" + sms_text.TRUNCATED_NOTE)
    sent = sum(len(part) for part in parts)
    assert sms_text.MAX_RENDER_CHARS - 300 < sent < sms_text.MAX_RENDER_CHARS + 60 * len(parts)
    assert render_comment_truncated(text)
    assert not render_comment_truncated("Hello there.")
    assert sms_text.TRUNCATED_NOTE not in " ".join(render_reply("Hello. " * 100, is_html=False))


def test_html_over_the_input_cap_is_cut_and_says_so() -> None:
    html = "<p>" + "Hello there. " * (sms_text.MAX_RENDER_INPUT_CHARS // 13) + "</p>" * 100
    parts = render_reply(html, is_html=True)
    assert parts[-1].endswith(sms_text.TRUNCATED_NOTE)


def render_comment_truncated(text: str) -> bool:
    return sms_text.render_comment(text).truncated


# --- HTML the parser cannot read whole ------------------------------------------------------------

DEEP = 300  # libxml2 stops at 256 levels without XML_PARSE_HUGE


def _deep_html(after: str) -> str:
    return "<p>Start.</p>" + "<div>" * DEEP + "deep" + "</div>" * DEEP + f"<p>{after}</p>"


def test_html_nested_past_the_parser_limit_falls_back_to_the_plain_body() -> None:
    after = "Your refund of $20 was issued today."
    plain = f"Start.\ndeep\n{after}"
    rendering = sms_text.render_comment(plain, _deep_html(after))
    assert rendering.html_lost
    assert rendering.bodies == [f"Start.\ndeep\n{after}"]
    # Without a plain body there is nothing better than what the parser kept, flagged.
    kept = sms_text.render_comment("", _deep_html(after))
    assert kept.html_lost and kept.bodies == ["Start."]


def test_html_missing_most_of_the_plain_body_falls_back_to_it() -> None:
    plain = "Your order 1234 ships Monday; the tracking number follows by email tomorrow."
    rendering = sms_text.render_comment(plain, "<p>Your order</p>")
    assert rendering.html_lost and rendering.bodies == [plain]


@pytest.mark.parametrize(
    "html, plain",
    [
        ('<p>See <a href="https://x.example/a/very/long/path/to/the/guide">the guide</a></p>',
         "See the guide (https://x.example/a/very/long/path/to/the/guide)"),
        ("<p>Hi</p><div class='gmail_quote'>On Mon, Sam wrote: old</div>",
         "Hi\nOn Mon, Sam wrote: old"),
        ("<p>Thanks!</p>", "Thanks!"),
        ("<p>Only HTML</p>", ""),
    ],
)  # fmt: skip
def test_ordinary_html_is_rendered_from_html(html: str, plain: str) -> None:
    rendering = sms_text.render_comment(plain, html)
    assert not rendering.html_lost and not rendering.truncated
    assert rendering.bodies == render_reply(html, is_html=True)


def test_corpus_html_parses_whole() -> None:
    for reply in _corpus():
        if reply["html"]:
            text = html_to_text(reply["body"])
            rendering = sms_text.render_comment(text, reply["body"])
            assert not rendering.html_lost, reply["id"]
            assert rendering.bodies == render_reply(reply["body"], is_html=True), reply["id"]
