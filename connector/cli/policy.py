"""``sms-connector policy plan|apply|lint``: the policy pack as helpdesk objects.

    sms-connector policy plan     what apply would create / update / delete / keep; exits 0
    sms-connector policy apply    make the helpdesk match; a second run changes nothing
    sms-connector policy lint     warnings about a valid pack; exits 1 when there are any

Exit status: 0 done, 1 the helpdesk refused or could not be reached (the message says which),
2 a bad config or policy pack (the key named).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

import click

from connector.cli.common import config_option, runtime_for, settings_or_exit
from connector.errors import ConfigurationError, ConnectorError

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
@config_option
@click.pass_context
def plan_command(ctx: click.Context, config_path: str | None) -> None:
    """Show what `policy apply` would change in the helpdesk."""
    from connector.sync.policy import make_plan

    pack, runtime = _policy_and_runtime(ctx, config_path)
    try:
        plan = make_plan(runtime, pack)
    except ConnectorError as exc:
        _fail(f"reading the helpdesk failed: {exc}")
    finally:
        runtime.close()
    for line in plan.lines():
        click.echo(line)
    click.echo("plan: " + ", ".join(f"{n} to {a}" if a != "keep" else f"{n} unchanged"
                                    for a, n in plan.counts().items()))


@policy.command("apply")
@config_option
@click.pass_context
def apply_command(ctx: click.Context, config_path: str | None) -> None:
    """Create or update the helpdesk objects; keep the webhook's signing secret."""
    from connector.sync.policy import apply

    pack, runtime = _policy_and_runtime(ctx, config_path)
    try:
        result = apply(runtime, pack)
    except ConnectorError as exc:
        _fail(f"applying failed part-way (run it again; it picks up where it stopped): {exc}")
    finally:
        runtime.close()
    for line in result.lines():
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


commands = [policy]
