"""``sms-connector report``: the SLA review of a window, as text, JSON or HTML."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from connector.cli.common import config_option, runtime_for, settings_or_exit

__all__ = ["commands", "report"]


@click.command("report")
@config_option
@click.option("--since", default="7d", show_default=True,
              help="Start: a duration back from --until (7d, 36h) or a date / time "
                   "(2026-11-30, 2026-11-30T09:00; the policy pack's time zone).")
@click.option("--until", default="now", show_default=True,
              help="End (not included): a date / time, or a duration back from now.")
@click.option("--as-of", "as_of", default="now", show_default=True,
              help="When to look from: tickets not answered by then are measured up to it "
                   "(a date / time, to reproduce a past report).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write to this file instead of standard output.")
@click.option("--progress/--no-progress", default=None,
              help="Show progress on standard error (default: when it is a terminal).")
@click.pass_context
def report(ctx: click.Context, config_path: str | None, since: str, until: str, as_of: str,
           fmt: str, out: str | None, progress: bool | None) -> None:
    """First-response compliance per scenario and tier, misses and their causes, delivery and
    cost, beside the window before (from the connector's own records)."""
    from connector.report import build_report
    from connector.report.periods import parse_moment
    from connector.report.render_html import render_html
    from connector.report.render_json import render_json
    from connector.report.render_text import render_text
    from connector.report.weekly import write_atomically

    settings = settings_or_exit(ctx, config_path)
    runtime = runtime_for(settings)
    runtime.prepare_schema()
    hours = runtime.policy.business_hours
    try:
        now = parse_moment(as_of, now=runtime.clock.now(), timezone=hours.timezone)
        end = parse_moment(until, now=now, timezone=hours.timezone)
        start = parse_moment(since, now=end, timezone=hours.timezone)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if start >= end:
        raise click.BadParameter(f"--since ({since}) is not before --until ({until})")
    show = sys.stderr.isatty() if progress is None else progress
    bar: Any = None

    def advance(n: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label="measuring tickets", file=sys.stderr)
            bar.__enter__()
        bar.update(n)

    try:
        result = build_report(runtime.engine, since=start, until=end, as_of=now, hours=hours,
                              backlog_after=settings.report.backlog_after,
                              helpdesk=settings.helpdesk.kind,
                              progress=advance if show else None)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    render = {"text": render_text, "json": render_json, "html": render_html}[fmt]
    text = render(result)
    if out:
        write_atomically(Path(out), text)
        click.echo(f"report written to {out}", err=True)
    else:
        click.echo(text, nl=False)
    runtime.close()


commands = [report]
