"""What smart encoding saves on realistic agent replies.

Renders every reply in ``benchmarks/agent_replies/replies.toml`` through the real pipeline
(:func:`connector.text.sms_text.render_reply`) with and without smart encoding, counts the segments
Twilio would bill, prints a markdown table and writes it (plus a per-reply breakdown) to
``benchmarks/results/segments.md``.

Run: ``.venv/bin/python benchmarks/bench_segments.py``
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from connector.text.sms_text import GSM7, render_reply, segment_info  # noqa: E402

CORPUS = ROOT / "agent_replies" / "replies.toml"
RESULTS = ROOT / "results" / "segments.md"


@dataclass(frozen=True)
class Row:
    id: str
    bodies: int
    segments_smart: int
    segments_plain: int
    gsm_smart: bool
    gsm_plain: bool


def measure(reply: dict[str, object]) -> Row:
    body, is_html = str(reply["body"]), bool(reply["html"])
    smart = [segment_info(b) for b in render_reply(body, is_html=is_html, smart=True)]
    plain = [segment_info(b) for b in render_reply(body, is_html=is_html, smart=False)]
    return Row(
        id=str(reply["id"]),
        bodies=len(smart),
        segments_smart=sum(i.segments for i in smart),
        segments_plain=sum(i.segments for i in plain),
        gsm_smart=all(i.encoding == GSM7 for i in smart),
        gsm_plain=all(i.encoding == GSM7 for i in plain),
    )


def summary_table(rows: list[Row]) -> str:
    smart = sum(r.segments_smart for r in rows)
    plain = sum(r.segments_plain for r in rows)
    became_gsm = sum(1 for r in rows if r.gsm_smart and not r.gsm_plain)
    return "\n".join(
        [
            "| replies | segments, smart encoding | segments, without | ratio | became GSM-7 |",
            "|---:|---:|---:|---:|---:|",
            f"| {len(rows)} | {smart} | {plain} | {smart / plain:.2f} | {became_gsm} |",
        ]
    )


def detail_table(rows: list[Row]) -> str:
    lines = [
        "| reply | bodies | segments, smart | segments, without | encoding, smart | without |",
        "|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.id} | {r.bodies} | {r.segments_smart} | {r.segments_plain} | "
            f"{'GSM-7' if r.gsm_smart else 'UCS-2'} | {'GSM-7' if r.gsm_plain else 'UCS-2'} |"
        )
    return "\n".join(lines)


def main() -> int:
    with CORPUS.open("rb") as fh:
        replies = tomllib.load(fh)["reply"]
    rows = [measure(reply) for reply in replies]
    summary = summary_table(rows)
    print(summary)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        "# Segments per agent reply, with and without smart encoding\n\n"
        "Written by `benchmarks/bench_segments.py` from `benchmarks/agent_replies/replies.toml`; "
        "each reply rendered by `connector.text.sms_text.render_reply` (HTML, signature and quote "
        "stripping, 1600-character split), segments counted as Twilio bills them.\n\n"
        f"{summary}\n\n## Per reply\n\n{detail_table(rows)}\n",
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
