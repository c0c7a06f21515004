"""``sms-connector policy plan|apply|lint|docs``: the policy pack as helpdesk objects.

    sms-connector policy plan [--json]   what apply would create / update / delete / keep, then
                                         where each rule of the pack is enforced; exits 2 when
                                         changes are pending, 0 when none (for an admin's CI)
    sms-connector policy apply           make the helpdesk match, each change shown as it is
                                         written; a second run changes nothing
    sms-connector policy lint            warnings about a valid pack; exits 1 when there are any
    sms-connector policy docs            the standards for agents as one page (md or html)

Exit status: 0 done (plan: nothing pending), 1 the helpdesk refused or could not be reached (the
message says which), 2 a bad config or policy pack (the key named on stderr) or, for ``plan``,
changes pending.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, NoReturn

import click

from connector.cli.common import config_option, runtime_for, settings_or_exit
from connector.errors import ConfigurationError, ConnectorError
from connector.sync.plan import Change

if TYPE_CHECKING:
    from connector.runtime import Runtime

__all__ = ["commands", "policy"]


def _fail(message: str, status: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise click.exceptions.Exit(status)


def _policy_and_runtime(ctx: click.Context, config_path: str | None) -> tuple[Any, Runtime]:
    from connector.sync.policy import automation_for

    runtime = runtime_for(settings_or_exit(ctx, config_path))
    # The helpdesk client spends the shared rate budget kept in the database, and apply stores
    # the signing secret there: SQLite is migrated here, PostgreSQL needs `db upgrade` first.
    runtime.prepare_schema()
    try:
        policy = runtime.policy
        # Fail on missing credentials or a helpdesk without automation before any output.
        automation_for(runtime)
    except ConfigurationError as exc:
        _fail(str(exc), 2)
    return policy, runtime


@click.group()
def policy() -> None:
    """The support policy pushed into the helpdesk (webhook, triggers …)."""


@policy.command("plan")
@click.option("--json", "as_json", is_flag=True,
              help='Print a JSON list of {"kind", "name", "action", "changes"} instead.')
@config_option
@click.pass_context
def plan_command(ctx: click.Context, as_json: bool, config_path: str | None) -> None:
    """Show what `policy apply` would change in the helpdesk; exit 2 when anything would."""
    from connector.sync.policy import make_plan

    pack, runtime = _policy_and_runtime(ctx, config_path)
    kind = runtime.settings.helpdesk.kind
    try:
        plan = make_plan(runtime, pack)
    except ConfigurationError as exc:  # the pack names what the helpdesk does not have
        _fail(str(exc), 2)
    except ConnectorError as exc:
        _fail(f"reading the helpdesk failed: {exc}")
    finally:
        runtime.close()
    if as_json:
        click.echo(json.dumps([c.as_json() for c in plan.changes], indent=2, default=str))
    else:
        for line in plan.lines():
            click.echo(line)
        click.echo("plan: " + ", ".join(f"{n} to {a}" if a != "keep" else f"{n} unchanged"
                                        for a, n in plan.counts().items()))
        for line in _coverage_lines(pack, kind):
            click.echo(line)
    if plan.changed:
        raise click.exceptions.Exit(2)


def _coverage_lines(pack: Any, kind: str) -> list[str]:
    """Where each rule of the pack is enforced, as a table (mappings/coverage.py)."""
    try:
        from mappings.coverage import coverage
    except ImportError:  # pragma: no cover - the coverage module lands with the pack's targets
        return []
    rows = coverage(pack, kind)
    if not rows:
        return []
    table = [("scenario", "rule", "target", "enforced by", "why")]
    for row in rows:
        target = "-" if row.target is None else format_seconds(row.target)
        table.append((row.scenario, row.rule, target, row.enforced_by, row.why))
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    lines = ["", "coverage:"]
    for r in table:
        lines.append("  " + "  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4])
    return lines


def format_seconds(seconds: float) -> str:
    """``600`` → ``10m``, ``86400`` → ``24h``, ``90`` → ``90s`` (as the pack writes them)."""
    whole = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size and whole % size == 0 and not (unit == "d" and whole < 3 * 86400):
            return f"{whole // size}{unit}"
    return f"{whole}s"


@policy.command("apply")
@config_option
@click.pass_context
def apply_command(ctx: click.Context, config_path: str | None) -> None:
    """Create or update the helpdesk objects; keep the webhook's signing secret."""
    from connector.sync.policy import apply

    pack, runtime = _policy_and_runtime(ctx, config_path)
    shown: list[str] = []

    def progress(change: Change) -> None:
        shown.append(change.line())
        click.echo(change.line())

    try:
        result = apply(runtime, pack, progress=progress)
    except ConfigurationError as exc:
        _fail(str(exc), 2)
    except ConnectorError as exc:
        _fail(f"applying failed part-way (run it again; it picks up where it stopped): {exc}")
    finally:
        runtime.close()
    for line in result.lines():
        if line not in shown:  # a change already shown as it was written
            click.echo(line)


@policy.command("lint")
@config_option
@click.pass_context
def lint_command(ctx: click.Context, config_path: str | None) -> None:
    """Warn about a valid pack that will still surprise someone."""
    from mappings.policy import lint, load_policy

    settings = settings_or_exit(ctx, config_path)
    try:
        pack = load_policy(settings.policy.pack or None)
    except ConfigurationError as exc:
        _fail(str(exc), 2)
    warnings = lint(pack)
    for warning in warnings:
        click.echo(f"warning: {warning}")
    if warnings:
        raise click.exceptions.Exit(1)
    click.echo("policy pack OK")


@policy.command("docs")
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="md",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the page here instead of standard output.")
@config_option
@click.pass_context
def docs_command(ctx: click.Context, fmt: str, out: str | None, config_path: str | None) -> None:
    """The published standards for agents: scenarios, targets, owners, escalations, scripts."""
    from connector.cli.policy_docs import render_docs
    from mappings.policy import load_policy

    settings = settings_or_exit(ctx, config_path)
    try:
        pack = load_policy(settings.policy.pack or None)
    except ConfigurationError as exc:
        _fail(str(exc), 2)
    page = render_docs(pack, fmt)
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(page)
        click.echo(f"wrote {out}")
    else:
        click.echo(page)


commands = [policy]
