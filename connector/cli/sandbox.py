"""``sms-connector sandbox``: local helpdesk (Zendesk or Freshdesk) and Twilio stand-ins, and
acting on them.

    sms-connector sandbox [start] [--helpdesk K]    run both on loopback until SIGINT / SIGTERM
    sms-connector sandbox text FROM BODY               a customer texts the support number
    sms-connector sandbox reply TICKET BODY            an agent replies in the helpdesk's web UI
    sms-connector sandbox show                         what each service holds

The helpdesk is ``--helpdesk``, else the config's ``helpdesk.kind``, else Zendesk.

``text``, ``reply`` and ``show`` only speak HTTP to a sandbox started by another process
(:mod:`connector.sandbox.runner`). A sandbox that is not running is a one-line error and exit
status 1; a bad config is exit status 2 with the key named, as for every other subcommand.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click
import requests

from connector.cli.common import config_option, config_path_of
from connector.config import CONFIG_ENV, ServerSettings, Settings, load_settings
from connector.errors import ConfigurationError
from connector.sandbox.runner import (
    DEFAULT_PORTS,
    HELPDESK_STANDINS,
    Sandbox,
    SandboxClientError,
    agent_reply,
    send_text,
    show,
    start_sandbox,
)
from connector.text.phones import is_e164

__all__ = ["commands", "sandbox"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_ZENDESK_PORT = DEFAULT_PORTS["zendesk"]
DEFAULT_FRESHDESK_PORT = DEFAULT_PORTS["freshdesk"]
DEFAULT_TWILIO_PORT = DEFAULT_PORTS["twilio"]
DEFAULT_ZENDESK_URL = f"http://{DEFAULT_HOST}:{DEFAULT_ZENDESK_PORT}"
DEFAULT_FRESHDESK_URL = f"http://{DEFAULT_HOST}:{DEFAULT_FRESHDESK_PORT}"
DEFAULT_TWILIO_URL = f"http://{DEFAULT_HOST}:{DEFAULT_TWILIO_PORT}"
TWILIO_WEBHOOK_PATH = "/webhooks/sms/twilio"  # connector.web.sms_webhooks' route for Twilio
# The stand-ins' subdomain; the config needs one even when zendesk.base_url overrides it.
ZENDESK_SUBDOMAIN = "sandbox"

F = TypeVar("F", bound=Callable[..., Any])


def _settings(ctx: click.Context) -> Settings | None:
    """The connector's settings when a config file is named, else None.

    The sandbox runs without any config (its defaults are the point), so a missing file is not an
    error here; a config that is named and invalid is, with exit status 2 as everywhere else.
    """
    path = config_path_of(ctx) or os.environ.get(CONFIG_ENV)
    if not path:
        return None
    try:
        return load_settings(path)
    except ConfigurationError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(2)
        raise  # unreachable; ctx.exit raises


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {' '.join(message.split())}", err=True)
    raise click.exceptions.Exit(1)


def _client_failed(exc: SandboxClientError, url: str) -> NoReturn:
    """Turn a client error into one line; connection refused is the usual "not started"."""
    cause = exc.__cause__
    if isinstance(cause, requests.Timeout):
        _fail(f"the sandbox at {url} did not answer in time ({cause.__class__.__name__})")
    if isinstance(cause, requests.ConnectionError):
        reason = "connection refused" if "refused" in str(cause) else "cannot connect"
        _fail(f"no sandbox answers at {url} ({reason}); start one with `sms-connector sandbox`")
    _fail(str(exc))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_port_free(host: str, port: int) -> None:
    """Fail with one line when ``port`` is taken.

    werkzeug's server prints its own multi-line advice and calls ``sys.exit`` when it cannot bind,
    which we could not turn into our message afterwards; so look first, binding as it binds
    (SO_REUSEADDR, so a port of a sandbox just stopped, still in TIME_WAIT, counts as free).
    """
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            _fail(
                f"cannot listen on {host} port {port} ({exc.strerror or exc}); is a sandbox "
                "already running? Choose others with --zendesk-port / --freshdesk-port / "
                "--twilio-port"
            )


# --- start ------------------------------------------------------------------------------------

_DEFAULT_URLS = {"zendesk": DEFAULT_ZENDESK_URL, "freshdesk": DEFAULT_FRESHDESK_URL}


def _helpdesk_kind(given: str | None, settings: Settings | None) -> str:
    """``--helpdesk``, else the config's kind when it has a stand-in, else Zendesk."""
    if given:
        return given
    configured = settings.helpdesk.kind if settings else "zendesk"
    return configured if configured in HELPDESK_STANDINS else "zendesk"

_START_PARAMS = (
    "host",
    "helpdesk",
    "zendesk_port",
    "freshdesk_port",
    "twilio_port",
    "connector_url",
    "latency_ms",
    "per_minute",
    "twilio_opt_out_handling",
)


