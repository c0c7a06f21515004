"""Freshdesk keeps the helpdesk contract, against the sandbox's Freshdesk stand-in."""

from __future__ import annotations

import dataclasses
import hmac
import inspect
import json
import time
from datetime import datetime
from typing import Any

import pytest
import requests

from adapters.helpdesk.freshdesk import SECRET_HEADER, FreshdeskClient
from connector.errors import RateLimited, TransientError
from connector.model import (
    AUTHOR_AGENT,
    AUTHOR_CUSTOMER,
    TICKET_CLOSED,
    TICKET_PENDING,
    TICKET_SOLVED,
    Comment,
    NewTicket,
    Ticket,
    TicketUpdate,
)
from connector.sandbox.runner import Sandbox, start_sandbox
from connector.sandbox.stack import FRESHDESK_KEY
from connector.webhooks import WebhookRequest
from tests.contracts.helpdesk import CUSTOMER, HelpdeskContract, RecordingBudget

STATUSES = {TICKET_PENDING: 3, TICKET_SOLVED: 4, TICKET_CLOSED: 5}
MOBILE_OWNER = "+12025550145"


def _post(url: str, payload: dict[str, Any]) -> Any:
    response = requests.post(url, json=payload, timeout=10)
    response.raise_for_status()
    return response.json()


