"""The whole story on one machine: the sandbox services and a connector wired to them.

Used by ``sms-connector demo``, the end-to-end tests and the benchmarks. ``sandbox_environment``
gives the configuration as ``SMS_CONNECTOR_*`` variables, so a connector in another process
(``sms-connector serve``) can be pointed at the sandbox exactly as an admin would point it at real
accounts; ``ConnectorServer`` runs one in this process instead (the demo's embedded default).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import Engine

from connector.clock import CLOCK_FILE_ENV, Clock, FileOffsetClock
from connector.config import Settings, settings_from_dict
from connector.runtime import Runtime
from connector.sandbox import twilio as twilio_sandbox
from connector.sandbox.common import SandboxServer
from connector.sandbox.runner import Sandbox, sms_tickets, start_sandbox
from connector.store import make_engine

ZENDESK_EMAIL = "connector@example.com"
ZENDESK_TOKEN = "sandbox-api-token"
FRESHDESK_KEY = "sandbox-api-key"
SUPPORT_NUMBER = twilio_sandbox.DEFAULT_PHONE_NUMBER


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def sandbox_config(
    sandbox: Sandbox,
    *,
    connector_url: str,
    database_url: str,
    opt_out_handling: str = "twilio",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The connector's settings for this sandbox, as the config file would hold them."""
    data: dict[str, Any] = {
        "server": {"public_url": connector_url, "admin_token": "sandbox-admin"},
        "database": {"url": database_url},
        "helpdesk": {"kind": sandbox.helpdesk_kind},
        **helpdesk_section(sandbox),
        "twilio": {"account_sid": twilio_sandbox.DEFAULT_ACCOUNT_SID,
                   "auth_token": "sandbox-auth-token", "base_url": sandbox.twilio_url,
                   "opt_out_handling": opt_out_handling},
        "channels": [{"provider": "twilio", "number": SUPPORT_NUMBER, "name": "Support line"}],
        "queue": {"poll_interval_seconds": 0.05, "backoff_base_seconds": "1s",
                  "backoff_max_seconds": "5s"},
    }
    for section, values in (extra or {}).items():
        if isinstance(values, dict):
            data.setdefault(section, {}).update(values)
        else:
            data[section] = values
    return data


def helpdesk_section(sandbox: Sandbox) -> dict[str, Any]:
    """``[zendesk]`` or ``[freshdesk]`` pointing at the sandbox's helpdesk stand-in."""
    if sandbox.helpdesk_kind == "freshdesk":
        return {"freshdesk": {"domain": "sandbox", "base_url": sandbox.helpdesk_url,
                              "api_key": FRESHDESK_KEY}}
    return {"zendesk": {"subdomain": "sandbox", "base_url": sandbox.helpdesk_url,
                        "email": ZENDESK_EMAIL, "api_token": ZENDESK_TOKEN}}


