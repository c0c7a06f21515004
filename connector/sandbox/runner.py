"""Run the stand-ins together, and act on a running sandbox as the customer and the agent.

    start_sandbox(...) -> Sandbox       a helpdesk (Zendesk or Freshdesk) and Twilio on loopback
                                        ports (8701 Zendesk / 8702 Freshdesk / 8703 Twilio)
    send_text(...)                      a customer's handset texts the Twilio number
    agent_reply(...)                    an agent replies in the helpdesk's web UI
    show(...)                           what each service holds, as text

The client functions only speak HTTP to the ``/_sandbox`` routes, so the CLI can drive a sandbox
started by another process. Both helpdesk stand-ins answer the same sandbox routes
(``/_sandbox/agent_reply`` ``{"ticket_id", "body", "public"}``, ``/_sandbox/state``,
``/_sandbox/flush``, ``/_sandbox/tickets/<id>/status``), each in its own vendor's words.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from flask import Flask

from connector.sandbox import twilio, zendesk
from connector.sandbox.common import Faults, SandboxClock, SandboxControls, SandboxServer

__all__ = [
    "DEFAULT_PORTS",
    "HELPDESK_STANDINS",
    "Sandbox",
    "SandboxClientError",
    "agent_reply",
    "send_text",
    "show",
    "sms_tickets",
    "start_sandbox",
]

CLIENT_TIMEOUT = 20.0  # an inbound text waits for the connector's webhook answer (Twilio: 15 s)
DEFAULT_PORTS = {"zendesk": 8701, "freshdesk": 8702, "twilio": 8703}


def _freshdesk_app(controls: SandboxControls) -> Flask:
    from connector.sandbox import freshdesk

    return freshdesk.create_app(controls=controls)


# The helpdesk stand-ins by ``helpdesk.kind``: the app factory and the name of its state object
# in ``app.extensions``.
HELPDESK_STANDINS: dict[str, tuple[Callable[[SandboxControls], Flask], str]] = {
    "zendesk": (lambda controls: zendesk.create_app(controls=controls), "zendesk_sandbox"),
    "freshdesk": (_freshdesk_app, "freshdesk_sandbox"),
}


class SandboxClientError(RuntimeError):
    """A sandbox route refused the request or could not be reached; the message says why."""


@dataclass
class Sandbox:
    """A helpdesk stand-in and Twilio's, running. ``controls`` let a caller inject faults in
    process."""

    helpdesk_server: SandboxServer
    twilio_server: SandboxServer
    helpdesk_controls: SandboxControls
    twilio_controls: SandboxControls
    helpdesk_kind: str = "zendesk"

    @property
    def clock(self) -> SandboxClock:
        """The stand-ins' shared wall clock (``advance(seconds)``)."""
        return self.helpdesk_controls.wall

    @property
    def helpdesk_url(self) -> str:
        return self.helpdesk_server.url

    @property
    def helpdesk(self) -> Any:
        """The helpdesk stand-in's state object (``app.extensions["<kind>_sandbox"]``)."""
        return self.helpdesk_server.app.extensions[HELPDESK_STANDINS[self.helpdesk_kind][1]]

    def _only(self, kind: str) -> None:
        if self.helpdesk_kind != kind:
            raise AttributeError(f"this sandbox runs {self.helpdesk_kind}, not {kind}")

    @property
    def zendesk_url(self) -> str:
        self._only("zendesk")
        return self.helpdesk_url

    @property
    def zendesk(self) -> Any:
        self._only("zendesk")
        return self.helpdesk

    @property
    def zendesk_controls(self) -> SandboxControls:
        self._only("zendesk")
        return self.helpdesk_controls

    @property
    def freshdesk_url(self) -> str:
        self._only("freshdesk")
        return self.helpdesk_url

    @property
    def freshdesk(self) -> Any:
        self._only("freshdesk")
        return self.helpdesk

    @property
    def twilio_url(self) -> str:
        return self.twilio_server.url

    @property
    def twilio(self) -> twilio.TwilioSandbox:
        sandbox: twilio.TwilioSandbox = self.twilio_server.app.extensions["twilio_sandbox"]
        return sandbox

    def stop(self) -> None:
        self.twilio_server.stop()
        self.helpdesk_server.stop()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sandbox(
    *,
    host: str = "127.0.0.1",
    helpdesk: str = "zendesk",
    helpdesk_port: int | None = None,
    zendesk_port: int | None = None,
    twilio_port: int = DEFAULT_PORTS["twilio"],
    connector_url: str | None = None,
    latency_ms: int = 0,
    per_minute: int | None = None,
    twilio_opt_out_handling: bool = True,
) -> Sandbox:
    """Start the ``helpdesk`` stand-in and Twilio's (port 0 = any free port; ``zendesk_port``
    is the older name of ``helpdesk_port``).

    ``connector_url`` is the connector's base URL: Twilio's SMS webhook then points at its
    ``/webhooks/sms/twilio``. The helpdesk needs nothing here: the connector installs its own
    webhook and rules through the API (``policy apply``), as it does against a real account.
    """
    if helpdesk not in HELPDESK_STANDINS:
        raise ValueError(f"helpdesk: one of {sorted(HELPDESK_STANDINS)}, not {helpdesk!r}")
    port = helpdesk_port if helpdesk_port is not None else zendesk_port
    if port is None:
        port = DEFAULT_PORTS[helpdesk]
    faults = Faults(latency_ms=latency_ms, per_minute=per_minute)
    wall = SandboxClock()  # one clock for both: POST /_sandbox/clock on either moves it
    helpdesk_controls = SandboxControls(faults, wall=wall)
    twilio_controls = SandboxControls(faults, wall=wall)
    webhook = f"{connector_url.rstrip('/')}/webhooks/sms/twilio" if connector_url else None
    make_app, _ = HELPDESK_STANDINS[helpdesk]
    helpdesk_server = SandboxServer(make_app(helpdesk_controls), host=host, port=port)
    twilio_server = SandboxServer(
        twilio.create_app(
            sms_webhook_url=webhook,
            opt_out_handling=twilio_opt_out_handling,
            controls=twilio_controls,
        ),
        host=host,
        port=twilio_port,
    )
    helpdesk_server.start()
    try:
        twilio_server.start()
    except BaseException:
        helpdesk_server.stop()
        raise
    return Sandbox(helpdesk_server, twilio_server, helpdesk_controls, twilio_controls,
                   helpdesk_kind=helpdesk)


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
    helpdesk_url: str, ticket_id: int, body: str, *, public: bool = True
) -> dict[str, Any]:
    """An agent replies on ``ticket_id`` in the helpdesk's web UI; its rules run as they would
    there (Zendesk's triggers, Freshdesk's automation rules)."""
    result: dict[str, Any] = _call(
        "POST",
        f"{helpdesk_url.rstrip('/')}/_sandbox/agent_reply",
        json={"ticket_id": ticket_id, "body": body, "public": public},
    )
    return result


