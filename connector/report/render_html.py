"""The report as one HTML page a lead would rather look at than read, ready to mail.

Email-ready: one self-contained file, every style inline on its element (mail clients drop
``<style>`` blocks and external sheets), tables for layout, the three charts as inline SVG, no
script and no external resource.
"""

from __future__ import annotations

from html import escape

from connector.report.charts import compliance_chart, distribution_chart, misses_chart
from connector.report.compute import CAUSE_LABELS, CAUSES, Report
from connector.report.fmt import duration, label, percent, previous_of, trend, window

__all__ = ["render_html"]

# A mail stays readable (and under the size mail clients clip, ~100 KB for some) with the first
# misses listed; the JSON lists all.
MAX_MISSES_LISTED = 100
_BODY = ("margin:0;padding:24px;background:#f5f7f8;color:#263238;"
         "font-family:Helvetica,Arial,sans-serif;font-size:14px;line-height:1.4")
_CARD = "background:#ffffff;border:1px solid #dfe4e6;border-radius:6px;padding:16px;margin:0 0 16px"
_TH = ("text-align:left;padding:6px 8px;border-bottom:2px solid #cfd8dc;font-size:12px;"
       "color:#546e7a;white-space:nowrap")
_TD = "padding:6px 8px;border-bottom:1px solid #eceff1;font-size:13px"
_NUM = _TD + ";text-align:right;white-space:nowrap"
_H2 = "font-size:16px;margin:0 0 8px"
_BIG = "font-size:28px;font-weight:bold;margin:0"
_SMALL = "font-size:12px;color:#607d8b;margin:0"


def _table(header: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    head = "".join(f'<th style="{_TH}">{escape(h)}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_NUM if i in numeric else _TD}">{escape(c)}</td>'
                         for i, c in enumerate(row)) + "</tr>" for row in rows)
    return (f'<table role="table" cellspacing="0" cellpadding="0" '
            f'style="border-collapse:collapse;width:100%"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def _tile(title: str, value: str, note: str) -> str:
    return (f'<td style="{_CARD};width:25%;vertical-align:top"><p style="{_SMALL}">'
            f'{escape(title)}</p><p style="{_BIG}">{escape(value)}</p>'
            f'<p style="{_SMALL}">{escape(note)}</p></td>')


def _card(title: str, inner: str) -> str:
    return f'<div style="{_CARD}"><h2 style="{_H2}">{escape(title)}</h2>{inner}</div>'


def render_html(report: Report) -> str:
    total, before, d = report.total, report.previous, report.delivery
    tiles = "".join([
        _tile("First-response compliance", percent(total.compliance),
              f"week before {percent(before.total.compliance)} "
              f"{trend(total.compliance, before.total.compliance)}" if before is not None
              else f"{total.met} met, {total.missed} missed"),
        _tile("Tickets", str(total.tickets),
              f"{total.met} met, {total.missed} missed, {total.open} open"),
        _tile("Median first response", duration(total.median_seconds),
              f"p90 {duration(total.p90_seconds)}"),
        _tile("Texts sent", str(d.sent), f"{d.failed} failed, {d.segments} segments"),
    ])
    scenario_rows = []
    for s in report.scenarios:
        prev = previous_of(report, s)
        scenario_rows.append([
            label(s), duration(s.target_seconds) + (" (business hours)" if s.business_hours
                                                    else ""),
            str(s.tickets), str(s.met), str(s.missed), str(s.open), percent(s.compliance),
            percent(prev.compliance) if prev is not None else "-",
            duration(s.median_seconds), duration(s.p90_seconds), percent(s.reopen_rate),
            ", ".join(f"{r} {n}" for r, n in sorted(s.escalations.items())) or "-"])
    scenarios = _table(["Scenario (tier)", "Target", "Tickets", "Met", "Missed", "Open",
                        "Compliance", "Week before", "Median", "p90", "Reopened",
                        "Escalations"], scenario_rows, numeric={2, 3, 4, 5, 6, 7, 8, 9, 10})
    misses = _table(["Ticket", "Scenario", "Target", "Actual", "Cause"], [
        [f"#{m.ticket_id}", m.scenario, duration(m.target_seconds),
         duration(m.actual_seconds) + ("" if m.answered else " (unanswered)"),
         CAUSE_LABELS[m.cause]] for m in report.misses[:MAX_MISSES_LISTED]], numeric={2, 3}) \
        if report.misses else f'<p style="{_SMALL}">No missed first responses.</p>'
    if len(report.misses) > MAX_MISSES_LISTED:
        misses += (f'<p style="{_SMALL}">… and {len(report.misses) - MAX_MISSES_LISTED} more '
                   "(<code>sms-connector report --format json</code> lists every one).</p>")
    by_cause = report.misses_by_cause
    causes = ", ".join(f"{CAUSE_LABELS[c]} {by_cause[c]}" for c in CAUSES if by_cause[c])
    delivery_rows = [
        ["Texts in", str(d.received), str(before.delivery.received) if before else "-"],
        ["Texts sent", str(d.sent), str(before.delivery.sent) if before else "-"],
        ["Delivered", str(d.delivered), str(before.delivery.delivered) if before else "-"],
        ["Failed", str(d.failed), str(before.delivery.failed) if before else "-"],
        ["Segments", str(d.segments), str(before.delivery.segments) if before else "-"],
        ["UCS-2 texts (segments)", f"{d.ucs2_texts} ({d.ucs2_segments})",
         f"{before.delivery.ucs2_texts} ({before.delivery.ucs2_segments})" if before else "-"],
        ["Long texts, > 1 segment (segments)", f"{d.long_texts} ({d.long_segments})",
         f"{before.delivery.long_texts} ({before.delivery.long_segments})" if before else "-"],
        ["Opt-outs", str(d.opt_outs), str(before.delivery.opt_outs) if before else "-"],
    ]
    delivery = _table(["", "This week", "Week before"], delivery_rows, numeric={1, 2})
    if d.by_error_code:
        delivery += _table(["Error code", "Failed texts"],
                           [[code, str(n)] for code, n in d.by_error_code.items()], numeric={1})
    title = f"SLA report, {window(report)}"
    return "".join([
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{escape(title)}</title></head>",
        f'<body style="{_BODY}"><div style="max-width:960px;margin:0 auto">',
        f'<h1 style="font-size:22px;margin:0 0 4px">{escape(title)}</h1>',
        f'<p style="{_SMALL};margin-bottom:16px">From the connector\'s own records; unanswered '
        f"tickets measured as of {escape(window_as_of(report))}.</p>",
        f'<table cellspacing="8" cellpadding="0" style="width:100%;border-collapse:separate">'
        f"<tr>{tiles}</tr></table>",
        _card("Compliance per scenario", f'<div class="chart">{compliance_chart(report)}</div>'),
        _card("First response against the target",
              f'<div class="chart">{distribution_chart(report)}</div>'),
        _card("Misses by cause", f'<div class="chart">{misses_chart(report)}</div>'
              + (f'<p style="{_SMALL}">{escape(causes)}</p>' if causes else "")),
        _card("Scenarios and tiers", scenarios),
        _card(f"Misses ({len(report.misses)})", misses),
        _card("Delivery and cost", delivery),
        "</div></body></html>\n",
    ])


def window_as_of(report: Report) -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(report.as_of, ZoneInfo(report.timezone)).strftime(
        "%a %Y-%m-%d %H:%M")
