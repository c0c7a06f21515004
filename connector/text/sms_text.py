"""Everything about turning an agent's reply into SMS text.

The pipeline (:func:`render_reply`): HTML → plain text (inscriptis) → drop quoted history and the
agent's signature → smart encoding → whitespace clean-up → split into bodies of at most 1600
characters, numbered ``(1/3) …`` when there is more than one.

Segment counting follows GSM 03.38 / 3GPP TS 23.038 and reproduces Twilio's segment calculator
(https://github.com/TwilioDevEd/message-segment-calculator, whose published test vectors live in
``tests/fixtures/segments/``):

- GSM-7: 160 septets in a single message, 153 per part once a User Data Header (6 octets) is needed;
  the extension table (form feed, ``^ { } \\ [ ~ ] | €``) costs two septets (ESC + code), and an
  escape pair is never split across parts.
- UCS-2: 70 UTF-16 code units single, 67 per part. One non-GSM character makes the whole message
  UCS-2, GSM characters included. The calculator moves whole grapheme clusters (an emoji with its
  surrogate pair, a flag's two regional indicators, a ZWJ family) to the next part when they do not
  fit, and so do we: handsets show a clean break and the counts match Twilio's.

Smart encoding follows Twilio's table (https://www.twilio.com/docs/messaging/services#smart-encoding,
as published in the calculator's ``SmartEncodingMap.ts``) with documented additions and fixes; see
:data:`SMART_ENCODING_MAP`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, Literal

import lxml.html
import quotequail
import regex
from inscriptis import Inscriptis
from inscriptis.css_profiles import STRICT_CSS_PROFILE
from inscriptis.model.config import ParserConfig
from lxml import etree

__all__ = [
    "GSM7",
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "MAX_BODY_CHARS",
    "MAX_RENDER_CHARS",
    "MAX_RENDER_INPUT_CHARS",
    "SMART_ENCODING_MAP",
    "TRUNCATED_NOTE",
    "UCS2",
    "Rendering",
    "SegmentInfo",
    "fits_one_segment_gsm",
    "html_to_text",
    "is_gsm7",
    "normalize_whitespace",
    "render_comment",
    "render_reply",
    "segment_info",
    "smart_encode",
    "split_message",
    "strip_quoted_history",
    "strip_signature",
    "total_segments",
    "utf16_len",
]

Encoding = Literal["GSM-7", "UCS-2"]
GSM7: Final = "GSM-7"
UCS2: Final = "UCS-2"

#: The most text a reply renders, in characters: Zendesk keeps a comment's text up to 64 KB,
#: and 64 k characters are already some 40 texts. Every step after HTML → text is linear, but
#: this bounds the work a hostile or pasted comment can ask for (a job holds the GIL while it
#: renders). Longer text is cut at a word and ends with TRUNCATED_NOTE.
MAX_RENDER_CHARS: Final = 64 * 1024
#: The most input (HTML or plain) read at all, before conversion: markup costs characters too.
MAX_RENDER_INPUT_CHARS: Final = 4 * MAX_RENDER_CHARS
#: What a cut reply ends with, so the customer knows there was more.
TRUNCATED_NOTE: Final = "[Reply shortened: too long to text in full.]"

# Twilio refuses a Body over 1600 characters (error 21617,
# https://www.twilio.com/docs/api/errors/21617). We measure in UTF-16 code units, which is never
# fewer than the characters Twilio counts, so an emoji-heavy body can't slip over the limit.
MAX_BODY_CHARS: Final = 1600

# 3GPP TS 23.038 §6.2.1, the default alphabet, less ESC (0x1B) which only introduces the extension
# table. Kept as data, not a codec: we need exactly Twilio's table (``UnicodeToGSM.ts``; the
# fixture test checks every code point against it), not a codec's lossy fallbacks.
GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# TS 23.038 §6.2.1.1: sent as ESC + code, two septets each.
GSM7_EXTENSION: Final = frozenset("\f^{}\\[~]|€")

_SINGLE_LIMIT: Final = {GSM7: 160, UCS2: 70}
# 140 octets minus the 6-octet concatenation UDH: 153 septets (1071 bits) or 67 UTF-16 units.
_PART_LIMIT: Final = {GSM7: 153, UCS2: 67}

# Extended grapheme clusters (UAX #29). The stdlib has no segmenter; ``regex`` tracks the current
# Unicode version, which matters for new emoji sequences.
_GRAPHEME = regex.compile(r"\X")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: what UCS-2 SMS and Twilio's limits count (an emoji is 2)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM-7 basic or extension table."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _septets(text: str) -> int:
    return sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)


def fits_one_segment_gsm(text: str) -> bool:
    """True when ``text`` goes out as one GSM-7 segment (≤ 160 septets, escapes counted twice).

    For acknowledgement scripts that must stay one cheap segment. The text is checked as given: run
    :func:`smart_encode` first if it may contain pasted typography.
    """
    return is_gsm7(text) and _septets(text) <= _SINGLE_LIMIT[GSM7]


@dataclass(frozen=True)
class SegmentInfo:
    """How a body travels as SMS.

    ``units`` are septets for GSM-7 (extension characters count 2) and UTF-16 code units for UCS-2.
    ``parts`` are the texts of the segments, in order; ``"".join(parts)`` is the message.
    ``non_gsm`` lists the characters (grapheme clusters) that force UCS-2, each once, in order.
    """

    encoding: Encoding
    segments: int
    units: int
    parts: list[str] = field(default_factory=list)
    non_gsm: list[str] = field(default_factory=list)

    @property
    def units_per_segment(self) -> int:
        """The capacity of each segment at the current segment count."""
        return (_SINGLE_LIMIT if self.segments <= 1 else _PART_LIMIT)[self.encoding]

    @property
    def remaining(self) -> int:
        """Units that still fit before the message needs one more segment."""
        if self.segments <= 1:
            return _SINGLE_LIMIT[self.encoding] - self.units
        return self.segments * _PART_LIMIT[self.encoding] - self.units


def _atoms(text: str, encoding: Encoding) -> list[tuple[str, int]]:
    """The indivisible pieces of ``text`` with their size in units.

    GSM-7: one character each (an extension character is one atom of two septets, so its escape
    pair stays together). UCS-2: grapheme clusters, as Twilio's calculator does, except CR LF, which
    the calculator splits, and a cluster too big for any part, which falls back to code points
    (a surrogate pair still stays whole).
    """
    if encoding == GSM7:
        return [(ch, 2 if ch in GSM7_EXTENSION else 1) for ch in text]
    atoms: list[tuple[str, int]] = []
    for cluster in _GRAPHEME.findall(text):
        size = utf16_len(cluster)
        if cluster == "\r\n" or size > _PART_LIMIT[UCS2]:
            atoms.extend((ch, utf16_len(ch)) for ch in cluster)
        else:
            atoms.append((cluster, size))
    return atoms


def segment_info(text: str) -> SegmentInfo:
    """Encoding, segment count and segment texts of ``text``, as Twilio counts them.

    An empty text is 0 segments (nothing would be sent). A part is filled until the next atom
    does not fit in its remaining room; that atom opens the next part.
    """
    non_gsm = list(dict.fromkeys(c for c in _GRAPHEME.findall(text) if not is_gsm7(c)))
    encoding: Encoding = UCS2 if non_gsm else GSM7
    atoms = _atoms(text, encoding)
    units = sum(size for _, size in atoms)
    if units == 0:
        return SegmentInfo(encoding, 0, 0, [], non_gsm)
    if units <= _SINGLE_LIMIT[encoding]:
        return SegmentInfo(encoding, 1, units, [text], non_gsm)
    limit = _PART_LIMIT[encoding]
    parts: list[str] = []
    current: list[str] = []
    room = limit
    for atom, size in atoms:
        if size > room:
            parts.append("".join(current))
            current, room = [], limit
        current.append(atom)
        room -= size
    parts.append("".join(current))
    return SegmentInfo(encoding, len(parts), units, parts, non_gsm)


# --- Smart encoding -------------------------------------------------------------------------------

# Twilio's Smart Encoding table, as published in TwilioDevEd/message-segment-calculator
# src/libs/SmartEncodingMap.ts (MIT; https://www.twilio.com/docs/messaging/services#smart-encoding).
_TWILIO_SMART_ENCODING: Final[dict[str, str]] = {
    # double quotes
    "\u00ab": '"', "\u00bb": '"', "\u201c": '"', "\u201d": '"', "\u02ba": '"', "\u02ee": '"',
    "\u201f": '"', "\u201e": '"', "\u275d": '"', "\u275e": '"', "\u301d": '"', "\u301e": '"',
    "\uff02": '"',
    # single quotes and apostrophes
    "\u2018": "'", "\u2019": "'", "\u02bb": "'", "\u02c8": "'", "\u02bc": "'", "\u02bd": "'",
    "\u02b9": "'", "\u201b": "'", "\uff07": "'", "\u00b4": "'", "\u02ca": "'", "\u0060": "'",
    "\u02cb": "'", "\u275b": "'", "\u275c": "'", "\u0313": "'", "\u0314": "'", "\ufe10": "'",
    "\ufe11": "'",
    # slashes, fractions, bars
    "\u00f7": "/", "\u00bc": "1/4", "\u00bd": "1/2", "\u00be": "3/4", "\u29f8": "/",
    "\u0337": "/", "\u0338": "/", "\u2044": "/", "\u2215": "/", "\uff0f": "/", "\u29f9": "\\",
    "\u29f5": "\\", "\u20e5": "\\", "\ufe68": "\\", "\uff3c": "\\", "\u0332": "_", "\uff3f": "_",
    "\u20d2": "|", "\u20d3": "|", "\u2223": "|", "\uff5c": "|", "\u23b8": "|", "\u23b9": "|",
    "\u23d0": "|", "\u239c": "|", "\u239f": "|",
    # dashes and hyphens
    "\u23bc": "-", "\u23bd": "-", "\u2015": "-", "\ufe63": "-", "\uff0d": "-", "\u2010": "-",
    "\u2043": "-", "\u2014": "-", "\u2013": "-", "\u2022": "-",
    # small / fullwidth punctuation
    "\ufe6b": "@", "\uff20": "@", "\ufe69": "$", "\uff04": "$", "\u01c3": "!", "\ufe15": "!",
    "\ufe57": "!", "\uff01": "!", "\ufe5f": "#", "\uff03": "#", "\ufe6a": "%", "\uff05": "%",
    "\ufe60": "&", "\uff06": "&", "\u201a": ",", "\u0326": ",", "\ufe50": ",", "\ufe51": ",",
    "\uff0c": ",", "\uff64": ",", "\u3001": ",", "\u2768": "(", "\u276a": "(", "\ufe59": "(",
    "\uff08": "(", "\u27ee": "(", "\u2985": "(", "\u2769": ")", "\u276b": ")", "\ufe5a": ")",
    "\uff09": ")", "\u27ef": ")", "\u2986": ")", "\u204e": "*", "\u2217": "*", "\u229b": "*",
    "\u2722": "*", "\u2723": "*", "\u2724": "*", "\u2725": "*", "\u2731": "*", "\u2732": "*",
    "\u2733": "*", "\u273a": "*", "\u273b": "*", "\u273c": "*", "\u273d": "*", "\u2743": "*",
    "\u2749": "*", "\u274a": "*", "\u274b": "*", "\u29c6": "*", "\ufe61": "*", "\uff0a": "*",
    "\u02d6": "+", "\ufe62": "+", "\uff0b": "+", "\u3002": ".", "\ufe52": ".", "\uff0e": ".",
    "\uff61": ".", "\u02d0": ":", "\u02f8": ":", "\u2982": ":", "\ua789": ":", "\ufe13": ":",
    "\uff1a": ":", "\u204f": ";", "\ufe14": ";", "\ufe54": ";", "\uff1b": ";", "\ufe64": "<",
    "\uff1c": "<", "\u0347": "=", "\ua78a": "=", "\ufe66": "=", "\uff1d": "=", "\ufe65": ">",
    "\uff1e": ">", "\ufe16": "?", "\ufe56": "?", "\uff1f": "?", "\u02c6": "^", "\u0302": "^",
    "\uff3e": "^", "\u1dcd": "^", "\u2774": "{", "\ufe5b": "{", "\uff5b": "{", "\u2775": "}",
    "\ufe5c": "}", "\uff5d": "}", "\uff3b": "[", "\uff3d": "]", "\u02dc": "~", "\u02f7": "~",
    "\u0303": "~", "\u0330": "~", "\u0334": "~", "\u223c": "~", "\uff5e": "~", "\u2017": "_",
    "\u203c": "!!", "\u2026": "...",
    # fullwidth digits, fullwidth and small-capital letters
    **{chr(0xFF10 + i): str(i) for i in range(10)},
    **{chr(0xFF21 + i): chr(ord("A") + i) for i in range(26)},
    "\u1d00": "A", "\u0299": "B", "\u1d04": "C", "\u1d05": "D", "\u1d07": "E", "\ua730": "F",
    "\u0262": "G", "\u029c": "H", "\u026a": "I", "\u1d0a": "J", "\u1d0b": "K", "\u029f": "L",
    "\u1d0d": "M", "\u0274": "N", "\u1d0f": "O", "\u1d18": "P", "\u0280": "R", "\ua731": "S",
    "\u1d1b": "T", "\u1d1c": "U", "\u1d20": "V", "\u1d21": "W", "\u028f": "Y", "\u1d22": "Z",
    # spaces, separators, C0/C1 controls (the calculator writes two spaces for most of these and
    # seven for a tab; one space is what a reader sees, and normalize_whitespace collapses runs)
    "\u00a0": " ", "\u2000": " ", "\u2001": " ", "\u2002": " ", "\u2003": " ", "\u2004": " ",
    "\u2005": " ", "\u2006": " ", "\u2007": " ", "\u2008": " ", "\u2009": " ", "\u200a": " ",
    "\u202f": " ", "\u205f": " ", "\u3000": " ", "\u2028": " ", "\u2029": " ", "\u0009": " ",
    "\u008d": " ", "\u009f": " ", "\u0080": " ", "\u0090": " ", "\u009b": " ",
    "\u0010": "", "\u0000": "", "\u0003": "", "\u0004": "", "\u0017": "", "\u0019": "",
    "\u0011": "", "\u0012": "", "\u0013": "", "\u0014": "",
    # invisible: zero width space, word joiner, BOM / zero width no-break space
    "\u200b": "", "\u2060": "", "\ufeff": "",
}  # fmt: skip

# Our changes to Twilio's table, all for characters agents paste from Word / Google Docs / Slack.
_OUR_SMART_ENCODING: Final[dict[str, str]] = {
    # Twilio maps ‹ to ">" and › to "<" (reversed); they are single guillemets, i.e. quotes.
    "\u2039": "'",
    "\u203a": "'",
    # dashes and minus signs Twilio leaves alone
    "\u2011": "-",  # non-breaking hyphen (Word's Ctrl+Shift+-)
    "\u2012": "-",  # figure dash
    "\u2212": "-",  # minus sign
    "\ufe58": "-",  # small em dash
    "\u00ad": "",  # soft hyphen: invisible unless a line breaks there, which SMS apps decide
    # primes, typed by autocorrect for feet/inches and minutes/seconds
    "\u2032": "'",
    "\u2033": '"',
    "\u2035": "'",
    # arrows in "Settings → Billing" style instructions
    "\u2192": "->",
    "\u2190": "<-",
    "\u2194": "<->",
    "\u21d2": "=>",
    "\u00d7": "x",  # 1920×1080
    "\u2023": "-",  # triangular bullet
    "\u2219": "-",  # bullet operator
    "\u25e6": "-",  # white bullet
}

#: Character → GSM-7 replacement used by :func:`smart_encode`: Twilio's table plus our changes.
SMART_ENCODING_MAP: Final[dict[str, str]] = {**_TWILIO_SMART_ENCODING, **_OUR_SMART_ENCODING}

# Glyphs Word and Google Docs put in front of list items; replaced only at the start of a line,
# because "·" is also a letter separator (Catalan "l·l") and ■ ● may mean something mid-text.
_LINE_BULLET = re.compile(r"^([^\S\n]*)[•·●▪▫■□◦‣∙⁃][^\S\n]+", re.MULTILINE)

# Zero-width joiners / non-joiners are meaningful inside emoji sequences (👨‍👩‍👧) and in
# Persian or Indic words, where their cluster holds non-GSM letters: we keep them there. A joiner
# whose cluster is otherwise GSM-7 joins nothing visible, so we drop it (Twilio keeps it, and one
# stray ZWJ from a web form makes the whole message UCS-2).
_JOINERS: Final = frozenset("\u200c\u200d")

# A cluster that is, or is part of, an emoji is sent as is: replacing "‼" inside "‼️" would leave
# a lone variation selector and still be UCS-2.
_EMOJI = regex.compile(
    r"[\p{Emoji_Presentation}\p{Regional_Indicator}\p{Emoji_Modifier}\uFE0F\u20E3"
    r"\U000E0020-\U000E007F]"
)


# French typesetting puts a (narrow) no-break space inside guillemets: « oui ». Once they become
# straight quotes, the spaces would read as '" oui "'.
_GUILLEMET_OPEN = re.compile(r"«[^\S\n]+")
# (Tried from the first space of a run only, so a long run of spaces stays linear.)
_GUILLEMET_CLOSE = re.compile(r"(?<![^\S\n])[^\S\n]+»")


def _smart_cluster(cluster: str) -> str:
    if is_gsm7(cluster) or _EMOJI.search(cluster):
        return cluster
    without_joiners = "".join(ch for ch in cluster if ch not in _JOINERS)
    if is_gsm7(without_joiners):
        return without_joiners
    # NFC first: a decomposed "n" + U+0303 (macOS, some web forms) becomes the GSM letter "ñ",
    # where Twilio's per-character table would turn the accent into "n~". NFC is canonical
    # equivalence, so even a cluster that stays non-GSM looks the same.
    composed = unicodedata.normalize("NFC", cluster)
    return "".join(SMART_ENCODING_MAP.get(ch, ch) for ch in composed)


def smart_encode(text: str) -> str:
    """Replace typographic characters with GSM-7 look-alikes, as Twilio's Smart Encoding does.

    Curly quotes → straight, dashes → "-", "…" → "...", Unicode spaces → space, zero-width
    characters dropped, list bullets → "-". GSM-7 characters are never changed; emoji and letters
    outside GSM-7 (``ç``, ``í``, Cyrillic, CJK…) are kept: they are content, not typography.
    """
    text = _LINE_BULLET.sub(r"\1- ", text)
    text = _GUILLEMET_CLOSE.sub("»", _GUILLEMET_OPEN.sub("«", text))
    return "".join(_smart_cluster(cluster) for cluster in _GRAPHEME.findall(text))


# --- HTML → text ----------------------------------------------------------------------------------

# Strict profile: the relaxed default indents every <div> (Zendesk wraps comments in one), and
# indentation is wasted characters on a phone.
_INSCRIPTIS_CONFIG = ParserConfig(css=dict(STRICT_CSS_PROFILE))

# Mail clients' own markers for quoted history and signatures, when an email reply becomes a
# comment: Gmail, Yahoo, Thunderbird, Apple Mail / RFC 2427 citations.
_DROP_ELEMENTS = etree.XPath(
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' gmail_quote ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' gmail_signature ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' yahoo_quoted ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' moz-cite-prefix ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' moz-signature ')"
    " or (local-name() = 'blockquote' and @type = 'cite')]"
)

_TEXT_WRAPPERS: Final = frozenset({"p", "div", "span", "strong", "b", "em", "i", "u", "font"})


def _url_key(url: str) -> str:
    url = url.strip().lower()
    url = re.sub(r"^[a-z][a-z0-9+.-]*://", "", url)
    url = url.removeprefix("www.")
    return url.rstrip("/")


def _link_suffix(href: str, label: str) -> str:
    """What to add after a link's text so the customer can still reach it from an SMS."""
    href = href.strip()
    lower = href.lower()
    if lower.startswith(("http://", "https://")):
        if not label:
            return href
        return "" if _url_key(label) == _url_key(href) else f" ({href})"
    if lower.startswith("mailto:"):
        address = href[len("mailto:") :].split("?", 1)[0]
        if not address or address.lower() in label.lower():
            return ""
        return f" ({address})" if label else address
    if lower.startswith("tel:"):
        number = href[len("tel:") :]
        if re.sub(r"\D", "", number) == re.sub(r"\D", "", label):
            return ""
        return f" ({number})" if label else number
    # Relative links, in-page anchors, javascript: — nothing a phone could open.
    return ""