class TestFreshdeskContract(HelpdeskContract):
    kind = "freshdesk"
    signature_header = SECRET_HEADER
    signs_body = False  # a shared secret in a custom header: Freshdesk signs nothing
    versioned_updates = False  # no conditional write; the status rule keeps states fresh

    def start(self) -> Sandbox:
        return start_sandbox(helpdesk="freshdesk", helpdesk_port=0, twilio_port=0)

    def stop(self, world: Sandbox) -> None:
        world.stop()

    def make_helpdesk(self, world: Sandbox, *,
                      budget: RecordingBudget | None = None) -> FreshdeskClient:
        return FreshdeskClient(world.freshdesk_url, FRESHDESK_KEY, budget=budget)

    def reply_as_agent(self, world: Sandbox, ticket_id: int, body: str, *,
                       public: bool = True) -> None:
        _post(world.freshdesk_url + "/_sandbox/agent_reply",
              {"ticket_id": ticket_id, "body": body, "public": public})

    def move_ticket(self, world: Sandbox, ticket_id: int, state: str) -> None:
        _post(f"{world.freshdesk_url}/_sandbox/tickets/{ticket_id}/status",
              {"status": STATUSES[state]})

    def change_concurrently(self, world: Sandbox, ticket_id: int) -> None:
        self.reply_as_agent(world, ticket_id, "customer is VIP", public=False)

    def add_group(self, world: Sandbox, name: str) -> None:
        with world.helpdesk.lock:
            world.helpdesk.admin.save_group({"name": name})

    def group_of(self, world: Sandbox, ticket_id: int) -> str | None:
        [ticket] = [t for t in self._state(world)["tickets"] if t["id"] == ticket_id]
        gid = ticket.get("group_id")
        with world.helpdesk.lock:
            return None if gid is None else str(world.helpdesk.admin.groups[gid]["name"])

    def _state(self, world: Sandbox) -> dict[str, Any]:
        state: dict[str, Any] = requests.get(world.freshdesk_url + "/_sandbox/state",
                                             timeout=10).json()
        return state

    def tickets_of(self, world: Sandbox, requester_id: int) -> list[int]:
        return [t["id"] for t in self._state(world)["tickets"]
                if t["requester_id"] == requester_id and not t["deleted"]]

    def people_with_phone(self, world: Sandbox, phone: str) -> int:
        return sum(1 for c in self._state(world)["contacts"]
                   if phone in (c.get("phone"), c.get("mobile")) and not c.get("deleted"))

    def add_person_with_phone(self, world: Sandbox, phone: str, name: str) -> int:
        # As an agent adds a customer by hand, their work phone filled in.
        return int(_post(world.freshdesk_url + "/_sandbox/contacts",
                         {"name": name, "phone": phone})["id"])

    def lose_next_answer(self, world: Sandbox) -> None:
        world.helpdesk_controls.update({"drop_after_commit": 1, "drop_paths": None})

    def spend_rate_limit(self, world: Sandbox) -> None:
        world.helpdesk_controls.update({"per_minute": 1})
        requests.get(world.freshdesk_url + "/api/v2/agents/me", timeout=10,
                     auth=(FRESHDESK_KEY, "X"))  # the one call left

    def signed_headers(self, body: bytes, secret: str, at: datetime) -> dict[str, str]:
        # The custom header the installed rules send (the plan's fixed words; Freshdesk's
        # trigger_webhook action, custom_headers).
        return {SECRET_HEADER: secret, "User-Agent": "Freshdesk"}

    def webhook_body(self, ticket_id: int) -> bytes:
        # The agent-reply rule's content, {{ticket.id}} rendered (mappings/freshdesk.py).
        return json.dumps({"ticket_id": str(ticket_id), "event": "reply_sent"}).encode()

    def state_webhook_body(self, ticket_id: int) -> bytes | None:
        return json.dumps({"ticket_id": str(ticket_id), "event": "status"}).encode()

    # -- what only Freshdesk needs ----------------------------------------------------------

    def test_with_match_mobile_a_number_saved_as_mobile_gets_that_person(
            self, world: Sandbox) -> None:
        helpdesk = FreshdeskClient(world.freshdesk_url, FRESHDESK_KEY, match_mobile=True)
        owner = int(_post(world.freshdesk_url + "/_sandbox/contacts",
                          {"name": "Mo Bile", "mobile": MOBILE_OWNER})["id"])
        user = helpdesk.ensure_requester(MOBILE_OWNER, name="SMS " + MOBILE_OWNER)
        assert (user.id, user.name) == (owner, "Mo Bile")
        assert self.people_with_phone(world, MOBILE_OWNER) == 1
        assert helpdesk.calls["find_requester"] == 2

    def test_a_new_customer_is_one_lookup_one_contact_one_ticket(
            self, world: Sandbox, helpdesk: FreshdeskClient) -> None:
        # Without match_mobile the number is looked up as Freshdesk matches it: phone only.
        user = helpdesk.ensure_requester(MOBILE_OWNER, name="SMS " + MOBILE_OWNER)
        helpdesk.create_ticket(self.new(user.id))
        assert helpdesk.calls["total"] == 3
        assert self.people_with_phone(world, MOBILE_OWNER) == 1

    def test_a_new_ticket_carries_source_status_tags_and_an_escaped_body(
            self, world: Sandbox, requester: int) -> None:
        helpdesk = FreshdeskClient(world.freshdesk_url, FRESHDESK_KEY, source=101)
        new = self.new(requester, body="a < b & <script>x</script>\nline two")
        ticket, _ = helpdesk.create_ticket(new)
        [raw] = [t for t in self._state(world)["tickets"] if t["id"] == ticket.id]
        assert (raw["source"], raw["status"], raw["priority"]) == (101, 2, 3)
        assert {"sms", "sms_order", "smsc-" + new.key[:20]} <= set(raw["tags"])
        assert "<script>" not in raw["description"]
        [first] = helpdesk.list_comments(ticket.id)
        assert first.body.startswith("a < b & <script>x</script>")

    def test_a_follow_up_is_one_public_incoming_note_by_the_requester(
            self, world: Sandbox, helpdesk: FreshdeskClient, requester: int) -> None:
        ticket = self.filed(helpdesk, requester)
        before = helpdesk.calls["total"]
        helpdesk.update(ticket.id, self.texts(requester, "also: error 502"))
        assert helpdesk.calls["total"] == before + 1
        [raw] = [t for t in self._state(world)["tickets"] if t["id"] == ticket.id]
        [note] = raw["conversations"]
        assert (note["private"], note["incoming"], note["user_id"], note["source"]) == (
            False, True, requester, 2)

    def test_an_agent_reply_is_texted_and_the_customer_s_note_is_not(
            self, world: Sandbox, helpdesk: FreshdeskClient, requester: int) -> None:
        ticket = self.filed(helpdesk, requester)
        helpdesk.update(ticket.id, self.texts(requester, "hello? anyone?"))
        self.reply_as_agent(world, ticket.id, "On it.")
        picked = [c for c in helpdesk.list_comments(ticket.id)
                  if c.public and c.author == AUTHOR_AGENT and not c.from_integration]
        assert [c.body for c in picked] == ["On it."]

    def test_an_agent_s_public_note_is_not_texted(
            self, world: Sandbox, helpdesk: FreshdeskClient, requester: int) -> None:
        # A public note is shown in the portal, never sent: only a Reply reaches the customer.
        from connector.pipeline.agent_reply import pick_replies

        ticket = self.filed(helpdesk, requester)
        response = requests.post(f"{world.freshdesk_url}/api/v2/tickets/{ticket.id}/notes",
                                 json={"body": "<p>Checked the warehouse</p>", "private": False},
                                 auth=(FRESHDESK_KEY, "X"), timeout=10)
        assert response.status_code == 201, response.text
        self.reply_as_agent(world, ticket.id, "It ships today.")
        comments = helpdesk.list_comments(ticket.id)
        [note] = [c for c in comments if c.body.strip() == "Checked the warehouse"]
        assert (note.author, note.public) == (AUTHOR_AGENT, False)
        assert [c.body for c in pick_replies(comments, cutoff=0.0)] == ["It ships today."]

    def test_attachments_on_a_new_ticket(self, world: Sandbox, helpdesk: FreshdeskClient,
                                         requester: int) -> None:
        token = helpdesk.upload("sms-SM1-1.png", b"\x89PNG first", "image/png")
        ticket = self.filed(helpdesk, requester, uploads=(token,))
        first: Comment = helpdesk.list_comments(ticket.id)[-1]
        assert first.author == AUTHOR_CUSTOMER
        [attachment] = first.attachments
        assert attachment.name == "sms-SM1-1.png"
        assert helpdesk.download_attachment(attachment, max_bytes=1024,
                                            allowed_types=["image/png"]) == (
            b"\x89PNG first", "image/png")

    def test_an_upload_lost_with_a_restart_still_delivers_the_text_once(
            self, world: Sandbox, helpdesk: FreshdeskClient, requester: int) -> None:
        ticket = self.filed(helpdesk, requester)
        token = helpdesk.upload("label.png", b"PNG", "image/png")
        restarted = self.make_helpdesk(world)  # a new worker: the token is not held here
        update = self.texts(requester, "photo attached", uploads=(token,))
        self.lose_next_answer(world)
        with pytest.raises(TransientError):  # the answer was dropped
            restarted.update(ticket.id, update)
        assert restarted.resume_update(ticket.id, update) is not None
        [note] = [c for c in restarted.list_comments(ticket.id) if c.id]
        assert note.body.startswith("photo attached") and "label.png" in note.body
        assert not note.attachments


