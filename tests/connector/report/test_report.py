"""The report over a seeded week (seed.py): the numbers worked out by hand, in all three formats,
the causes' precedence, the CLI and the weekly file."""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from connector.report import build_report
from connector.report.compute import CAUSE_LABELS
from connector.report.render_html import render_html
from connector.report.render_json import to_dict
from connector.report.render_text import render_text
from mappings.policy import load_policy
from tests.connector.report import seed
from tests.connector.report.seed import (
    AS_OF,
    EVENTS,
    EXPECTED_BY_ERROR_CODE,
    EXPECTED_DELIVERY,
    PREVIOUS,
    SINCE,
    UNTIL,
    WEEK,
)

HOURS = load_policy().business_hours


def nearest_rank_p90(values: list[float]) -> float | None:
    ordered = sorted(values)
    return ordered[math.ceil(len(ordered) * 9 / 10) - 1] if ordered else None


def expected_scenarios(tickets: list[seed.Seeded], events: list[tuple]) -> dict:
    by_id = {s.ticket_id: s for s in tickets}
    out: dict[tuple[str, str], dict] = {}
    for s in tickets:
        row = out.setdefault((s.scenario, s.tier), {
            "scenario": s.scenario, "tier": s.tier, "tickets": 0, "met": 0, "missed": 0,
            "answered": [], "escalations": Counter()})
        row["tickets"] += 1
        row["met"] += s.expected == "met"
        row["missed"] += s.expected == "missed"
        if s.response_after is not None:
            row["answered"].append(s.counted)
    for ticket, kind, rule, _after in events:
        if kind == "escalated" and ticket in by_id:
            s = by_id[ticket]
            out[(s.scenario, s.tier)]["escalations"][rule] += 1
    return {key: {
        "scenario": r["scenario"], "tier": r["tier"], "tickets": r["tickets"],
        "first_response": {
            "met": r["met"], "missed": r["missed"],
            "median_seconds": statistics.median(r["answered"]) if r["answered"] else None,
            "p90_seconds": nearest_rank_p90(r["answered"])},
        "escalations": dict(r["escalations"])} for key, r in out.items()}


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    seed.seed(engine)
    return engine


def report_of(engine: Engine, **kwargs):
    return build_report(engine, since=SINCE, until=UNTIL, as_of=AS_OF, hours=HOURS,
                        backlog_after=120.0, **kwargs)


def check_json(data: dict) -> None:
    assert data["since"] == "2026-11-30T00:00:00-05:00"
    assert data["until"] == "2026-12-07T00:00:00-05:00"
    want = expected_scenarios(WEEK, EVENTS)
    got = {(s["scenario"], s["tier"]): s for s in data["scenarios"]}
    assert set(got) == set(want)
    for key, expected in want.items():
        row = got[key]
        assert {k: row[k] for k in ("scenario", "tier", "tickets", "escalations")} == {
            k: expected[k] for k in ("scenario", "tier", "tickets", "escalations")}, key
        assert {k: row["first_response"][k] for k in expected["first_response"]} == \
            expected["first_response"], key
    # P1 first, then P2, P3.
    assert [s["tier"] for s in data["scenarios"]] == sorted(s["tier"] for s in data["scenarios"])
    want_misses = {(s.ticket_id, s.scenario, float(s.target), float(s.counted), s.cause)
                   for s in WEEK if s.expected == "missed"}
    got_misses = {(m["ticket_id"], m["scenario"], m["target_seconds"], m["actual_seconds"],
                   m["cause"]) for m in data["misses"]}
    assert got_misses == want_misses
    assert {k: data["delivery"][k] for k in EXPECTED_DELIVERY} == EXPECTED_DELIVERY
    assert data["delivery"]["by_error_code"] == EXPECTED_BY_ERROR_CODE
    assert data["delivery"]["received"] == len(WEEK)
    assert (data["delivery"]["ucs2_texts"], data["delivery"]["long_texts"]) == (1, 1)
    # The week before, beside it.
    previous = data["previous"]
    assert previous["since"] == "2026-11-23T00:00:00-05:00"
    assert previous["total"]["first_response"]["met"] == sum(s.expected == "met"
                                                             for s in PREVIOUS)
    assert previous["misses_by_cause"]["agent_late"] == 1
    assert previous["delivery"]["opt_outs"] == 1
    total = data["total"]
    assert (total["tickets"], total["first_response"]["met"], total["first_response"]["missed"],
            total["first_response"]["open"]) == (13, 4, 8, 1)
    outage = got[("outage", "P1")]
    assert outage["reopen_rate"] == 0.5 and outage["events"] == {"paged": 1}


