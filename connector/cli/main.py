"""The ``sms-connector`` command.

Every subcommand takes ``--config PATH`` (or ``SMS_CONNECTOR_CONFIG``); a config error stops it
with exit status 2 and the key named.
"""

from __future__ import annotations

import json
import os
import stat
import sys

import click

from connector.cli.common import config_option, runtime_for, settings_or_exit
from connector.config import as_dict

# Kept under their old names for the subcommands written against them.
_settings = settings_or_exit
_runtime = runtime_for


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@config_option
def cli(config_path: str | None) -> None:
    """SMS <-> helpdesk connector."""


@cli.command("check-config")
@config_option
@click.pass_context
def check_config(ctx: click.Context, config_path: str | None) -> None:
    """Validate the config and print the effective settings, secrets masked."""
    settings = _settings(ctx, config_path)
    click.echo(json.dumps(as_dict(settings), indent=2))
    if settings.source:
        try:
            mode = os.stat(settings.source).st_mode
        except OSError:
            mode = 0
        if mode & 0o044:
            # It holds the API tokens and the auth token (and maybe the database password).
            click.echo(f"warning: {settings.source} is readable by group or others "
                       f"(mode {stat.S_IMODE(mode):o}); it holds secrets: chmod 600 it",
                       err=True)
    click.echo(f"config OK ({settings.source or 'defaults and environment only'})", err=True)


@cli.command()
@config_option
@click.option("--host", default=None, help="Interface to bind (default: server.host, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: server.port, 8080).")
@click.option("--no-worker", is_flag=True,
              help="Do not run the queue worker (run `sms-connector worker` elsewhere).")
@click.pass_context
def serve(ctx: click.Context, config_path: str | None, host: str | None, port: int | None,
          no_worker: bool) -> None:
    """Serve the webhooks and health endpoints (and, by default, work the queue)."""
    from functools import partial

    from connector.serve.server import run_gunicorn
    from connector.serve.supervisor import supervise
    from connector.web import create_app

    settings = _settings(ctx, config_path)
    runtime = _runtime(settings)
    runtime.prepare_schema()
    app = create_app(runtime=runtime)
    web = partial(run_gunicorn, app, host=host or settings.server.host,
                  port=port or settings.server.port, threads=settings.server.threads)
    if no_worker or not settings.server.embedded_worker:
        web()
    else:
        sys.exit(supervise(runtime, web, worker_niceness=settings.server.worker_niceness))


@cli.command()
@config_option
@click.pass_context
def worker(ctx: click.Context, config_path: str | None) -> None:
    """Work the queue in the foreground (SIGTERM finishes the current job, then exits)."""
    from connector.serve.server import run_worker

    settings = _settings(ctx, config_path)
    runtime = _runtime(settings)
    runtime.prepare_schema()
    run_worker(runtime)


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@config_option
@click.pass_context
def db_upgrade(ctx: click.Context, config_path: str | None) -> None:
    """Apply the schema migrations (needed on PostgreSQL before serving)."""
    from connector.store import schema

    runtime = _runtime(_settings(ctx, config_path))
    before = schema.current_revision(runtime.engine)
    schema.upgrade(runtime.engine)
    after = schema.current_revision(runtime.engine)
    click.echo(f"schema: {before or 'empty'} -> {after}")


@db.command("current")
@config_option
@click.pass_context
def db_current(ctx: click.Context, config_path: str | None) -> None:
    """Print the schema revision and whether it is current."""
    from connector.store import schema

    runtime = _runtime(_settings(ctx, config_path))
    current, head = schema.current_revision(runtime.engine), schema.head_revision()
    click.echo(f"schema: {current or 'empty'} (head {head})")
    ctx.exit(0 if current == head else 1)


@cli.group("dead-letters")
def dead_letters() -> None:
    """Jobs that ran out of attempts."""


@dead_letters.command("list")
@config_option
@click.pass_context
def dead_letters_list(ctx: click.Context, config_path: str | None) -> None:
    runtime = _runtime(_settings(ctx, config_path))
    runtime.prepare_schema()
    rows = runtime.queue.dead_letters(limit=1000)
    if not rows:
        click.echo("no dead letters")
    for row in rows:
        first_line = (row.last_error or "").splitlines()[0] if row.last_error else ""
        click.echo(f"{row.id}\t{row.kind}\t{row.conversation_key or '-'}\t"
                   f"attempts={row.attempts}\t{first_line}")


@dead_letters.command("retry")
@config_option
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "retry_all", is_flag=True, help="Retry every dead letter.")
@click.pass_context
def dead_letters_retry(ctx: click.Context, config_path: str | None, ids: tuple[int, ...],
                       retry_all: bool) -> None:
    if not ids and not retry_all:
        raise click.UsageError("name job ids or pass --all")
    runtime = _runtime(_settings(ctx, config_path))
    runtime.prepare_schema()
    count = runtime.queue.retry_dead(None if retry_all else ids)
    click.echo(f"{count} job(s) queued again")


@dead_letters.command("discard")
@config_option
@click.argument("ids", nargs=-1, type=int, required=True)
@click.pass_context
def dead_letters_discard(ctx: click.Context, config_path: str | None,
                         ids: tuple[int, ...]) -> None:
    """Delete dead letters for good (only dead ones; others are left alone)."""
    import getpass
    import logging

    try:
        who = f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # a container user without a passwd entry
        who = "cli"
    runtime = _runtime(_settings(ctx, config_path))
    runtime.prepare_schema()
    gone = runtime.queue.discard_dead(ids)
    logging.getLogger("sms_connector.admin").info("dead letters discarded", extra={
        "who": who, "action": "discard", "job_ids": gone})
    click.echo(f"{len(gone)} job(s) discarded")
    kept = sorted(set(ids) - set(gone))
    if kept:
        click.echo("not dead letters (left alone): " + " ".join(map(str, kept)), err=True)
        ctx.exit(1)


def _register_extensions() -> None:
    """Subcommands of the flows, one module each, listed here (no scanning). Imported late:
    those modules import connector.cli.common, and some of them the sandbox or the pipeline."""
    from connector.cli import demo, policy, report, sandbox

    for module in (sandbox, policy, demo, report):
        for command in module.commands:
            cli.add_command(command)


_register_extensions()


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="sms-connector", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