def _prefix_text(element: lxml.html.HtmlElement, prefix: str) -> None:
    """Put ``prefix`` before the first text of ``element`` (descending into a leading <p>)."""
    target = element
    while (target.text is None or not target.text.strip()) and len(target):
        first = target[0]
        if not isinstance(first.tag, str) or first.tag not in _TEXT_WRAPPERS:
            break
        target = first
    target.text = prefix + (target.text or "").lstrip()


def _html_int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _rewrite_lists(root: lxml.html.HtmlElement) -> None:
    # inscriptis writes "* ", "+ ", "o " bullets with 4-space indents; SMS reads best as "- item"
    # and "1. item", without indentation. Rewriting the tree keeps the choice local to this
    # conversion instead of patching inscriptis' module-level bullet table.
    # HTML numbering: start at @start; an item's @value resets the count for what follows.
    # Numbered in one pass over each list (counting the siblings before every item was O(n²)).
    numbers: dict[lxml.html.HtmlElement, int] = {}
    for ordered in root.iter("ol"):
        count = _html_int(ordered.get("start"), 1) - 1
        for child in ordered:
            if child.tag == "li":
                count = _html_int(child.get("value"), count + 1)
                numbers[child] = count
    for item in list(root.iter("li")):
        number = numbers.get(item)
        _prefix_text(item, "- " if number is None else f"{number}. ")
        # A <p> inside an item would add blank lines between items (inscriptis gives <p> margins).
        for paragraph in item.findall("p"):
            paragraph.tag = "div"
    for element in list(root.iter("li", "ul", "ol")):
        element.tag = "div"