def test_json_gives_the_hand_worked_numbers(seeded):
    data = json.loads(json.dumps(to_dict(report_of(seeded))))
    check_json(data)


def test_text_gives_the_same_numbers(seeded):
    text = render_text(report_of(seeded))
    assert ("Tickets 13: first response met 4, missed 8, open 1; compliance 33.3% "
            "(week before 66.7%, -33.3 pts)") in text
    lines = text.splitlines()
    billing = next(line for line in lines if line.startswith("billing (P2)"))
    # target, tickets, met, missed, open, compliance, before, median, p90
    assert billing.split()[2:12] == ["20m", "00s", "3", "1", "2", "0", "33.3%", "50.0%",
                                     "20m", "00s"]
    for s in WEEK:
        if s.expected == "missed":
            line = next(line for line in lines if f"#{s.ticket_id} " in line)
            assert line.rstrip().endswith(CAUSE_LABELS[s.cause]), line
    assert ("texts out sent 6 (week before 0), delivered 4, failed 3 "
            "(21610 x1, 30003 x1, 30005 x1)") in text
    assert "Segments 7: UCS-2 1 texts / 1 segments, long (> 1 segment) 1 texts / 2 segments" \
        in text and "opt-outs 1" in text


def test_html_has_three_svg_charts_the_tables_and_no_script(seeded):
    import lxml.html

    page = render_html(report_of(seeded))
    assert "<script" not in page.lower() and "<style" not in page.lower()
    doc = lxml.html.fromstring(page)
    assert len(doc.xpath("//div[@class='chart']/*[local-name()='svg']")) == 3
    tables = doc.xpath("//table[@role='table']")
    rows = {r[0]: r for r in ([c.text_content() for c in tr.xpath("td")]
                              for tr in tables[0].xpath(".//tbody/tr"))}
    assert rows["billing (P2)"][2:8] == ["3", "1", "2", "0", "33.3%", "50.0%"]
    misses = {r[0]: r[4] for r in ([c.text_content() for c in tr.xpath("td")]
                                   for tr in tables[1].xpath(".//tbody/tr"))}
    assert misses == {f"#{s.ticket_id}": CAUSE_LABELS[s.cause] for s in WEEK
                      if s.expected == "missed"}
    delivery = {r[0]: r[1] for r in ([c.text_content() for c in tr.xpath("td")]
                                     for tr in tables[2].xpath(".//tbody/tr"))}
    assert (delivery["Texts sent"], delivery["Failed"], delivery["Segments"],
            delivery["Opt-outs"]) == ("6", "3", "7", "1")


def test_progress_counts_every_ticket_of_both_weeks(seeded):
    seen: list[tuple[int, int]] = []
    report_of(seeded, progress=lambda n, total: seen.append((n, total)))
    assert sum(n for n, _ in seen) == len(WEEK) + len(PREVIOUS)
    assert {total for _, total in seen} == {len(WEEK) + len(PREVIOUS)}


def test_the_cli_prints_all_three_formats(seeded, tmp_path: Path):
    from connector.cli.main import cli

    config = tmp_path / "c.toml"
    config.write_text(f'[database]\nurl = "{seeded.url.render_as_string(hide_password=False)}"'
                      '\n[zendesk]\nsubdomain = "acme"\n')
    runner = CliRunner()
    window = ["--config", str(config), "--since", "2026-11-30", "--until", "2026-12-07",
              "--as-of", "2026-12-07T00:05"]
    result = runner.invoke(cli, ["report", *window, "--format", "json"])
    assert result.exit_code == 0, result.output
    check_json(json.loads(result.stdout))
    result = runner.invoke(cli, ["report", *window])
    assert result.exit_code == 0 and "compliance 33.3%" in result.stdout
    out = tmp_path / "r.html"
    result = runner.invoke(cli, ["report", *window, "--format", "html", "--out", str(out),
                                 "--progress"])
    assert result.exit_code == 0, result.output
    assert out.read_text().count("<svg") == 3
    assert "measuring tickets" in result.stderr
    bad = runner.invoke(cli, ["report", "--config", str(config), "--since", "last tuesday"])
    assert bad.exit_code == 2 and "not a duration or a date" in bad.stderr