def start_options(func: F) -> F:
    """The options of ``sandbox start``; the group takes them too, so ``sandbox`` alone starts."""
    options = [
        click.option(
            "--host",
            default=DEFAULT_HOST,
            show_default=True,
            help="Loopback address to bind (the sandbox has no real authentication).",
        ),
        click.option(
            "--helpdesk",
            type=click.Choice(sorted(HELPDESK_STANDINS)),
            default=None,
            help="The helpdesk stand-in to run (default: the config's helpdesk.kind, else "
            "zendesk).",
        ),
        click.option(
            "--zendesk-port",
            type=click.IntRange(0, 65535),
            default=DEFAULT_ZENDESK_PORT,
            show_default=True,
            help="Zendesk stand-in's port (0: any free port).",
        ),
        click.option(
            "--freshdesk-port",
            type=click.IntRange(0, 65535),
            default=DEFAULT_FRESHDESK_PORT,
            show_default=True,
            help="Freshdesk stand-in's port (0: any free port).",
        ),
        click.option(
            "--twilio-port",
            type=click.IntRange(0, 65535),
            default=DEFAULT_TWILIO_PORT,
            show_default=True,
            help="Twilio stand-in's port (0: any free port).",
        ),
        click.option(
            "--connector-url",
            default=None,
            help="The connector's base URL; inbound texts go to <URL>/webhooks/sms/twilio "
            "(default: server.public_url; '' posts nothing).",
        ),
        click.option(
            "--latency-ms",
            type=click.IntRange(min=0),
            default=0,
            show_default=True,
            help="Added to every API call of both services.",
        ),
        click.option(
            "--per-minute",
            type=click.IntRange(min=1),
            default=None,
            help="Requests per minute before 429 + Retry-After (default: unlimited).",
        ),
        click.option(
            "--twilio-opt-out-handling/--no-twilio-opt-out-handling",
            default=True,
            show_default=True,
            help="Twilio answers STOP / START / HELP itself (off: the connector does, as with "
            'twilio.opt_out_handling = "connector").',
        ),
        config_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _toml_section(name: str, values: dict[str, str], *, array: bool = False) -> list[str]:
    # JSON strings are valid TOML basic strings, so json.dumps quotes URLs and secrets safely.
    header = f"[[{name}]]" if array else f"[{name}]"
    return [header, *(f"{key} = {json.dumps(value)}" for key, value in values.items()), ""]


def _helpdesk_sections(sandbox: Sandbox) -> list[str]:
    """The config sections that point the connector at the running helpdesk stand-in."""
    standin = sandbox.helpdesk
    if sandbox.helpdesk_kind == "freshdesk":
        return _toml_section("helpdesk", {"kind": "freshdesk"}) + _toml_section(
            "freshdesk",
            {"domain": standin.domain, "base_url": sandbox.helpdesk_url,
             "api_key": standin.api_key},
        )
    return _toml_section(
        "zendesk",
        {
            "subdomain": ZENDESK_SUBDOMAIN,
            "base_url": sandbox.helpdesk_url,
            "email": standin.email,
            "api_token": standin.api_token,
        },
    )


def _banner(sandbox: Sandbox, connector_url: str | None, settings: Settings | None) -> str:
    twilio = sandbox.twilio
    opt_out = "twilio" if twilio.opt_out_handling else "connector"
    webhook = twilio.sms_webhook_url
    title = sandbox.helpdesk_kind.capitalize() + " sandbox"
    lines = [
        f"{title:<16} {sandbox.helpdesk_url}",
        f"Twilio sandbox   {sandbox.twilio_url}   (support number {twilio.phone_number})",
        f"Inbound texts go to {webhook}"
        if webhook
        else "Inbound texts are recorded, not posted (no connector URL)",
        f"Twilio opt-out handling: {'on' if twilio.opt_out_handling else 'off'}",
        "",
        "Point the connector at the sandbox (config file, or SMS_CONNECTOR_<SECTION>__<KEY>):",
        "",
    ]
    snippet: list[str] = []
    if connector_url:
        # Twilio signs the exact URL it calls, so the connector must believe it lives there.
        snippet += _toml_section("server", {"public_url": connector_url})
    snippet += _helpdesk_sections(sandbox)
    snippet += _toml_section(
        "twilio",
        {
            "base_url": sandbox.twilio_url,
            "account_sid": twilio.account_sid,
            "auth_token": twilio.auth_token,
            "opt_out_handling": opt_out,
        },
    )
    if settings is None or not settings.channels:
        snippet += _toml_section(
            "channels",
            {"provider": "twilio", "number": twilio.phone_number, "name": "Sandbox"},
            array=True,
        )
    lines += [f"    {line}" if line else "" for line in snippet]
    text_flags = ""
    if sandbox.twilio_url != DEFAULT_TWILIO_URL:
        text_flags = f" --twilio-url {sandbox.twilio_url}"
    show_flags = text_flags
    default_url = _DEFAULT_URLS[sandbox.helpdesk_kind]
    if sandbox.helpdesk_kind != "zendesk":
        show_flags = f" --helpdesk {sandbox.helpdesk_kind}{show_flags}"
    if sandbox.helpdesk_url != default_url:
        show_flags = f" --helpdesk-url {sandbox.helpdesk_url}{show_flags}"
    lines += [
        "Then:",
        f'    sms-connector sandbox text{text_flags} +12025550142 "my order is late"',
        f"    sms-connector sandbox show{show_flags}",
        "Ctrl-C or SIGTERM stops the sandbox.",
    ]
    return "\n".join(lines)


def _run(
    ctx: click.Context,
    *,
    host: str,
    helpdesk: str | None,
    zendesk_port: int,
    freshdesk_port: int,
    twilio_port: int,
    connector_url: str | None,
    latency_ms: int,
    per_minute: int | None,
    twilio_opt_out_handling: bool,
) -> None:
    if not _is_loopback(host):
        # /_sandbox routes are unauthenticated and the credentials are printed: never expose them.
        raise click.BadParameter(f"{host!r} is not a loopback address", param_hint="--host")
    settings = _settings(ctx)
    kind = _helpdesk_kind(helpdesk, settings)
    helpdesk_port = freshdesk_port if kind == "freshdesk" else zendesk_port
    if helpdesk_port == twilio_port != 0:
        raise click.BadParameter(
            f"{kind.capitalize()} and Twilio need ports of their own", param_hint="--twilio-port"
        )
    for port in (helpdesk_port, twilio_port):
        _check_port_free(host, port)
    if connector_url is None:
        connector_url = (settings.server if settings else ServerSettings()).public_url
    connector_url = connector_url.rstrip("/") or None

    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        # Only note it: stopping the servers from inside a handler could interrupt the main
        # thread while it holds one of their locks.
        received.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        running = start_sandbox(
            host=host,
            helpdesk=kind,
            helpdesk_port=helpdesk_port,
            twilio_port=twilio_port,
            connector_url=connector_url,
            latency_ms=latency_ms,
            per_minute=per_minute,
            twilio_opt_out_handling=twilio_opt_out_handling,
        )
        try:
            click.echo(_banner(running, connector_url, settings))
            while not received:
                time.sleep(0.1)
        finally:
            running.stop()
        click.echo(f"sandbox stopped ({signal.Signals(received[0]).name})", err=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.group(invoke_without_command=True)
@start_options
@click.pass_context
def sandbox(ctx: click.Context, config_path: str | None, **options: Any) -> None:
    """Local helpdesk and Twilio stand-ins; with no subcommand, start them (like `start`)."""
    if ctx.invoked_subcommand is None:
        _run(ctx, **options)
        return
    # Options given before another subcommand would be silently ignored otherwise.
    given = [
        f"--{name.replace('_', '-')}"
        for name in _START_PARAMS
        if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
    ]
    if given:
        raise click.UsageError(
            f"{', '.join(given)}: options of `sandbox start`, not of "
            f"`sandbox {ctx.invoked_subcommand}`"
        )


@sandbox.command("start")
@start_options
@click.pass_context
def start(ctx: click.Context, config_path: str | None, **options: Any) -> None:
    """Run a helpdesk stand-in and Twilio's on loopback until SIGINT / SIGTERM."""
    _run(ctx, **options)


# --- acting on a running sandbox -------------------------------------------------------------


def _first_channel_number(settings: Settings | None) -> str | None:
    for channel in settings.channels if settings else ():
        if channel.number or channel.numbers:
            return channel.number or channel.numbers[0]
    return None


def _short(text: str, width: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@sandbox.command("text")
@click.argument("from_number", metavar="FROM")
@click.argument("body")
@click.option(
    "--to",
    "to_number",
    default=None,
    help="Support number texted (default: the config's first channel, else the sandbox's number).",
)
@click.option("--twilio-url", default=DEFAULT_TWILIO_URL, show_default=True)
@config_option
@click.pass_context
def text(
    ctx: click.Context,
    from_number: str,
    body: str,
    to_number: str | None,
    twilio_url: str,
    config_path: str | None,
) -> None:
    """Text BODY from the handset FROM (E.164), as a customer would."""
    if not is_e164(from_number):
        raise click.BadParameter(f"{from_number!r} is not an E.164 number", param_hint="FROM")
    if to_number is not None and not is_e164(to_number):
        raise click.BadParameter(f"{to_number!r} is not an E.164 number", param_hint="--to")
    to_number = to_number or _first_channel_number(_settings(ctx))
    try:
        result = send_text(twilio_url, from_number, body, to_number)
    except SandboxClientError as exc:
        _client_failed(exc, twilio_url)
    params = result.get("params", {})
    click.echo(
        f"{result.get('message_sid')}  {params.get('From', from_number)} → "
        f"{params.get('To', to_number)}: {_short(body, 60)!r}"
    )
    webhook = result.get("webhook") or {}
    if not webhook.get("url"):
        click.echo(
            "webhook: none configured, nothing posted (start the sandbox with --connector-url)"
        )
    elif webhook.get("error"):
        click.echo(f"webhook: POST {webhook['url']} failed: {_short(webhook['error'])}")
    else:
        click.echo(f"webhook: POST {webhook['url']} → {webhook.get('status')}")
        answer = (webhook.get("response_body") or "").strip()
        if answer:
            click.echo(f"  answer: {_short(answer)}")
    if result.get("auto_reply"):
        click.echo(f"Twilio answered the handset itself: {result['auto_reply']}")


def helpdesk_options(func: F) -> F:
    """Which running helpdesk stand-in a command talks to."""
    options = [
        click.option("--helpdesk", type=click.Choice(sorted(HELPDESK_STANDINS)), default=None,
                     help="The helpdesk stand-in (default: the config's helpdesk.kind, else "
                     "zendesk)."),
        click.option("--helpdesk-url", default=None,
                     help=f"Its URL (default: {DEFAULT_ZENDESK_URL} for Zendesk, "
                     f"{DEFAULT_FRESHDESK_URL} for Freshdesk)."),
        click.option("--zendesk-url", default=None, hidden=True,
                     help="The Zendesk stand-in's URL (older spelling of --helpdesk-url)."),
        config_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _helpdesk_target(ctx: click.Context, helpdesk: str | None, helpdesk_url: str | None,
                     zendesk_url: str | None) -> tuple[str, str]:
    if zendesk_url and not helpdesk:
        helpdesk = "zendesk"
    kind = _helpdesk_kind(helpdesk, _settings(ctx))
    return kind, (helpdesk_url or zendesk_url or _DEFAULT_URLS[kind]).rstrip("/")


@sandbox.command("reply")
@click.argument("ticket", type=click.IntRange(min=1))
@click.argument("body")
@click.option("--private", is_flag=True, help="An internal note instead of a public reply.")
@helpdesk_options
@click.pass_context
def reply(ctx: click.Context, ticket: int, body: str, private: bool, helpdesk: str | None,
          helpdesk_url: str | None, zendesk_url: str | None, config_path: str | None) -> None:
    """Reply BODY on TICKET as an agent in the helpdesk's web UI (its rules run)."""
    kind, url = _helpdesk_target(ctx, helpdesk, helpdesk_url, zendesk_url)
    try:
        result = agent_reply(url, ticket, body, public=not private)
    except SandboxClientError as exc:
        _client_failed(exc, url)
    what = "internal note" if private else "public reply"
    if kind == "freshdesk":
        note = result.get("conversation") or {}
        click.echo(f"ticket #{note.get('ticket_id', ticket)}: {what} by agent "
                   f"{note.get('user_id')} (web UI): {_short(body, 60)!r}")
        return
    shown = result.get("ticket") or {}
    events = (result.get("audit") or {}).get("events") or []
    author = next((e.get("author_id") for e in events if e.get("type") == "Comment"), None)
    click.echo(
        f"ticket #{shown.get('id', ticket)} [{shown.get('status')}]: {what} by agent "
        f"{author} (web UI, via 0): {_short(body, 60)!r}"
    )


@sandbox.command("show")
@helpdesk_options
@click.option("--twilio-url", default=DEFAULT_TWILIO_URL, show_default=True)
@click.pass_context
def show_command(ctx: click.Context, helpdesk: str | None, helpdesk_url: str | None,
                 zendesk_url: str | None, twilio_url: str, config_path: str | None) -> None:
    """Print what each service holds: tickets and comments, messages, handsets, webhooks."""
    kind, url = _helpdesk_target(ctx, helpdesk, helpdesk_url, zendesk_url)
    output = show(url, twilio_url, kind)
    # runner.show reports an unreachable service inline so one down service still shows the other.
    unreachable = sum(1 for line in output.splitlines() if line.startswith("  unreachable: "))
    if unreachable == 2:
        _fail(
            f"no sandbox answers at {url} or {twilio_url} (cannot connect); "
            "start one with `sms-connector sandbox`"
        )
    click.echo(output)
    if unreachable:
        ctx.exit(1)


commands: list[click.Command] = [sandbox]
