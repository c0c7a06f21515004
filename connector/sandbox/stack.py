"""The whole story on one machine: the sandbox services and a connector wired to them.

Used by ``sms-connector demo``, the end-to-end tests and the benchmarks. ``sandbox_environment``
gives the configuration as ``SMS_CONNECTOR_*`` variables, so a connector in another process
(``sms-connector serve``) can be pointed at the sandbox exactly as an admin would point it at real
accounts; ``ConnectorServer`` runs one in this process instead (the demo's embedded default).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

from connector.config import Settings, settings_from_dict
from connector.runtime import Runtime
from connector.sandbox import twilio as twilio_sandbox
from connector.sandbox.common import SandboxServer
from connector.sandbox.runner import Sandbox

ZENDESK_EMAIL = "connector@example.com"
ZENDESK_TOKEN = "sandbox-api-token"
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
        "helpdesk": {"kind": "zendesk"},
        "zendesk": {"subdomain": "sandbox", "base_url": sandbox.zendesk_url,
                    "email": ZENDESK_EMAIL, "api_token": ZENDESK_TOKEN},
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
    runtime: Runtime = field(init=False)
    server: SandboxServer = field(init=False)

    def start(self) -> ConnectorServer:
        from connector.server import EmbeddedWorker
        from connector.web import create_app

        self.runtime = Runtime(self.settings)
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


def start_connector(data: dict[str, Any], port: int) -> ConnectorServer:
    return ConnectorServer(settings_from_dict(data), port).start()
