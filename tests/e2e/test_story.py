"""The product's story, end to end over real HTTP, for every (SMS provider, helpdesk) pair:
a customer texts, a triaged ticket appears and the customer gets the approved acknowledgement, a
second text lands on the same ticket, an agent's public reply reaches the handset, and a reply to
an unreachable number becomes a private note. The connector runs in its own process
(``sms-connector serve``), on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from connector.cli import cli
from connector.sandbox.stack import Stack, environment
from tests.echo import register, unregister

from .connector_process import connector_stack, idle, wait_for
from .drivers import HELPDESKS, PAIRS, SMS

pytestmark = pytest.mark.slow

ALICE = "+12025550142"
UNREACHABLE = "+12025553003"  # both stand-ins fail texts to …3003 after "sent"


@pytest.fixture(params=PAIRS, ids=["-".join(p) for p in PAIRS])
def story(request: pytest.FixtureRequest, tmp_path, stack_database) -> Iterator[Any]:
    sms_name, helpdesk_name = request.param
    register()  # Echo is known in this process too (config validation, policy apply)
    sms, helpdesk = SMS[sms_name](), HELPDESKS[helpdesk_name]()
    extra = sms.start()
    try:
        with connector_stack(tmp_path, database_url=stack_database, extra=extra,
                             command=sms.command, helpdesk=helpdesk_name) as stack:
            applied = CliRunner().invoke(cli, ["policy", "apply"],
                                         env=environment(stack.config), catch_exceptions=False)
            assert applied.exit_code == 0, applied.output
            yield stack, sms, helpdesk
    finally:
        sms.stop()
        unregister()


def settled(stack: Stack, sms: Any, helpdesk: Any) -> bool:
    helpdesk.flush(stack)
    sms.flush(stack)
    return idle(stack)


def test_the_story(story) -> None:
    stack, sms, helpdesk = story
    sms.text(stack, ALICE, "the app keeps crashing when i log in, pls help")
    [ticket] = wait_for(lambda: helpdesk.tickets(stack))
    assert {"sms", "sms_technical", "sms_p2"} <= set(ticket["tags"])
    ack = wait_for(lambda: sms.handset(stack, ALICE))
    assert len(ack) == 1 and "15 minutes" in ack[0]

    sms.text(stack, ALICE, "also it says error 502")
    wait_for(lambda: len(helpdesk.tickets(stack)[0]["comments"]) == 2)
    [same] = helpdesk.tickets(stack)
    assert same["id"] == ticket["id"] and same["comments"][1]["body"] == "also it says error 502"

    helpdesk.reply(stack, ticket["id"], "Sorry about that! Could you tell us your app version?")
    wait_for(lambda: len(sms.handset(stack, ALICE)) == 2)
    assert sms.handset(stack, ALICE)[1] == "Sorry about that! Could you tell us your app version?"
    wait_for(lambda: settled(stack, sms, helpdesk))
    assert len(sms.handset(stack, ALICE)) == 2  # nothing texted twice


def test_undelivered_reply_becomes_one_private_note(story) -> None:
    stack, sms, helpdesk = story
    sms.text(stack, UNREACHABLE, "where is my order")
    [ticket] = wait_for(lambda: helpdesk.tickets(stack))
    helpdesk.reply(stack, ticket["id"], "It ships tomorrow.")

    def notes() -> list[str]:
        [current] = helpdesk.tickets(stack)
        return [c["body"] for c in current["comments"]
                if not c["public"] and "not delivered" in c["body"]]

    found = wait_for(notes)
    wait_for(lambda: settled(stack, sms, helpdesk))
    assert any("Your reply was not delivered by text" in n for n in notes())
    assert len([n for n in notes() if "Your reply" in n]) == 1
    assert sms.handset(stack, UNREACHABLE) == []
    assert found
