"""The published standards for agents (``sms-connector policy docs``), rendered from the pack.

One page: the scenarios with their tier, priority, targets, clock and owner group; the escalation
triggers in plain words; the acknowledgements customers get; the agent scripts; business hours and
holidays. The issue's seed asks teams to publish these standards internally, and a page rendered
from the pack cannot drift from what the connector and the helpdesk enforce.

Markdown reads as plain text too; HTML is one self-contained file (a small inline style, every
value escaped). Rendering only: the command itself lives in connector/cli/policy.py.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from mappings.policy import (
    WEEKDAYS,
    EscalationRule,
    Interval,
    Policy,
    Scenario,
    Script,
    format_duration,
)

__all__ = ["FORMATS", "render_docs"]

FORMATS = ("md", "html")

_KINDS = {
    "status_update": "Status update",
    "diagnostic_question": "Diagnostic question",
    "billing_handoff": "Billing handoff",
    "outage_update": "Outage update",
    "closing": "Closing",
    "reply": "Reply",
}


@dataclass(frozen=True)
class _Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class _Section:
    title: str
    intro: str = ""
    table: _Table | None = None
    items: tuple[str, ...] = ()


def render_docs(policy: Policy, fmt: str = "md") -> str:
    """The standards page as markdown (``md``) or a self-contained HTML page (``html``)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    title = f"{policy.brand}: SMS support standards"
    sections = _sections(policy)
    return _markdown(title, sections) if fmt == "md" else _html(title, sections)


# ------------------------------------------------------------------------------- content


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(seconds)


def _sections(policy: Policy) -> list[_Section]:
    hours = policy.business_hours
    scenarios = _Table(
        (
            "Scenario",
            "Tier",
            "Priority",
            "First response",
            "Next response",
            "Resolution",
            "Clock",
            "Owner group",
        ),
        tuple(
            (
                s.title,
                f"{s.tier} {policy.tier(s.tier).title}".strip(),
                policy.tier(s.tier).zendesk_priority,
                _duration(s.targets.first_response),
                _duration(s.targets.next_response),
                _duration(s.targets.resolution),
                hours.name if s.business_hours else "around the clock",
                s.group or "-",
            )
            for s in policy.scenarios
        ),
    )
    return [
        _Section(
            "Scenarios and targets",
            "Every SMS conversation is triaged into one scenario. Targets count from the "
            "customer's text; a scenario on business hours counts only while support is open.",
            table=scenarios,
        ),
        _Section(
            "When a conversation escalates",
            items=tuple(f"{s.title}: {_escalation(s)}" for s in policy.scenarios),
        ),
        _Section(
            "First reply (sent automatically)",
            "The customer gets this text within seconds; agents take over from there.",
            table=_Table(
                ("Scenario", "Acknowledgement"),
                tuple((s.title, policy.render_ack(s.id)) for s in policy.scenarios),
            ),
        ),
        _Section(
            "Agent scripts",
            "Approved replies, available as macros / canned responses. Fill in [ETA] and "
            "[order number]; one question or request per message; never ask for card numbers.",
            table=_Table(
                ("Script", "Use for", "Text"),
                tuple(
                    (_script_title(sc), _script_scope(policy, sc), _script_text(policy, sc))
                    for sc in policy.scripts
                ),
            ),
        ),
        _Section(
            f"Business hours: {hours.name}",
            f"Time zone {hours.timezone}.",
            items=tuple(_interval(i) for i in hours.intervals),
        ),
        _Section(
            "Holidays (closed)",
            items=tuple(
                f"{h.start.isoformat()}: {h.name}"
                if h.start == h.end
                else f"{h.start.isoformat()} to {h.end.isoformat()}: {h.name}"
                for h in hours.holidays
            )
            or ("none",),
        ),
    ]


def _escalation(scenario: Scenario) -> str:
    esc: EscalationRule = scenario.escalation
    if esc.trigger == "no_customer_response":
        when = f"the customer has not answered for {_duration(esc.after)}"
    elif esc.trigger == "status_unknown":
        when = f"the customer has had no status update for {_duration(esc.after)}"
    elif esc.trigger == "diagnostic_loops":
        when = f"{esc.max_loops} rounds of diagnostic questions have not solved it"
    elif esc.trigger == "flags":
        when = "triage flags the conversation as " + " or ".join(
            f.replace("_", " ") for f in esc.flags
        )
    elif esc.trigger == "multiple_customers":
        when = f"{esc.distinct_numbers} or more customers report it within {_duration(esc.window)}"
    else:
        when = esc.trigger
    then = []
    if esc.to_tier:
        then.append(f"raise it to {esc.to_tier}")
    if esc.to_group:
        then.append(f"hand it to {esc.to_group}")
    if esc.add_tags:
        then.append("tag it " + ", ".join(esc.add_tags))
    return f"escalate when {when}" + (f"; {' and '.join(then)}." if then else ".")


def _script_title(script: Script) -> str:
    return f"{script.title} ({_KINDS.get(script.kind, script.kind)})"


def _script_scope(policy: Policy, script: Script) -> str:
    scenario = policy.scenario(script.scenario).title if script.scenario else "every scenario"
    return f"{scenario}, {script.tier}" if script.tier else scenario


def _script_text(policy: Policy, script: Script) -> str:
    return policy.render_script(script, eta="[ETA]", order="[order number]")


def _interval(interval: Interval) -> str:
    return f"{_days(interval.days)}: {interval.start:%H:%M} to {interval.end:%H:%M}"


def _days(days: tuple[str, ...]) -> str:
    """``("mon", …, "fri")`` → ``"Mon-Fri"``; gaps listed: ``"Mon-Wed, Sat"``."""
    order = sorted({WEEKDAYS.index(d) for d in days})
    runs: list[list[int]] = []
    for index in order:
        if runs and index == runs[-1][-1] + 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    names = [WEEKDAYS[i].capitalize() for i in range(7)]
    return ", ".join(names[r[0]] if len(r) == 1 else f"{names[r[0]]}-{names[r[-1]]}" for r in runs)


# ------------------------------------------------------------------------------- formats


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _markdown(title: str, sections: list[_Section]) -> str:
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        if section.intro:
            lines += [section.intro, ""]
        if section.table is not None:
            lines.append("| " + " | ".join(section.table.header) + " |")
            lines.append("|" + "|".join("---" for _ in section.table.header) + "|")
            lines += [
                "| " + " | ".join(_md_cell(c) for c in row) + " |" for row in section.table.rows
            ]
            lines.append("")
        if section.items:
            lines += [f"- {item}" for item in section.items]
            lines.append("")
    return "\n".join(lines)


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
    "color:#222;line-height:1.45}"
    "table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}"
    "th,td{border:1px solid #ccc;padding:.35rem .5rem;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3}h2{margin-top:2rem;border-bottom:1px solid #ddd}"
)


def _html(title: str, sections: list[_Section]) -> str:
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{e(title)}</h1>",
    ]
    for section in sections:
        out.append(f"<h2>{e(section.title)}</h2>")
        if section.intro:
            out.append(f"<p>{e(section.intro)}</p>")
        if section.table is not None:
            out.append("<table>")
            out.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in section.table.header) + "</tr>")
            out += [
                "<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>"
                for row in section.table.rows
            ]
            out.append("</table>")
        if section.items:
            out.append("<ul>")
            out += [f"<li>{e(item)}</li>" for item in section.items]
            out.append("</ul>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)
