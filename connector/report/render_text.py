"""The report as plain text: what the terminal shows and an email body can carry."""

from __future__ import annotations

from connector.report.compute import CAUSE_LABELS, CAUSES, Report, ScenarioStats
from connector.report.fmt import duration, label, percent, previous_of, trend, window

__all__ = ["render_text"]


def _row(report: Report, stats: ScenarioStats) -> list[str]:
    before = previous_of(report, stats)
    escalations = ", ".join(f"{rule} {n}" for rule, n in sorted(stats.escalations.items()))
    return [
        label(stats), duration(stats.target_seconds) + (" bh" if stats.business_hours else ""),
        str(stats.tickets), str(stats.met), str(stats.missed), str(stats.open),
        percent(stats.compliance),
        percent(before.compliance) if before is not None else "-",
        duration(stats.median_seconds), duration(stats.p90_seconds),
        percent(stats.reopen_rate), escalations or "-",
    ]


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return [line(header), *(line(r) for r in rows)]


def render_text(report: Report) -> str:
    total, before = report.total, report.previous
    lines = [f"SLA report {window(report)}", ""]
    change = trend(total.compliance, before.total.compliance) if before is not None else ""
    lines.append(
        f"Tickets {total.tickets}: first response met {total.met}, missed {total.missed}, "
        f"open {total.open}; compliance {percent(total.compliance)}"
        + (f" (week before {percent(before.total.compliance)}, {change})"
           if before is not None and change else ""))
    lines.append(f"Median first response {duration(total.median_seconds)}, "
                 f"p90 {duration(total.p90_seconds)}; reopened {percent(total.reopen_rate)}")
    lines.append("")
    header = ["scenario (tier)", "target", "tickets", "met", "missed", "open", "compl.",
              "before", "median", "p90", "reopen", "escalations"]
    rows = [_row(report, s) for s in report.scenarios]
    lines += _table(header, rows, right={1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
    lines.append("(bh: target counted in business hours)")
    lines.append("")
    by_cause = report.misses_by_cause
    before_cause = before.misses_by_cause if before is not None else {}
    lines.append(f"Misses ({len(report.misses)}) by cause: " + ", ".join(
        f"{CAUSE_LABELS[c]} {by_cause[c]}" + (f" (before {before_cause[c]})" if before_cause
                                               else "")
        for c in CAUSES))
    if report.misses:
        rows = [[f"#{m.ticket_id}", m.scenario, duration(m.target_seconds),
                 duration(m.actual_seconds) + ("" if m.answered else " (unanswered)"),
                 CAUSE_LABELS[m.cause]] for m in report.misses]
        lines += ["  " + r for r in _table(["ticket", "scenario", "target", "actual", "cause"],
                                           rows, right={2, 3})]
    lines.append("")
    d = report.delivery
    codes = ", ".join(f"{code} x{n}" for code, n in d.by_error_code.items())
    sent_before = f" (week before {before.delivery.sent})" if before is not None else ""
    lines.append(f"Texts in {d.received}; texts out sent {d.sent}{sent_before}, delivered "
                 f"{d.delivered}, failed {d.failed}" + (f" ({codes})" if codes else ""))
    lines.append(f"Segments {d.segments}: UCS-2 {d.ucs2_texts} texts / {d.ucs2_segments} "
                 f"segments, long (> 1 segment) {d.long_texts} texts / {d.long_segments} "
                 f"segments; opt-outs {d.opt_outs}")
    return "\n".join(lines) + "\n"