# ---------------------------------------------------------------------- the contract can fail
#
# Each mutant below is the Freshdesk adapter with one mistake a real adapter could make; the
# contract test named beside it must fail on it (and passes on the real adapter above).


class _CreatesTwice(FreshdeskClient):
    def resume_create(self, new: NewTicket) -> Ticket | None:
        return self.create_ticket(dataclasses.replace(new, key=new.key + "-again"))[0]


class _NoMarker(FreshdeskClient):
    def resume_create(self, new: NewTicket) -> Ticket | None:
        return None


class _AnyNote(FreshdeskClient):
    def resume_update(self, ticket_id: int, update: TicketUpdate) -> Ticket | None:
        return None  # never looks: the lost note is written again


class _EveryoneIsTheConnector(FreshdeskClient):
    def _api_user_id(self) -> int:
        return -1  # forgets which agent it is


class _PhoneOnlyWithoutPlus(FreshdeskClient):
    def _phone_owner(self, phone_e164: str) -> dict[str, Any] | None:
        found = self._items("find_requester", "/contacts?phone=" + phone_e164, pages=1)
        return found[0] if found else None


class _SleepsOn429(FreshdeskClient):
    def get_ticket(self, ticket_id: int) -> Ticket:
        try:
            return super().get_ticket(ticket_id)
        except RateLimited:
            time.sleep(1.1)
            raise


class _NaiveCompare(FreshdeskClient):
    @classmethod
    def verify_webhook(cls, request: WebhookRequest, secret: str) -> bool:
        return hmac.compare_digest(request.header(SECRET_HEADER) or "", secret)


class _Mutant(TestFreshdeskContract):
    def __init__(self, adapter: type[FreshdeskClient]) -> None:
        self.adapter = adapter

    def make_helpdesk(self, world: Sandbox, *,
                      budget: RecordingBudget | None = None) -> FreshdeskClient:
        return self.adapter(world.freshdesk_url, FRESHDESK_KEY, budget=budget)

    def adapter_class(self) -> type[FreshdeskClient]:
        return self.adapter


@pytest.mark.parametrize(("adapter", "test", "params"), [
    (_CreatesTwice, "test_a_creation_whose_answer_was_lost_is_resumed_not_repeated", {}),
    (_NoMarker, "test_a_creation_lost_long_ago_is_found_not_repeated", {}),
    (_AnyNote, "test_a_lost_update_is_found_not_written_twice", {}),
    (_EveryoneIsTheConnector, "test_authors_are_classified_newest_first", {}),
    (_PhoneOnlyWithoutPlus, "test_a_number_someone_already_owns_gets_that_person", {}),
    (_SleepsOn429, "test_429_is_rate_limited_the_budget_told_and_nobody_sleeps", {}),
    (_NaiveCompare, "test_a_bad_stale_or_non_ascii_signature_is_refused", {"case": "non_ascii"}),
])
def test_the_contract_fails_a_broken_adapter(adapter: type[FreshdeskClient], test: str,
                                             params: dict[str, Any]) -> None:
    contract = _Mutant(adapter)
    method = getattr(contract, test)
    wanted = inspect.signature(method).parameters
    world = contract.start()
    try:
        helpdesk = contract.make_helpdesk(world)
        fixtures: dict[str, Any] = {"world": world, "helpdesk": helpdesk, **params}
        if "requester" in wanted:
            fixtures["requester"] = helpdesk.ensure_requester(CUSTOMER).id
        with pytest.raises((AssertionError, TypeError, pytest.fail.Exception)):
            method(**{name: value for name, value in fixtures.items() if name in wanted})
    finally:
        contract.stop(world)
