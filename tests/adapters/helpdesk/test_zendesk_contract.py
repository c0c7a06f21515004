"""Zendesk keeps the helpdesk contract, against the sandbox's Zendesk stand-in."""

from __future__ import annotations

import dataclasses
import hmac
import inspect
import json
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from adapters.helpdesk.zendesk import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ZendeskClient,
    verify_zendesk,
)
from connector.errors import RateLimited
from connector.model import (
    TICKET_CLOSED,
    TICKET_PENDING,
    TICKET_SOLVED,
    NewTicket,
    Ticket,
    TicketUpdate,
)
from connector.sandbox.runner import Sandbox, start_sandbox
from connector.sandbox.signing import zendesk_signature, zendesk_timestamp
from connector.sandbox.stack import ZENDESK_EMAIL, ZENDESK_TOKEN
from connector.webhooks import WebhookRequest
from tests.contracts.helpdesk import CUSTOMER, HelpdeskContract, RecordingBudget

STATUSES = {TICKET_PENDING: "pending", TICKET_SOLVED: "solved", TICKET_CLOSED: "closed"}


def _post(url: str, payload: dict[str, Any]) -> Any:
    response = requests.post(url, json=payload, timeout=10)
    response.raise_for_status()
    return response.json()


class TestZendeskContract(HelpdeskContract):
    kind = "zendesk"
    signature_header = SIGNATURE_HEADER

    def start(self) -> Sandbox:
        return start_sandbox(zendesk_port=0, twilio_port=0)

    def stop(self, world: Sandbox) -> None:
        world.stop()

    def make_helpdesk(self, world: Sandbox, *,
                      budget: RecordingBudget | None = None) -> ZendeskClient:
        return ZendeskClient(world.zendesk_url, ZENDESK_EMAIL, ZENDESK_TOKEN, budget=budget)

    def reply_as_agent(self, world: Sandbox, ticket_id: int, body: str, *,
                       public: bool = True) -> None:
        _post(world.zendesk_url + "/_sandbox/agent_reply",
              {"ticket_id": ticket_id, "body": body, "public": public})

    def move_ticket(self, world: Sandbox, ticket_id: int, state: str) -> None:
        _post(f"{world.zendesk_url}/_sandbox/tickets/{ticket_id}/status",
              {"status": STATUSES[state]})

    def change_concurrently(self, world: Sandbox, ticket_id: int) -> None:
        # Zendesk's versions (updated_at) are whole seconds: two changes within one second share
        # one, so the stand-in's clock moves on before the agent writes.
        store = world.zendesk.store
        clock = store.clock
        store.clock = lambda: clock() + 2.0
        self.reply_as_agent(world, ticket_id, "customer is VIP", public=False)

    def add_group(self, world: Sandbox, name: str) -> None:
        with world.zendesk.store.lock:
            world.zendesk.admin.create_group({"group": {"name": name}})

    def group_of(self, world: Sandbox, ticket_id: int) -> str | None:
        with world.zendesk.store.lock:
            gid = world.zendesk.store.tickets[ticket_id]["group_id"]
            return None if gid is None else str(world.zendesk.admin.groups[gid]["name"])

    def _state(self, world: Sandbox) -> dict[str, Any]:
        state: dict[str, Any] = requests.get(world.zendesk_url + "/_sandbox/state",
                                             timeout=10).json()
        return state

    def tickets_of(self, world: Sandbox, requester_id: int) -> list[int]:
        return [t["id"] for t in self._state(world)["tickets"]
                if t["requester_id"] == requester_id]

    def people_with_phone(self, world: Sandbox, phone: str) -> int:
        return sum(1 for user in self._state(world)["users"]
                   if any(i.get("value") == phone for i in user["identities"]))

    def add_person_with_phone(self, world: Sandbox, phone: str, name: str) -> int:
        # As an agent adds a customer by hand: a phone identity, no external_id.
        response = requests.post(
            f"{world.zendesk_url}/api/v2/users/create_or_update", timeout=10,
            auth=(f"{ZENDESK_EMAIL}/token", ZENDESK_TOKEN),
            json={"user": {"name": name,
                           "identities": [{"type": "phone_number", "value": phone}]}})
        response.raise_for_status()
        return int(response.json()["user"]["id"])

    def lose_next_answer(self, world: Sandbox) -> None:
        world.zendesk_controls.update({"drop_after_commit": 1, "drop_paths": None})

    def spend_rate_limit(self, world: Sandbox) -> None:
        world.zendesk_controls.update({"per_minute": 1})
        requests.get(world.zendesk_url + "/api/v2/users/me", timeout=10)  # the one call left

    def signed_headers(self, body: bytes, secret: str, at: datetime) -> dict[str, str]:
        # https://developer.zendesk.com/documentation/webhooks/verifying/
        timestamp = zendesk_timestamp(at)
        return {TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: zendesk_signature(secret, timestamp, body)}

    def webhook_body(self, ticket_id: int) -> bytes:
        # The body of the trigger policy apply installs (mappings/zendesk.py).
        return json.dumps({"ticket_id": str(ticket_id)}).encode()


