"""Run both stand-ins together, and act on a running sandbox as the customer and the agent.

    start_sandbox(...) -> Sandbox       Zendesk and Twilio on loopback ports (8701 / 8703)
    send_text(...)                      a customer's handset texts the Twilio number
    agent_reply(...)                    an agent replies in Zendesk's web UI (via 0)
    show(...)                           what each service holds, as text

The client functions only speak HTTP to the ``/_sandbox`` routes, so the CLI can drive a sandbox
started by another process.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

import requests

from connector.sandbox import twilio, zendesk
from connector.sandbox.common import Faults, SandboxClock, SandboxControls, SandboxServer

__all__ = [
    "Sandbox",
    "SandboxClientError",
    "agent_reply",
    "send_text",
    "show",
    "start_sandbox",
]

CLIENT_TIMEOUT = 20.0  # an inbound text waits for the connector's webhook answer (Twilio: 15 s)


class SandboxClientError(RuntimeError):
    """A sandbox route refused the request or could not be reached; the message says why."""


@dataclass
class Sandbox:
    """Both stand-ins, running. ``controls`` let a caller inject faults in process."""

    zendesk_server: SandboxServer
    twilio_server: SandboxServer
    zendesk_controls: SandboxControls
    twilio_controls: SandboxControls

    @property
    def clock(self) -> SandboxClock:
        """The stand-ins' shared wall clock (``advance(seconds)``)."""
        return self.zendesk_controls.wall

    @property
    def zendesk_url(self) -> str:
        return self.zendesk_server.url

    @property
    def twilio_url(self) -> str:
        return self.twilio_server.url

    @property
    def zendesk(self) -> Any:
        """The Zendesk stand-in's state object (``app.extensions["zendesk_sandbox"]``)."""
        return self.zendesk_server.app.extensions["zendesk_sandbox"]

    @property
    def twilio(self) -> twilio.TwilioSandbox:
        sandbox: twilio.TwilioSandbox = self.twilio_server.app.extensions["twilio_sandbox"]
        return sandbox

    def stop(self) -> None:
        self.twilio_server.stop()
        self.zendesk_server.stop()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sandbox(
    *,
    host: str = "127.0.0.1",
    zendesk_port: int = 8701,
    twilio_port: int = 8703,
    connector_url: str | None = None,
    latency_ms: int = 0,
    per_minute: int | None = None,
    twilio_opt_out_handling: bool = True,
) -> Sandbox:
    """Start Zendesk and Twilio stand-ins (port 0 = any free port).

    ``connector_url`` is the connector's base URL: Twilio's SMS webhook then points at its
    ``/webhooks/sms/twilio``. Zendesk needs nothing here: the connector installs its own webhook
    and triggers through the API (``policy apply``), as it does against a real account.
    """
    faults = Faults(latency_ms=latency_ms, per_minute=per_minute)
    wall = SandboxClock()  # one clock for both: POST /_sandbox/clock on either moves it
    zendesk_controls = SandboxControls(faults, wall=wall)
    twilio_controls = SandboxControls(faults, wall=wall)
    webhook = f"{connector_url.rstrip('/')}/webhooks/sms/twilio" if connector_url else None
    zendesk_server = SandboxServer(
        zendesk.create_app(controls=zendesk_controls), host=host, port=zendesk_port
    )
    twilio_server = SandboxServer(
        twilio.create_app(
            sms_webhook_url=webhook,
            opt_out_handling=twilio_opt_out_handling,
            controls=twilio_controls,
        ),
        host=host,
        port=twilio_port,
    )
    zendesk_server.start()
    try:
        twilio_server.start()
    except BaseException:
        zendesk_server.stop()
        raise
    return Sandbox(zendesk_server, twilio_server, zendesk_controls, twilio_controls)


def _call(method: str, url: str, **kwargs: Any) -> Any:
    try:
        with requests.request(method, url, timeout=CLIENT_TIMEOUT, **kwargs) as response:
            if response.status_code >= 400:
                raise SandboxClientError(
                    f"{method} {url} answered {response.status_code}: {response.text.strip()}"
                )
            return response.json()
    except requests.RequestException as exc:
        raise SandboxClientError(f"{method} {url} failed: {exc}") from exc


def send_text(
    twilio_url: str, from_number: str, body: str, to_number: str | None = None
) -> dict[str, Any]:
    """The handset ``from_number`` texts ``body`` to ``to_number`` (default: the sandbox number).

    Returns the stand-in's answer: ``message_sid``, the ``webhook`` call it made (url, status,
    response_body, error), Twilio's ``auto_reply`` to STOP / START / HELP, the posted ``params``.
    """
    payload: dict[str, Any] = {"from": from_number, "body": body}
    if to_number:
        payload["to"] = to_number
    result: dict[str, Any] = _call(
        "POST", f"{twilio_url.rstrip('/')}/_sandbox/inbound", json=payload
    )
    return result


