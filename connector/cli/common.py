"""Pieces every ``sms-connector`` subcommand module shares (kept out of cli.py, which imports the
subcommand modules: importing back from it would be circular)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from connector.config import Settings, load_settings
from connector.errors import ConfigurationError

if TYPE_CHECKING:
    from connector.runtime import Runtime

F = TypeVar("F", bound=Callable[..., Any])


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default=None,
        help="TOML config file (default: $SMS_CONNECTOR_CONFIG).",
    )(func)


def config_path_of(ctx: click.Context, config_path: str | None = None) -> str | None:
    """``--config`` of the subcommand, else of a group above it (``sms-connector --config X …``)."""
    node: click.Context | None = ctx
    path = config_path
    while node is not None and not path:
        path = node.params.get("config_path")
        node = node.parent
    return path


def settings_or_exit(ctx: click.Context, config_path: str | None = None) -> Settings:
    """The validated settings; a config error prints the key and exits with status 2."""
    try:
        return load_settings(config_path_of(ctx, config_path))
    except ConfigurationError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(2)
        raise  # unreachable: ctx.exit raises


def runtime_for(settings: Settings) -> Runtime:
    from connector.logs import configure_logging
    from connector.runtime import Runtime

    configure_logging(settings.server.log_level)
    return Runtime(settings)