def environment(data: dict[str, Any]) -> dict[str, str]:
    """The same settings as ``SMS_CONNECTOR_<SECTION>__<KEY>`` variables."""
    env: dict[str, str] = {}

    def put(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                put(f"{prefix}__{key.upper()}", inner)
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                put(f"{prefix}__{index}", inner)
        else:
            env[prefix] = str(value).lower() if isinstance(value, bool) else str(value)

    for section, values in data.items():
        put(f"SMS_CONNECTOR_{section.upper()}", values)
    return env


@dataclass
class ConnectorServer:
    """A connector (web + embedded worker) in this process, on a real loopback port."""

    settings: Settings
    port: int
    clock: Clock | None = None  # the runtime's (default: the wall clock)
    runtime: Runtime = field(init=False)
    server: SandboxServer = field(init=False)

    def start(self) -> ConnectorServer:
        from connector.serve.server import EmbeddedWorker
        from connector.web import create_app

        self.runtime = Runtime(self.settings, clock=self.clock)
        self.runtime.prepare_schema()
        self.server = SandboxServer(create_app(runtime=self.runtime), port=self.port).start()
        self.worker = EmbeddedWorker(self.runtime).start()
        return self

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.worker.stop()
        self.server.stop()
        self.runtime.close()


def start_connector(data: dict[str, Any], port: int,
                    clock: Clock | None = None) -> ConnectorServer:
    return ConnectorServer(settings_from_dict(data), port, clock).start()


# --- a connector in its own process (end-to-end tests, benchmarks) ------------------------


@dataclass
class Stack:
    sandbox: Sandbox
    connector_url: str
    config: dict[str, Any]
    engine: Engine
    process: subprocess.Popen[bytes]
    log_path: Path
    clock: FileOffsetClock | None = None  # shared by the connector's processes (advance)

    def helpdesk_state(self) -> dict[str, Any]:
        return requests.get(self.sandbox.helpdesk_url + "/_sandbox/state", timeout=10).json()

    def zendesk_state(self) -> dict[str, Any]:
        return requests.get(self.sandbox.zendesk_url + "/_sandbox/state", timeout=10).json()

    def twilio_state(self) -> dict[str, Any]:
        return requests.get(self.sandbox.twilio_url + "/_sandbox/state", timeout=10).json()

    def sms_tickets(self) -> list[dict[str, Any]]:
        return sms_tickets(self.helpdesk_state(), self.sandbox.helpdesk_kind)

    def handset(self, phone: str) -> list[dict[str, Any]]:
        return list(self.twilio_state()["handsets"].get(phone, []))

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def advance(self, seconds: float) -> None:
        """Move time ``seconds`` forward for the connector's processes and the stand-ins alike
        (``connector_process(..., shift_clock=True)``)."""
        if self.clock is None:
            raise RuntimeError("this stack runs on the wall clock: start it with shift_clock=True")
        self.clock.advance(seconds)
        self.sandbox.clock.advance(seconds)


def wait_for(predicate: Any, timeout: float = 20.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


LAYOUTS = ("serve", "serve+worker", "wsgi-thread")


@contextmanager
def connector_process(tmp_path: Path, *, opt_out_handling: str = "twilio",
                      twilio_opt_out_handling: bool = True,
                      extra: dict[str, Any] | None = None,
                      database_url: str | None = None,
                      latency_ms: int = 0,
                      layout: str = "serve",
                      helpdesk: str = "zendesk",
                      command: Sequence[str] | None = None,
                      shift_clock: bool = False) -> Iterator[Stack]:
    """The connector in processes of its own, as an admin runs it (``layout``):

    - ``serve``: ``sms-connector serve`` (gunicorn plus its queue worker process);
    - ``serve+worker``: ``serve --no-worker`` plus ``sms-connector worker``, two commands on
      the same store;
    - ``wsgi-thread``: an outside gunicorn on ``connector.serve.server:wsgi_app()``, whose queue
      worker is a thread of the web process.

    ``helpdesk`` is the stand-in the connector files tickets in (``helpdesk.kind``).
    ``latency_ms`` is added to every sandbox helpdesk / Twilio call. ``command`` replaces
    ``python -m connector`` (e.g. a script that registers a test-only adapter, then runs the CLI).
    ``shift_clock``: the processes read their clock from a file (``SMS_CONNECTOR_CLOCK_FILE``)
    that ``Stack.advance`` moves together with the stand-ins' clock: "a day later" in a second.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout: one of {LAYOUTS}")
    port = free_port()
    connector_url = f"http://127.0.0.1:{port}"
    sandbox = start_sandbox(helpdesk=helpdesk, helpdesk_port=0, twilio_port=0,
                            connector_url=connector_url,
                            twilio_opt_out_handling=twilio_opt_out_handling,
                            latency_ms=latency_ms)
    db_url = database_url or f"sqlite:///{tmp_path / 'connector.db'}"
    if database_url:  # PostgreSQL: migrated by the operator (`db upgrade`), as in production
        from connector.store import schema

        migrate = make_engine(database_url)
        schema.upgrade(migrate)
        migrate.dispose()
    config = sandbox_config(sandbox, connector_url=connector_url, database_url=db_url,
                            opt_out_handling=opt_out_handling, extra=extra)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMS_CONNECTOR_")}
    env.update(environment(config))
    clock = None
    if shift_clock:
        clock = FileOffsetClock(tmp_path / "clock-offset")
        env[CLOCK_FILE_ENV] = str(clock.path)
    log_path = tmp_path / "connector.log"
    cli = list(command or [sys.executable, "-m", "connector"])
    if layout == "wsgi-thread":
        web = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
               "--worker-class", "gthread",
               "--threads", str(settings_from_dict(config).server.threads),
               "connector.serve.server:wsgi_app()"]
    else:
        web = [*cli, "serve", "--port", str(port)]
        if layout == "serve+worker":
            web.append("--no-worker")
    worker: subprocess.Popen[bytes] | None = None
    with log_path.open("wb") as log:
        process = subprocess.Popen(web, env=env, stdout=log, stderr=subprocess.STDOUT)
        if layout == "serve+worker":
            worker = subprocess.Popen([*cli, "worker"],
                                      env=env, stdout=log, stderr=subprocess.STDOUT)
    engine = make_engine(db_url)
    stack = Stack(sandbox, connector_url, config, engine, process, log_path, clock)
    try:
        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError("connector exited:\n" + stack.logs()[-3000:])
            try:
                return requests.get(connector_url + "/readyz", timeout=1).status_code == 200
            except (requests.ConnectionError, requests.Timeout):  # not listening / still loading
                return False

        wait_for(ready, timeout=30)
        yield stack
    finally:
        # The stand-ins first: their webhook senders hold keep-alive connections to the
        # connector, and gunicorn's graceful stop waits out its keep-alive (2 s) for them.
        sandbox.stop()
        for proc in (process, worker):
            if proc is None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        engine.dispose()