def agent_reply(
    zendesk_url: str, ticket_id: int, body: str, *, public: bool = True
) -> dict[str, Any]:
    """An agent replies on ``ticket_id`` in Zendesk's web UI; triggers run as they would there."""
    result: dict[str, Any] = _call(
        "POST",
        f"{zendesk_url.rstrip('/')}/_sandbox/agent_reply",
        json={"ticket_id": ticket_id, "body": body, "public": public},
    )
    return result


def _short(text: Any, width: int = 70) -> str:
    return textwrap.shorten(" ".join(str(text or "").split()), width=width, placeholder="…")


def _zendesk_lines(state: dict[str, Any]) -> list[str]:
    users = {u.get("id"): u for u in state.get("users", [])}

    def who(user_id: Any) -> str:
        user = users.get(user_id) or {}
        name = user.get("name") or f"user {user_id}"
        return f"{name} ({user.get('role', '?')})"

    tickets = state.get("tickets", [])
    lines = [f"  users: {len(users)}   tickets: {len(tickets)}"]
    for ticket in tickets:
        tags = ", ".join(ticket.get("tags") or []) or "-"
        lines.append(
            f"  #{ticket.get('id')} [{ticket.get('status')}] {_short(ticket.get('subject'), 50)!r}"
            f" requester {who(ticket.get('requester_id'))} tags: {tags}"
        )
        for comment in ticket.get("comments", []):
            kind = "public " if comment.get("public") else "private"
            lines.append(
                f"      {kind} {who(comment.get('author_id'))}: {_short(comment.get('body'))}"
            )
    deliveries = state.get("deliveries", [])
    lines.append(
        f"  webhooks: {len(state.get('webhooks', []))}   triggers: "
        f"{len(state.get('triggers', []))}   webhook deliveries: {len(deliveries)}"
    )
    return lines


def _twilio_lines(state: dict[str, Any]) -> list[str]:
    config = state.get("config", {})
    lines = [
        f"  number {config.get('phone_number')}   SMS webhook: "
        f"{config.get('sms_webhook_url') or '(none)'}   opt-out handling: "
        f"{'on' if config.get('opt_out_handling') else 'off'}"
    ]
    messages = state.get("messages", [])
    lines.append(f"  messages sent: {len(messages)}")
    for message in messages:
        error = f" error {message['error_code']}" if message.get("error_code") else ""
        callbacks = ", ".join(
            f"{c.get('status')} {c.get('http_status') or c.get('error') or '?'}"
            for c in message.get("callbacks", [])
        )
        lines.append(
            f"    {message.get('sid')} → {message.get('to')} [{message.get('status')}{error}] "
            f"{_short(message.get('body'), 50)!r}"
            + (f"  callbacks: {callbacks}" if callbacks else "")
        )
    handsets = state.get("handsets", {})
    lines.append(f"  handsets: {len(handsets)}")
    for number, inbox in handsets.items():
        lines.append(f"    {number} received {len(inbox)}:")
        for item in inbox:
            lines.append(f"      from {item.get('from')}: {_short(item.get('body'))}")
    opt_outs = state.get("opt_outs", [])
    if opt_outs:
        lines.append(
            "  opted out: "
            + ", ".join(f"{o.get('handset')} (from {o.get('sender')})" for o in opt_outs)
        )
    inbound = state.get("inbound", [])
    lines.append(f"  inbound texts: {len(inbound)}")
    for item in inbound:
        outcome = item.get("status") or item.get("error") or "not posted (no webhook)"
        lines.append(
            f"    {item.get('message_sid')} {item.get('from')} → {item.get('to')} "
            f"{_short(item.get('body'), 40)!r} → webhook {outcome}"
        )
    return lines


def show(zendesk_url: str, twilio_url: str) -> str:
    """A readable summary of what each running stand-in holds (from ``GET /_sandbox/state``)."""
    sections = []
    for name, url, render in (
        ("Zendesk", zendesk_url, _zendesk_lines),
        ("Twilio", twilio_url, _twilio_lines),
    ):
        sections.append(f"{name} ({url})")
        try:
            state = _call("GET", f"{url.rstrip('/')}/_sandbox/state")
        except SandboxClientError as exc:
            sections.append(f"  unreachable: {exc}")
            continue
        faults = {k: v for k, v in (state.get("faults") or {}).items() if v not in (None, 0, False)}
        if faults:
            sections.append(f"  faults: {faults}")
        sections.extend(render(state))
    return "\n".join(sections)
