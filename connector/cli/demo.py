"""``sms-connector demo``: the whole story on the embedded default, no accounts needed.

The sandbox helpdesk (Zendesk, or Freshdesk with ``--helpdesk freshdesk``) and Twilio run on
loopback, the connector runs in this process on a SQLite
file, and the transcript shows what a customer, an agent and an admin would see.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import requests

from connector.clock import FileOffsetClock
from connector.sandbox.runner import (
    HELPDESK_STANDINS,
    agent_reply,
    send_text,
    sms_tickets,
    start_sandbox,
)
from connector.sandbox.stack import SUPPORT_NUMBER, free_port, sandbox_config, start_connector

CUSTOMER = "+12025550142"
UNREACHABLE = "+12025553003"  # the sandbox fails deliveries to numbers ending 3003 (30003)


def _wait(predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise click.ClickException("the demo timed out waiting for the connector")


class Demo:
    def __init__(self, workdir: Path, echo: Callable[[str], None],
                 helpdesk: str = "zendesk") -> None:
        self.workdir = workdir
        self.kind = helpdesk
        self.name = helpdesk.capitalize()
        self.echo = echo
        self.current = 0  # the ticket the scenes follow

    def state(self, service: str) -> dict[str, Any]:
        url = self.sandbox.helpdesk_url if service == "helpdesk" else self.sandbox.twilio_url
        return dict(requests.get(url + "/_sandbox/state", timeout=10).json())

    def tickets(self) -> list[dict[str, Any]]:
        return sms_tickets(self.state("helpdesk"), self.kind)

    def ticket(self, ticket_id: int) -> dict[str, Any]:
        return next(t for t in self.tickets() if t["id"] == ticket_id)

    def handset(self, phone: str) -> list[dict[str, Any]]:
        return list(self.state("twilio")["handsets"].get(phone, []))

    def idle(self) -> bool:
        counts = self.connector.runtime.queue.counts()
        return not counts.get("ready") and not counts.get("running")

    def later(self, seconds: float) -> None:
        """Time passes: the connector and the stand-ins jump ``seconds`` ahead together."""
        _wait(self.idle)  # no job runs across the jump (its lease would seem to run out)
        self.echo(f"  ⏩ {seconds / 60:g} minutes later")
        self.clock.advance(seconds)
        self.sandbox.clock.advance(seconds)

    def text(self, phone: str, body: str) -> None:
        self.echo(f"  📱 {phone} texts: {body!r}")
        send_text(self.sandbox.twilio_url, phone, body, SUPPORT_NUMBER)

    def run(self) -> None:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        self.sandbox = start_sandbox(helpdesk=self.kind, helpdesk_port=0, twilio_port=0,
                                     connector_url=url)
        database = self.workdir / "sms-connector.db"
        # The escalation scenes jump the clock ("30 minutes later") instead of waiting: the
        # connector and the stand-ins read the same offset; the scheduler looks every second.
        self.clock = FileOffsetClock(self.workdir / "clock-offset")
        data = sandbox_config(self.sandbox, connector_url=url, database_url=f"sqlite:///{database}",
                              extra={"escalation": {"tick": "1s"}})
        self.connector = start_connector(data, port, clock=self.clock)
        try:
            self.echo(f"Sandbox {self.name} {self.sandbox.helpdesk_url}, sandbox Twilio "
                      f"{self.sandbox.twilio_url}; connector {url} on {database}")
            self.install()
            self.scenes()
        finally:
            self.connector.stop()
            self.sandbox.stop()

    def install(self) -> None:
        """What an admin does once: `sms-connector policy apply` against the helpdesk."""
        from connector.sync.policy import apply

        runtime = self.connector.runtime
        self.echo("")
        self.echo("0. The admin runs `sms-connector policy apply`:")
        result = apply(runtime, runtime.policy)
        for line in result.lines():
            self.echo(f"  ⚙️  {line}")

    def scenes(self) -> None:
        for scene in SCENES:
            self.echo("")
            self.echo(scene.__doc__ or scene.__name__)
            scene(self)
        self.echo("")
        self.echo(f"Demo finished: {len(SCENES)} scenes, each text delivered once.")


def scene_new_customer(demo: Demo) -> None:
    """1. A customer texts the support number."""
    demo.text(CUSTOMER, "hi my order #4411 still hasn't arrived, it's been a week")
    ticket = _wait(lambda: demo.tickets())[0]
    demo.echo(f"  🎫 {demo.name} ticket #{ticket['id']} created: priority {ticket['priority']}, "
              f"tags {', '.join(sorted(ticket['tags']))}")
    ack = _wait(lambda: demo.handset(CUSTOMER))[0]
    demo.echo(f"  💬 customer receives: {ack['body']!r}")
    demo.current = ticket["id"]


def scene_burst(demo: Demo) -> None:
    """2. They send a few more texts in a row: they land on the same ticket, in order."""
    for body in ("the tracking says delivered", "but nothing at my door", "pls help"):
        demo.text(CUSTOMER, body)
    _wait(demo.idle)
    ticket = demo.ticket(demo.current)
    demo.echo(f"  🎫 ticket #{ticket['id']} now has {len(ticket['comments'])} comments; the last "
              f"one reads: {ticket['comments'][-1]['body']!r}")


def scene_agent_reply(demo: Demo) -> None:
    """3. An agent replies in the helpdesk; the customer gets it as a text."""
    before = len(demo.handset(CUSTOMER))
    body = ("Sorry about that! I\u2019ve opened a trace with the carrier \u2014 you\u2019ll hear "
            "from us by tomorrow noon.")
    agent_reply(demo.sandbox.helpdesk_url, demo.current, body)
    demo.echo(f"  🧑‍💼 agent replies in {demo.name}: {body!r}")
    received = _wait(lambda: demo.handset(CUSTOMER)[before:])
    demo.echo(f"  💬 customer receives: {received[0]['body']!r} (curly quotes made plain: one "
              "GSM-7 segment instead of UCS-2)")


def scene_failed_delivery(demo: Demo) -> None:
    """4. A reply to a number the carrier cannot reach shows up as a note for the agent."""
    demo.text(UNREACHABLE, "is my internet down?")
    ticket = _wait(lambda: [t for t in demo.tickets() if t["id"] != demo.current])[0]
    agent_reply(demo.sandbox.helpdesk_url, ticket["id"], "We're checking your line now.")
    demo.echo("  🧑‍💼 agent replies on that ticket")

    def notes() -> Any:
        found = [c for c in demo.ticket(ticket["id"])["comments"] if not c["public"]]
        return found if len(found) >= 2 else None  # the acknowledgement's, then the reply's

    for note in _wait(notes):
        demo.echo(f"  📝 private note on ticket #{ticket['id']}: {note['body']!r}")


def scene_stop(demo: Demo) -> None:
    """5. The customer texts STOP: nothing more is sent, and the agent is told why."""
    demo.text(CUSTOMER, "STOP")
    _wait(demo.idle)
    before = len(demo.handset(CUSTOMER))
    agent_reply(demo.sandbox.helpdesk_url, demo.current, "Any update on your side?")
    demo.echo("  🧑‍💼 agent replies again")

    def note() -> Any:
        notes = [c for c in demo.ticket(demo.current)["comments"] if not c["public"]]
        return notes and "opted out" in notes[-1]["body"] and notes

    demo.echo(f"  📝 private note: {_wait(note)[-1]['body']!r}")
    time.sleep(0.3)
    sent = demo.handset(CUSTOMER)[before:]
    demo.echo(f"  💬 texts sent after STOP: {len(sent)}")


def scene_escalation(demo: Demo) -> None:
    """6. Nobody updates an order for 30 minutes: the connector escalates the ticket."""
    phone = "+12025550177"
    demo.text(phone, "where is my order 5512? the tracking has not moved in 3 days")
    ticket = _wait(lambda: [t for t in demo.tickets() if phone in t["subject"]])[0]
    demo.echo(f"  🎫 ticket #{ticket['id']}: priority {ticket['priority']}")
    demo.later(31 * 60)

    def escalated() -> Any:
        # The order rule's escalation (on Freshdesk the first-response one fires too).
        current = demo.ticket(ticket["id"])
        notes = [c for c in current["comments"] if not c["public"]
                 and c["body"].startswith("[sms-connector] Escalated: status_unknown")]
        return notes and "sms_esc_status_unknown" in current["tags"] and (current, notes)

    current, notes = _wait(escalated)
    demo.echo(f"  🚨 ticket #{ticket['id']} escalated: priority {current['priority']}, tags "
              f"{', '.join(t for t in sorted(current['tags']) if t.startswith('sms_es'))}")
    demo.echo(f"  📝 private note: {notes[0]['body'].splitlines()[0]!r}")


def scene_outage(demo: Demo) -> None:
    """7. Three customers report the service down: one problem ticket, one update for all."""
    reporters = ["+12025550181", "+12025550182", "+12025550183"]
    demo.text(reporters[0], "is your service down? the app will not load")
    first = _wait(lambda: demo.handset(reporters[0]))[0]
    demo.echo(f"  💬 one report is no outage yet; the customer receives: {first['body']!r}")
    for phone in reporters[1:]:
        demo.text(phone, "site down for anyone else?")

    def problem() -> Any:
        # Zendesk: a ticket of type problem; Freshdesk: a tracker (association_type 3).
        return [t for t in demo.state("helpdesk").get("tickets", [])
                if t.get("type") == "problem" or t.get("association_type") == 3]

    found = _wait(problem, timeout=30)[0]
    demo.echo(f"  🎫 the third report within 15 minutes files problem ticket #{found['id']}, "
              f"linking the {len(reporters)} reports")
    confirmed = _wait(lambda: [m for m in demo.handset(reporters[0])
                               if m["body"] != first["body"]], timeout=30)
    demo.echo(f"  💬 each reporter receives: {confirmed[0]['body']!r}")
    update = "We found the cause: a database failover. Service is back within 30 minutes."
    agent_reply(demo.sandbox.helpdesk_url, found["id"], update)
    demo.echo(f"  🧑‍💼 agent posts one public update on #{found['id']}: {update!r}")
    _wait(lambda: all(any(m["body"] == update for m in demo.handset(p)) for p in reporters),
          timeout=30)
    _wait(demo.idle)
    counts = [sum(m["body"] == update for m in demo.handset(p)) for p in reporters]
    demo.echo(f"  💬 the update reaches all {len(reporters)} reporters, paced a second apart; "
              f"texts each: {counts}")


SCENES: list[Callable[[Demo], None]] = [
    scene_new_customer, scene_burst, scene_agent_reply, scene_failed_delivery, scene_stop,
    scene_escalation, scene_outage,
]


@click.command()
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Keep the demo's SQLite file here (default: a temporary folder).")
@click.option("--helpdesk", type=click.Choice(sorted(HELPDESK_STANDINS)), default="zendesk",
              show_default=True, help="The sandbox helpdesk the story runs in.")
@click.option("--verbose", is_flag=True, help="Show the connector's JSON logs too.")
def demo(workdir: str | None, helpdesk: str, verbose: bool) -> None:
    """Run the whole story against the sandbox: no accounts needed."""
    if verbose:
        from connector.logs import configure_logging

        configure_logging("INFO")
    else:
        logging.getLogger().setLevel(logging.ERROR)
    if workdir:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        Demo(Path(workdir), click.echo, helpdesk).run()
    else:
        with tempfile.TemporaryDirectory(prefix="sms-connector-demo-") as tmp:
            Demo(Path(tmp), click.echo, helpdesk).run()


commands = [demo]