# ---------------------------------------------------------------------- the contract can fail
#
# Each mutant below is the Zendesk adapter with one mistake a real adapter could make; the
# contract test named beside it must fail on it (and passes on the real adapter above).


class _CreatesTwice(ZendeskClient):
    def resume_create(self, new: NewTicket) -> Ticket | None:
        return self.create_ticket(dataclasses.replace(new, key=new.key + "-again"))[0]


class _IgnoresTheVersion(ZendeskClient):
    def update(self, ticket_id: int, update: TicketUpdate) -> Ticket:
        return super().update(ticket_id, dataclasses.replace(update, expected_version=None))


class _ForgetsItsOwnUser(ZendeskClient):
    def _api_user_id(self) -> int:
        return -1


class _SleepsOn429(ZendeskClient):
    def get_ticket(self, ticket_id: int) -> Ticket:
        try:
            return super().get_ticket(ticket_id)
        except RateLimited:
            time.sleep(1.1)  # as zenpy does by default, only shorter
            raise


class _AnyTimestamp(ZendeskClient):
    @classmethod
    def verify_webhook(cls, request: WebhookRequest, secret: str) -> bool:
        return verify_zendesk(secret, request.header(TIMESTAMP_HEADER), request.body,
                              request.header(SIGNATURE_HEADER), tolerance=timedelta(days=1))


class _NaiveCompare(ZendeskClient):
    @classmethod
    def verify_webhook(cls, request: WebhookRequest, secret: str) -> bool:
        timestamp = request.header(TIMESTAMP_HEADER) or ""
        return hmac.compare_digest(zendesk_signature(secret, timestamp, request.body),
                                   request.header(SIGNATURE_HEADER) or "")


class _Mutant(TestZendeskContract):
    def __init__(self, adapter: type[ZendeskClient]) -> None:
        self.adapter = adapter

    def make_helpdesk(self, world: Sandbox, *,
                      budget: RecordingBudget | None = None) -> ZendeskClient:
        return self.adapter(world.zendesk_url, ZENDESK_EMAIL, ZENDESK_TOKEN, budget=budget)

    def adapter_class(self) -> type[ZendeskClient]:
        return self.adapter


@pytest.mark.parametrize(("adapter", "test", "params"), [
    (_CreatesTwice, "test_a_creation_whose_answer_was_lost_is_resumed_not_repeated", {}),
    (_IgnoresTheVersion, "test_an_update_that_raced_a_change_is_stale_and_writes_nothing", {}),
    (_ForgetsItsOwnUser, "test_authors_are_classified_newest_first", {}),
    (_SleepsOn429, "test_429_is_rate_limited_the_budget_told_and_nobody_sleeps", {}),
    (_AnyTimestamp, "test_a_bad_stale_or_non_ascii_signature_is_refused", {"case": "stale"}),
    (_NaiveCompare, "test_a_bad_stale_or_non_ascii_signature_is_refused", {"case": "non_ascii"}),
])
def test_the_contract_fails_a_broken_adapter(adapter: type[ZendeskClient], test: str,
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