_FRESHDESK_STATUS = {2: "open", 3: "pending", 4: "resolved", 5: "closed"}
_FRESHDESK_PRIORITY = {1: "low", 2: "medium", 3: "high", 4: "urgent"}


def sms_tickets(state: dict[str, Any], helpdesk: str = "zendesk") -> list[dict[str, Any]]:
    """The SMS tickets (tagged ``sms``) of a helpdesk stand-in's ``/_sandbox/state``, each with
    ``id, subject, status, priority, tags, requester_id`` and ``comments`` (oldest first, each
    ``body`` as plain text, ``public``, ``author_id``): Zendesk's own shape, and Freshdesk's
    ticket (description first, then its conversations) put into it, its own fields kept."""
    tickets = [t for t in state.get("tickets", []) if "sms" in (t.get("tags") or [])]
    if helpdesk != "freshdesk":
        return tickets
    views = []
    for ticket in tickets:
        first = {"id": None, "body": ticket.get("description_text") or "", "public": True,
                 "author_id": ticket.get("requester_id")}
        notes = [{"id": c.get("id"), "body": c.get("body_text") or "",
                  "public": not c.get("private"), "author_id": c.get("user_id"),
                  "incoming": c.get("incoming"), "source": c.get("source")}
                 for c in ticket.get("conversations", [])]
        views.append({**ticket,
                      "status": _FRESHDESK_STATUS.get(ticket.get("status"), ticket.get("status")),
                      "priority": _FRESHDESK_PRIORITY.get(ticket.get("priority"),
                                                          ticket.get("priority")),
                      "freshdesk_status": ticket.get("status"),
                      "freshdesk_priority": ticket.get("priority"),
                      "comments": [first, *notes]})
    return views


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


def _freshdesk_lines(state: dict[str, Any]) -> list[str]:
    people = {c.get("id"): (c.get("name"), "contact") for c in state.get("contacts", [])}
    people.update({a.get("id"): (a.get("name") or (a.get("contact") or {}).get("name"), "agent")
                   for a in state.get("agents", [])})

    def who(user_id: Any) -> str:
        name, role = people.get(user_id, (None, "?"))
        return f"{name or f'user {user_id}'} ({role})"

    tickets = state.get("tickets", [])
    lines = [f"  contacts: {len(state.get('contacts', []))}   tickets: {len(tickets)}"]
    for ticket in tickets:
        tags = ", ".join(ticket.get("tags") or []) or "-"
        status = _FRESHDESK_STATUS.get(ticket.get("status"), ticket.get("status"))
        lines.append(
            f"  #{ticket.get('id')} [{status}] {_short(ticket.get('subject'), 50)!r}"
            f" requester {who(ticket.get('requester_id'))} tags: {tags}"
        )
        for note in ticket.get("conversations", []):
            kind = "private" if note.get("private") else "public "
            lines.append(f"      {kind} {who(note.get('user_id'))}: "
                         f"{_short(note.get('body_text') or note.get('body'))}")
    lines.append(f"  automation rules: {len(state.get('rules', []))}   webhook deliveries: "
                 f"{len(state.get('webhook_attempts', []))}")
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


def show(helpdesk_url: str, twilio_url: str, helpdesk: str = "zendesk") -> str:
    """A readable summary of what each running stand-in holds (from ``GET /_sandbox/state``)."""
    sections = []
    title, render_helpdesk = (("Freshdesk", _freshdesk_lines) if helpdesk == "freshdesk"
                              else ("Zendesk", _zendesk_lines))
    for name, url, render in (
        (title, helpdesk_url, render_helpdesk),
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
