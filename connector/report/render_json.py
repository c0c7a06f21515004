"""The report as JSON: the shape issue 14 fixes, plus extra keys (``previous``, ``total``,
``misses_by_cause``, delivery's ``by_error_code`` and cost drivers). Times are ISO 8601 in the
policy pack's time zone; durations are seconds."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from connector.report.compute import Report, ScenarioStats

__all__ = ["iso", "render_json", "to_dict"]


def iso(epoch: float, timezone: str) -> str:
    return datetime.fromtimestamp(epoch, ZoneInfo(timezone)).isoformat()


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _scenario(stats: ScenarioStats) -> dict[str, Any]:
    return {
        "scenario": stats.scenario,
        "tier": stats.tier,
        "tickets": stats.tickets,
        "first_response": {
            "met": stats.met,
            "missed": stats.missed,
            "median_seconds": _seconds(stats.median_seconds),
            "p90_seconds": _seconds(stats.p90_seconds),
            "open": stats.open,
            "target_seconds": stats.target_seconds,
            "business_hours": stats.business_hours,
            "compliance": None if stats.compliance is None else round(stats.compliance, 4),
        },
        "escalations": dict(sorted(stats.escalations.items())),
        "events": dict(sorted(stats.events.items())),
        "reopened": stats.reopened,
        "reopen_rate": None if stats.reopen_rate is None else round(stats.reopen_rate, 4),
    }


def _delivery(report: Report) -> dict[str, Any]:
    d = report.delivery
    return {
        "sent": d.sent, "delivered": d.delivered, "failed": d.failed, "segments": d.segments,
        "opt_outs": d.opt_outs, "received": d.received, "queued": d.queued,
        "by_error_code": d.by_error_code,
        "ucs2_texts": d.ucs2_texts, "ucs2_segments": d.ucs2_segments,
        "long_texts": d.long_texts, "long_segments": d.long_segments,
        "by_source": {k: dict(v) for k, v in sorted(d.by_source.items())},
    }


def _summary(report: Report) -> dict[str, Any]:
    return {
        "since": iso(report.since, report.timezone),
        "until": iso(report.until, report.timezone),
        "scenarios": [_scenario(s) for s in report.scenarios],
        "total": _scenario(report.total),
        "misses_by_cause": report.misses_by_cause,
        "delivery": _delivery(report),
    }


def to_dict(report: Report) -> dict[str, Any]:
    out = _summary(report)
    out["as_of"] = iso(report.as_of, report.timezone)
    out["timezone"] = report.timezone
    out["misses"] = [{
        "ticket_id": m.ticket_id, "scenario": m.scenario, "target_seconds": m.target_seconds,
        "actual_seconds": m.actual_seconds, "cause": m.cause, "tier": m.tier,
        "answered": m.answered,
    } for m in report.misses]
    if report.previous is not None:
        out["previous"] = _summary(report.previous)
    order = ["since", "until", "as_of", "timezone", "scenarios", "total", "misses",
             "misses_by_cause", "delivery", "previous"]
    return {key: out[key] for key in order if key in out}


def render_json(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2) + "\n"
