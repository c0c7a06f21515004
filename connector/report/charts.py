"""The HTML report's charts, drawn as SVG by matplotlib (no JavaScript to read them).

matplotlib's object API (``Figure`` + ``savefig(format="svg")``), never ``pyplot``: no global
backend or figure registry, so a report drawn in the worker's thread leaks nothing and needs no
display. Each chart gets its own ``svg.hashsalt`` so the ids inside two inline SVGs of one page
never collide; text is drawn as paths, so it reads the same without the fonts installed.
"""

from __future__ import annotations

import io
import itertools
import re
from typing import Any

from connector.report.compute import CAUSE_LABELS, CAUSES, MET, MISSED, Report
from connector.report.fmt import label, previous_of

__all__ = ["RATIO_BINS", "compliance_chart", "distribution_chart", "misses_chart"]

GREEN, RED, GREY, AMBER, INK = "#2e7d32", "#c62828", "#b0bec5", "#f9a825", "#263238"
# First response as a share of its target: the edges of the distribution's bars.
RATIO_BINS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0, float("inf"))


def _svg(fig: Any, name: str, title: str) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"sms-report-{name}", "svg.fonttype": "path"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight")
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    # matplotlib's one stylesheet rule (``*{stroke-linejoin: round; stroke-linecap: butt}``)
    # would reach the whole page once inline, and mail clients drop <style>: the same as
    # presentation attributes on the root, which its shapes inherit.
    svg = re.sub(r"<style[^>]*>.*?</style>", "", svg, count=1, flags=re.S)
    # Accessible and scalable inside the page (and mail clients that draw inline SVG).
    return svg.replace("<svg ", f'<svg role="img" aria-label="{title}" '
                                'stroke-linejoin="round" stroke-linecap="butt" '
                                'style="max-width:100%;height:auto" ', 1)


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    fig.patch.set_facecolor("white")
    return fig


def _tidy(ax: Any) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(colors=INK, labelsize=9)


def compliance_chart(report: Report) -> str:
    """Per scenario and tier: the share of tickets met / missed / open, with the week before's
    compliance as a black diamond."""
    rows = report.scenarios or []
    fig = _figure(7.5, 0.45 * max(len(rows), 1) + 1.2)
    ax = fig.add_subplot()
    _tidy(ax)
    ax.set_title("First-response compliance by scenario", loc="left", fontsize=11, color=INK)
    if not rows:
        ax.text(0.5, 0.5, "No tickets in this window", ha="center", va="center", color=INK)
        ax.set_axis_off()
        return _svg(fig, "compliance", "First-response compliance by scenario")
    names = [label(s) for s in rows][::-1]
    data = rows[::-1]
    y = list(range(len(data)))
    left = [0.0] * len(data)
    for key, colour, text in ((MET, GREEN, "met"), (MISSED, RED, "missed"), ("open", GREY,
                                                                                "open")):
        widths = [getattr(s, key) / s.tickets * 100 if s.tickets else 0 for s in data]
        ax.barh(y, widths, left=left, color=colour, label=text, height=0.6)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    legend_marker = True
    for i, stats in enumerate(data):
        share = stats.compliance
        ax.text(101, i, "-" if share is None else f"{share * 100:.0f}%  ({stats.met}/"
                f"{stats.met + stats.missed})", va="center", fontsize=9, color=INK)
        before = previous_of(report, stats)
        if before is not None and before.compliance is not None:
            ax.plot([before.compliance * 100], [i], marker="D", color="black", markersize=5,
                    label="week before" if legend_marker else None, linestyle="none")
            legend_marker = False
    ax.set_yticks(y, names)
    ax.set_xlim(0, 130)
    ax.set_xticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"])
    ax.axvline(100, color=INK, linewidth=0.5)
    ax.legend(loc="lower right", fontsize=8, frameon=False, ncols=4,
              bbox_to_anchor=(1.0, 1.0))
    return _svg(fig, "compliance", "First-response compliance by scenario")


def ratio_counts(report: Report) -> list[int]:
    """Answered tickets with a target, counted by their first response as a share of the
    target into ``RATIO_BINS`` (a bar's upper edge inclusive: exactly on target is in time)."""
    counts = [0] * (len(RATIO_BINS) - 1)
    for outcome in report.outcomes:
        target = outcome.ticket.target_seconds
        if outcome.ticket.first_response_at is None or not target or outcome.seconds is None:
            continue
        ratio = outcome.seconds / target
        for i in range(len(counts)):
            if ratio <= RATIO_BINS[i + 1]:
                counts[i] += 1
                break
    return counts


def distribution_chart(report: Report) -> str:
    """How long the first responses took against their targets: bars left of the line were in
    time."""
    counts = ratio_counts(report)
    names = []
    for low, high in itertools.pairwise(RATIO_BINS):
        names.append(f">{low:.0%}" if high == float("inf") else f"≤{high:.0%}")
    fig = _figure(7.5, 3.0)
    ax = fig.add_subplot()
    _tidy(ax)
    ax.set_title("First response against its target (answered tickets)", loc="left",
                 fontsize=11, color=INK)
    colours = [GREEN if high <= 1.0 else (AMBER if high <= 1.5 else RED)
               for high in RATIO_BINS[1:]]
    x = list(range(len(counts)))
    bars = ax.bar(x, counts, color=colours, width=0.8)
    ax.bar_label(bars, labels=[str(c) if c else "" for c in counts], fontsize=8, color=INK)
    ax.axvline(3.5, color=INK, linestyle="--", linewidth=1)
    top = max(counts) if any(counts) else 1
    ax.text(3.45, top * 1.15, "target ", color=INK, fontsize=9, va="top", ha="right")
    ax.set_xticks(x, names)
    ax.set_xlabel("time to first response, as a share of the scenario's target", fontsize=9,
                  color=INK)
    ax.set_ylabel("tickets", fontsize=9, color=INK)
    ax.set_ylim(0, top * 1.2)
    return _svg(fig, "distribution", "First response against its target")


def misses_chart(report: Report) -> str:
    """Misses by cause, this week beside the week before."""
    now = report.misses_by_cause
    before = report.previous.misses_by_cause if report.previous is not None else None
    fig = _figure(7.5, 2.8)
    ax = fig.add_subplot()
    _tidy(ax)
    ax.set_title("Missed first responses by cause", loc="left", fontsize=11, color=INK)
    causes = list(CAUSES)[::-1]
    y = list(range(len(causes)))
    height = 0.38 if before is not None else 0.6
    bars = ax.barh([i + (height / 2 if before is not None else 0) for i in y],
                   [now[c] for c in causes], height=height, color=RED, label="this week")
    ax.bar_label(bars, labels=[str(now[c]) if now[c] else "" for c in causes], fontsize=8,
                 padding=2)
    if before is not None:
        ax.barh([i - height / 2 for i in y], [before[c] for c in causes], height=height,
                color=GREY, label="week before")
        ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.set_yticks(y, [CAUSE_LABELS[c] for c in causes])
    top = max([*now.values(), *(before or {}).values(), 1])
    ax.set_xlim(0, top * 1.15 + 0.5)
    ax.xaxis.get_major_locator().set_params(integer=True)
    return _svg(fig, "misses", "Missed first responses by cause")