def _parse_html(html: str) -> tuple[lxml.html.HtmlElement, bool]:
    """The document tree of ``html``, and whether the parser gave up on part of it.

    libxml2 stops at 256 levels of nesting ("Excessive depth in document", a fatal error) and
    lxml's recovery then returns the tree read so far: everything after the nesting is gone,
    silently. XML_PARSE_HUGE would raise the limit, but inscriptis walks the tree recursively,
    so we keep the limit and report the loss instead.
    """
    parser = lxml.html.HTMLParser()  # one per call: a parser is not thread-safe
    try:
        root = lxml.html.document_fromstring(html, parser=parser)
    except (etree.ParserError, ValueError):
        # "Document is empty" (only comments, say): read it as preformatted text, as inscriptis'
        # own get_text does, so a comment still renders as nothing.
        root = lxml.html.document_fromstring(f"<pre>{html}</pre>")
    fatal = any(error.level >= etree.ErrorLevels.FATAL for error in parser.error_log)
    return root, fatal


def _tree_to_text(root: lxml.html.HtmlElement) -> str:
    for element in _DROP_ELEMENTS(root):
        element.drop_tree()
    for anchor in list(root.iter("a")):
        label = " ".join(anchor.text_content().split())
        suffix = _link_suffix(anchor.get("href", ""), label)
        if suffix:
            anchor.tail = suffix + (anchor.tail or "")
    _rewrite_lists(root)
    return normalize_whitespace(Inscriptis(root, _INSCRIPTIS_CONFIG).get_text())


def html_to_text(html: str) -> str:
    """Plain text of an agent's HTML comment (Zendesk ``html_body``, Freshdesk ``body``).

    Links stay usable: "see our guide (https://…)", just the URL when the text already is the URL.
    Lists become "- item" / "1. item". Gmail / Yahoo / Thunderbird quote and signature blocks go.
    """
    if not html.strip():
        return ""
    return _tree_to_text(_parse_html(html)[0])


def _letters(text: str) -> int:
    return sum(1 for ch in text if ch.isalnum())


def _lost_text(root: lxml.html.HtmlElement, plain: str) -> bool:
    """True when the parsed HTML holds less than half the letters and digits of the helpdesk's
    own plain text of the same comment: the parser dropped content (link targets count, since a
    plain rendering may spell them out)."""
    seen = _letters(root.text_content()) + sum(_letters(str(v)) for v in root.xpath("//@href"))
    return seen * 2 < _letters(plain)


# --- Whitespace -----------------------------------------------------------------------------------

_INNER_SPACES = re.compile(r"[^\S\n]{2,}")


def normalize_whitespace(text: str) -> str:
    """Line ends to LF, no leading/trailing spaces on lines, runs of spaces to one, at most one
    blank line in a row, no blank lines at either end.

    SMS apps use proportional fonts and wrap lines themselves: indentation and alignment only cost
    characters. CR LF costs two septets where LF costs one.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    for raw in lines:
        line = _INNER_SPACES.sub(" ", raw.strip())
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


# --- Quoted history and signatures ----------------------------------------------------------------

# Zendesk's mail delimiter (Admin Center > Channels > Email > Mail delimiter): the wording is
# localised and editable, the "##- … -##" frame around it is what Zendesk itself looks for.
_ZENDESK_DELIMITER = re.compile(r"^##-.*-##$")
_QUOTE_LINE = re.compile(r"^\s*>(\s|>|$)")


# quotequail's scan is quadratic in lines (each header-looking line re-reads every line after
# it: 4,000 "From:" lines took 7.5 s) and some of its patterns backtrack cubically within a line
# ("2024/1/2 " + " <@" * 400 took 50 ms, twice that length 0.4 s). A reply or forward header is
# a short line, and SMS replies are short: it sees at most the first 300 lines, 20,000
# characters, each line cut at 200 characters. A header past that stays in the text (which
# MAX_RENDER_CHARS still caps).
_QUOTE_SCAN_LINES: Final = 300
_QUOTE_SCAN_CHARS: Final = 20_000
_QUOTE_SCAN_LINE_CHARS: Final = 200


def _quote_top(lines: list[str]) -> int | None:
    """How many of ``lines`` come before a reply / forward header, or None if there is none."""
    window: list[str] = []
    budget = _QUOTE_SCAN_CHARS
    for line in lines[:_QUOTE_SCAN_LINES]:
        line = line[:_QUOTE_SCAN_LINE_CHARS]
        budget -= len(line) + 1
        if budget < 0:
            break
        window.append(line)
    scanned = "\n".join(window)
    # quotequail (Close, MIT) keeps the reply / forward header patterns of many mail clients and
    # languages; it answers None when it finds no header. ``text_top`` is the lines above the
    # header, stripped: find where it ends to cut the uncut lines at the same place.
    unwrapped = quotequail.unwrap(scanned)
    top = unwrapped.get("text_top") if unwrapped is not None else None
    if not top:
        return None
    return scanned.count("\n", 0, scanned.find(top) + len(top)) + 1


def strip_quoted_history(text: str) -> str:
    """Drop quoted history: Zendesk's "##- Please type your reply above this line -##", reply and
    forward headers ("On … wrote:", "-----Original Message-----", Outlook's From/Sent block, in
    the languages quotequail knows) with everything after them, and "> " lines.

    If nothing would be left, the text is returned unchanged: better a long SMS than an empty one.
    """
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if _ZENDESK_DELIMITER.match(line.strip()):
            lines = lines[:index]
            break
    top = _quote_top(lines)
    kept = "\n".join(lines if top is None else lines[:top])
    result = "\n".join(line for line in kept.split("\n") if not _QUOTE_LINE.match(line)).strip()
    return result if result else text


_MOBILE_FOOTER = re.compile(
    r"^(sent from my \w.*|sent from (mail|outlook|yahoo mail) for \w.*|get outlook for \w.*|"
    r"sent from (my )?(iphone|ipad|android|samsung|galaxy|mobile).*|envoyé de mon \w.*|"
    r"von meinem \w.* gesendet)$",
    re.IGNORECASE,
)
_VALEDICTION = re.compile(
    r"^((best|kind|warm|warmest|many|with)\s+(regards|wishes|thanks)|regards|best|thanks|"
    r"thank you|thanks again|thank you again|many thanks|cheers|sincerely|yours sincerely|"
    r"yours truly|all the best|take care|talk soon|thx|ta|"
    r"cordialement|bien à vous|mit freundlichen grüßen|viele grüße|beste grüße|saludos|"
    r"un saludo|atentamente|atenciosamente|cordiali saluti|met vriendelijke groet)\s*[,.!]*$",
    re.IGNORECASE,
)
_SIGNATURE_MAX_LINES = 6
_SIGNATURE_LINE_MAX_CHARS = 60


def _is_signature_line(line: str) -> bool:
    """A name, title, company, phone or web address: short, and not a sentence of the reply."""
    return (
        len(line) <= _SIGNATURE_LINE_MAX_CHARS
        and len(line.split()) <= 8
        and not line.endswith(("?", ":"))
        and ". " not in line
    )


_NAME_LINE = re.compile(r"^[^\W\d_][^\d@:;?!]{0,40}$")


def _is_name_line(line: str) -> bool:
    """The first line under a closing: a name ("Jane", "Ana Müller", "Jane from Acme Support")."""
    return bool(_NAME_LINE.match(line)) and line[0].isupper() and len(line.split()) <= 5


def strip_signature(text: str) -> str:
    """Drop the agent's trailing signature block; never anything in the body.

    Removed, only at the end: a "-- " / "--" delimiter and the short block after it; "Sent from my
    iPhone" style footers; a closing line ("Best regards," "Thanks," "Cheers,"…) followed by 1–6
    short name/title lines. A "Thanks!" with nothing after it, or "thanks" inside a sentence, stays.
    If nothing would be left, the text is returned unchanged.
    """
    lines = text.rstrip().split("\n")
    # 1. Phone footers among the last lines.
    while lines and _MOBILE_FOOTER.match(lines[-1].strip()):
        lines.pop()
        while lines and not lines[-1].strip():
            lines.pop()
    # 2. The RFC 3676 §4.3 delimiter "-- " (and the bare "--" many clients produce) near the end.
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].strip() == "--":
            after = [line.strip() for line in lines[i + 1 :] if line.strip()]
            if len(after) <= _SIGNATURE_MAX_LINES + 2 and all(
                len(line) <= _SIGNATURE_LINE_MAX_CHARS * 2 for line in after
            ):
                lines = lines[:i]
            break
    # 3. A closing phrase followed by a short name / title block.
    non_blank = [i for i, line in enumerate(lines) if line.strip()]
    lowest = max(-1, len(non_blank) - 2 - _SIGNATURE_MAX_LINES)
    for position in range(len(non_blank) - 2, lowest, -1):
        index = non_blank[position]
        if _VALEDICTION.match(lines[index].strip()):
            block = [lines[i].strip() for i in non_blank[position + 1 :]]
            if block and _is_name_line(block[0]) and all(map(_is_signature_line, block)):
                lines = lines[:index]
            break
    result = "\n".join(lines).strip()
    return result if result else text


# --- Splitting ------------------------------------------------------------------------------------

# A sentence ends at . ! ? … (then maybe a closing quote or bracket) and whitespace, or at a line
# break. A regex, not an NLP sentence splitter: a wrong boundary only moves a part break.
# Linear time: a run of marks is only tried from its first mark (the lookbehind), so 64 k dots
# with no space after them are one failed attempt, not 64 k attempts each scanning the rest of
# the run; spaces before a line break end the piece before them either way, so the break is
# matched from the newline itself.
_SENTENCE_BOUNDARY = re.compile(r"(?<![.!?…])[.!?…]+[\"'”’)\]]*[^\S\n]+|\n\s*")
_ABBREVIATION = re.compile(
    r"(\b(e\.g|i\.e|mr|mrs|ms|dr|st|no|vs|approx|inc|ltd|co|jr|sr)\.|\b[A-Z]\.)$", re.IGNORECASE
)
_WORD = re.compile(r"\S+\s*|\s+")


def _sentences(text: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_BOUNDARY.finditer(text):
        head = text[max(start, match.start() - 8) : match.start() + 1]
        if text[match.start()] == "." and _ABBREVIATION.search(head):
            continue
        pieces.append(text[start : match.end()])
        start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _graphemes(text: str) -> list[str]:
    return list(_GRAPHEME.findall(text))


def _code_points(text: str) -> list[str]:
    return list(text)


_SPLITTERS: Final[list[Callable[[str], list[str]]]] = [_sentences, _words, _graphemes, _code_points]


@dataclass
class _Part:
    """A body being filled: its pieces and its size, kept incrementally (texts can be long)."""

    pieces: list[str] = field(default_factory=list)
    units: int = 0  # UTF-16 units so far, trailing whitespace included

    def add(self, piece: str, budget: int) -> bool:
        """Append ``piece`` if the stripped part still fits ``budget`` (leading space dropped)."""
        if not self.pieces:
            piece = piece.lstrip()
            if not piece:
                return True
        core = piece.rstrip()
        # Whitespace already in the part becomes interior once ``core`` follows it.
        if core and self.units + utf16_len(core) > budget:
            return False
        self.pieces.append(piece)
        self.units += utf16_len(piece)
        return True

    def text(self) -> str:
        return "".join(self.pieces).strip()


def _pack(text: str, budget: int, level: int, done: list[str], part: _Part) -> _Part:
    """Greedily fill parts of at most ``budget`` UTF-16 units with pieces of ``text``.

    Finished parts go to ``done``; the part still open is returned so the caller can keep filling
    it. A piece too long for a whole part is split at the next finer level.
    """
    for piece in _SPLITTERS[level](text):
        if part.add(piece, budget):
            continue
        if part.pieces:
            done.append(part.text())
        part = _Part()
        if not part.add(piece, budget):
            part = _pack(piece.lstrip(), budget, level + 1, done, part)
    return part


def _chunks(text: str, budget: int) -> list[str]:
    done: list[str] = []
    tail = _pack(text, budget, 0, done, _Part())
    if tail.text():
        done.append(tail.text())
    return done


def split_message(text: str, max_chars: int = MAX_BODY_CHARS) -> list[str]:
    """Split ``text`` into bodies of at most ``max_chars`` UTF-16 units.

    One body is returned as is. Longer text breaks at sentence ends (else between words, else
    between characters, never inside a grapheme) into parts numbered "(1/3) ", the number counted
    inside the limit. Whitespace at a break is dropped.
    """
    if max_chars < 16:
        raise ValueError("max_chars must leave room for a '(n/N) ' prefix and some text")
    text = text.strip()
    if not text:
        return []
    if utf16_len(text) <= max_chars:
        return [text]
    digits = 1
    while True:
        prefix_room = len(f"({'9' * digits}/{'9' * digits}) ")
        chunks = _chunks(text, max_chars - prefix_room)
        if len(str(len(chunks))) <= digits:
            total = len(chunks)
            return [f"({n}/{total}) {chunk}" for n, chunk in enumerate(chunks, start=1)]
        digits += 1


# --- The pipeline ---------------------------------------------------------------------------------


def _choose_encoding(text: str) -> str:
    """Smart-encoded text, unless it stays UCS-2 and got longer ("…" → "..." costs 2 more units
    once the message is UCS-2 anyway): smart encoding should never make a message dearer."""
    encoded = smart_encode(text)
    if is_gsm7(encoded) or utf16_len(encoded) <= utf16_len(text):
        return encoded
    return text


def _cap(text: str, limit: int) -> tuple[str, bool]:
    """``text`` cut to at most ``limit`` characters, at a space or line break near the end if
    there is one, and whether it was cut."""
    if len(text) <= limit:
        return text, False
    cut = text[:limit]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space >= limit - 200:
        cut = cut[:space]
    return cut, True


def _render_text(text: str, *, cut: bool, max_chars: int, smart: bool) -> Rendering:
    text, capped = _cap(text, MAX_RENDER_CHARS)
    text = strip_signature(strip_quoted_history(text))
    if cut or capped:
        text = f"{text.rstrip()}\n\n{TRUNCATED_NOTE}"
    if smart:
        text = _choose_encoding(text)
    return Rendering(split_message(normalize_whitespace(text), max_chars), cut or capped)


@dataclass(frozen=True)
class Rendering:
    """An agent comment as SMS bodies, and what the agent may need to know about it."""

    bodies: list[str]
    #: Over MAX_RENDER_CHARS (or MAX_RENDER_INPUT_CHARS before conversion): only the start is
    #: texted, ending with TRUNCATED_NOTE.
    truncated: bool = False
    #: The HTML could not be read whole (nested deeper than the parser's limit, say); the
    #: helpdesk's plain text of the comment was rendered instead.
    html_lost: bool = False


def render_comment(
    body: str, html_body: str | None = None, *, max_chars: int = MAX_BODY_CHARS, smart: bool = True
) -> Rendering:
    """:func:`render_reply` for a helpdesk comment that has a plain ``body`` and maybe an
    ``html_body``: the HTML is rendered (links, lists), unless the parser lost part of it, then
    the plain body is (``html_lost``)."""
    if not html_body or not html_body.strip():
        plain, cut = _cap(body, MAX_RENDER_INPUT_CHARS)
        return _render_text(normalize_whitespace(plain), cut=cut, max_chars=max_chars, smart=smart)
    html, cut = _cap(html_body, MAX_RENDER_INPUT_CHARS)
    root, fatal = _parse_html(html)
    # A cut document holds less than the plain body by design: only the parser's word counts.
    lost = fatal or (not cut and _lost_text(root, body))
    if lost and body.strip():
        rendered = render_comment(body, None, max_chars=max_chars, smart=smart)
        return Rendering(rendered.bodies, rendered.truncated, html_lost=True)
    # Without a plain body, what the parser kept is the best there is (flagged all the same).
    rendered = _render_text(_tree_to_text(root), cut=cut, max_chars=max_chars, smart=smart)
    return Rendering(rendered.bodies, rendered.truncated, html_lost=lost)


def render_reply(
    html_or_text: str, *, is_html: bool, max_chars: int = MAX_BODY_CHARS, smart: bool = True
) -> list[str]:
    """The SMS bodies to send for an agent's reply, in order; ``[]`` when nothing is left to send.

    HTML → text, quoted history and signature dropped, smart encoding (when it does not make the
    message dearer), whitespace cleaned, split into numbered parts of at most ``max_chars``.
    Input over MAX_RENDER_INPUT_CHARS, or text over MAX_RENDER_CHARS, is cut and ends with
    TRUNCATED_NOTE.
    """
    raw, cut = _cap(html_or_text, MAX_RENDER_INPUT_CHARS)
    text = html_to_text(raw) if is_html else normalize_whitespace(raw)
    return _render_text(text, cut=cut, max_chars=max_chars, smart=smart).bodies


def total_segments(bodies: Iterable[str]) -> int:
    """Segments billed for sending each of ``bodies`` as its own message."""
    return sum(segment_info(body).segments for body in bodies)
