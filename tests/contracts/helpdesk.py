"""The contract every helpdesk adapter keeps (the ``connector.ports.Helpdesk`` port), run against
the helpdesk's stand-in.

A helpdesk's test module subclasses :class:`HelpdeskContract` (model: huey's
``tests/test_storage.py``, one suite every storage runs, and anymail's ``tests/webhook_cases.py``)
and implements the hooks: start its stand-in, build the adapter for it, and act on the stand-in as
its people and its faults would (an agent replies or moves a ticket on, a write commits but its
answer is lost, the account's rate budget is spent, a delivery is signed). Every test below then
speaks only the core's words:

- one requester per phone number, however often it is ensured;
- a ticket is created once: an answer lost right after the call, or long after (the adapter's
  short-lived idempotency, then its reconciliation), is resumed, never repeated; an attempt that
  never landed resumes as None and creates nothing;
- ``expected_version`` refuses an update that raced a concurrent change (StaleUpdate, nothing
  written); a lost update is found by ``resume_update``; a closed ticket refuses every write;
- states move new/open → pending → solved → open (reopen) → closed in core words; a closed or
  solved ticket is followed by a new one;
- comments come newest first in one call, authors classified (customer, agent, the connector),
  private notes private, attachments round-trip within the limits asked;
- a 429 raises RateLimited with its retry_after, tells the budget, and nobody sleeps;
- the "an agent replied" webhook: a genuine delivery verifies, a wrong, tampered, stale, future,
  missing or non-ASCII signature does not (False, never an exception), and the ticket id is read.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.helpdesk import HELPDESKS, HelpdeskAdapter
from connector.errors import (
    MediaUnavailable,
    RateLimited,
    StaleUpdate,
    TicketClosed,
    TransientError,
    WebhookRejected,
)
from connector.model import (
    AUTHOR_AGENT,
    AUTHOR_CONNECTOR,
    AUTHOR_CUSTOMER,
    AUTHORS,
    EVENT_REPLY,
    EVENT_STATE,
    PRIORITY_HIGH,
    TICKET_CLOSED,
    TICKET_NEW,
    TICKET_OPEN,
    TICKET_PENDING,
    TICKET_SOLVED,
    TICKET_STATES,
    NewTicket,
    Ticket,
    TicketUpdate,
    iso_epoch,
)
from connector.ports import Helpdesk
from connector.webhooks import WebhookRequest
from tests.contracts import StandInSuite

CUSTOMER = "+12025550142"
OTHER = "+12025550143"
KNOWN = "+12025550144"  # a number a customer already owns in the helpdesk
URL = "https://connector.example.com"
SECRET = "contract-signing-secret"
PNG = b"\x89PNG\r\n\x1a\n helpdesk contract"


class RecordingBudget:
    """A rate budget that never refuses and remembers what the adapter told it."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None]] = []
        self.paused: list[tuple[str, float, str | None]] = []

    def before_call(self, endpoint_class: str, key: str | None = None) -> None:
        self.asked.append((endpoint_class, key))

    def record_retry_after(self, endpoint_class: str, seconds: float,
                           key: str | None = None) -> None:
        self.paused.append((endpoint_class, seconds, key))


class HelpdeskContract(StandInSuite):
    """Subclass as ``Test<Helpdesk>Contract`` and implement the hooks below."""

    kind: str = ""
    # The header carrying the webhook signature (tests tamper with it).
    signature_header: str = ""
    # The signature covers the body and a timestamp (Zendesk's HMAC). False for a helpdesk that
    # only sends a shared secret in a header it was told to (Freshdesk does not sign): then a
    # changed body or an old delivery cannot be told from a genuine one, and is not tested.
    signs_body: bool = True
    # The helpdesk refuses a write that raced a change (a version to compare, Zendesk's
    # safe_update). False when it cannot (Freshdesk has no conditional write): the adapter then
    # writes without comparing, and the connector learns state changes from the helpdesk's
    # "ticket status changed" deliveries (``webhook_event`` → EVENT_STATE).
    versioned_updates: bool = True

    # -- hooks --------------------------------------------------------------------------------

    def make_helpdesk(self, world: Any, *, budget: RecordingBudget | None = None) -> Helpdesk:
        """The adapter, configured for the stand-in, asking ``budget`` before each call."""
        raise NotImplementedError

    def reply_as_agent(self, world: Any, ticket_id: int, body: str, *,
                       public: bool = True) -> None:
        """An agent writes on the ticket in the helpdesk's own UI."""
        raise NotImplementedError

    def move_ticket(self, world: Any, ticket_id: int, state: str) -> None:
        """The ticket moves on as agents and time move it (``TICKET_PENDING / SOLVED /
        CLOSED``), outside the connector."""
        raise NotImplementedError

    def change_concurrently(self, world: Any, ticket_id: int) -> None:
        """Someone else changes the ticket now, so that its version is no longer the one the
        connector last saw (let the stand-in's clock move on if its versions need it)."""
        raise NotImplementedError

    def tickets_of(self, world: Any, requester_id: int) -> list[int]:
        """The ids of every ticket the stand-in holds for this requester."""
        raise NotImplementedError

    def people_with_phone(self, world: Any, phone: str) -> int:
        """How many people the stand-in holds for this phone number."""
        raise NotImplementedError

    def add_person_with_phone(self, world: Any, phone: str, name: str) -> int:
        """The helpdesk gets a customer who already owns this number (added by hand, or a
        caller its phone channel created), not through the connector; their id."""
        raise NotImplementedError

    def lose_next_answer(self, world: Any) -> None:
        """The next write takes effect, then its answer is lost (the connection drops)."""
        raise NotImplementedError

    def spend_rate_limit(self, world: Any) -> None:
        """Spend the account's rate budget: the next API call answers 429."""
        raise NotImplementedError

    def signed_headers(self, body: bytes, secret: str, at: datetime) -> dict[str, str]:
        """The headers the helpdesk sends with a webhook ``body`` signed with ``secret`` at
        ``at`` (written from the vendor's documentation, not the adapter's code)."""
        raise NotImplementedError

    def webhook_body(self, ticket_id: int) -> bytes:
        """What the connector's installed rule posts when an agent replies on ``ticket_id``."""
        raise NotImplementedError

    def state_webhook_body(self, ticket_id: int) -> bytes | None:
        """What the installed rule posts when ``ticket_id``'s status changes; None when the
        helpdesk needs no such rule (its writes answer with the ticket's state)."""
        return None

    def add_group(self, world: Any, name: str) -> None:
        """An admin adds a group (a team) called ``name`` in the helpdesk."""
        raise NotImplementedError

    def group_of(self, world: Any, ticket_id: int) -> str | None:
        """The name of the group the ticket is assigned to, as the stand-in holds it."""
        raise NotImplementedError

    def adapter_class(self) -> type[HelpdeskAdapter]:
        """The adapter's class: its webhook checks are class methods (no instance, no network)."""
        return HELPDESKS[self.kind]

    # -- the suite ----------------------------------------------------------------------------

    @pytest.fixture
    def helpdesk(self, world: Any) -> Helpdesk:
        return self.make_helpdesk(world)

    @pytest.fixture
    def requester(self, helpdesk: Helpdesk) -> int:
        return helpdesk.ensure_requester(CUSTOMER).id

    @staticmethod
    def new(requester: int, *, attempted_at: float | None = None, **kw: Any) -> NewTicket:
        args: dict[str, Any] = {
            "requester_id": requester, "subject": "SMS from a customer: my order",
            "body": "my order #4411 never came", "key": uuid.uuid4().hex,
            "attempted_at": time.time() if attempted_at is None else attempted_at,
            "priority": PRIORITY_HIGH, "tags": ("sms", "sms_order"), **kw}
        return NewTicket(**args)

    @staticmethod
    def texts(requester: int, body: str, **kw: Any) -> TicketUpdate:
        return TicketUpdate(body=body, author_id=requester, **kw)

    def filed(self, helpdesk: Helpdesk, requester: int, **kw: Any) -> Ticket:
        ticket, replayed = helpdesk.create_ticket(self.new(requester, **kw))
        assert replayed is False
        return ticket

    # escalating: owner group by name, solving

    def test_an_update_moves_the_ticket_to_a_group_by_its_name(
            self, world: Any, helpdesk: Helpdesk, requester: int) -> None:
        self.add_group(world, "Billing Team")
        ticket = self.filed(helpdesk, requester)
        assert helpdesk.knows_group("billing  team")  # case and spacing aside
        helpdesk.update(ticket.id, TicketUpdate(group="Billing Team", priority="urgent",
                                                add_tags=("sms_escalated",)))
        assert self.group_of(world, ticket.id) == "Billing Team"
        got = helpdesk.get_ticket(ticket.id)
        assert got.priority == "urgent" and "sms_escalated" in got.tags

    def test_an_unknown_group_is_left_out_and_the_rest_is_written(
            self, world: Any, helpdesk: Helpdesk, requester: int) -> None:
        ticket = self.filed(helpdesk, requester)
        assert not helpdesk.knows_group("No Such Team")
        helpdesk.update(ticket.id, TicketUpdate(group="No Such Team", priority="urgent",
                                                add_tags=("sms_escalated",)))
        got = helpdesk.get_ticket(ticket.id)
        assert got.priority == "urgent" and "sms_escalated" in got.tags
        assert self.group_of(world, ticket.id) != "No Such Team"

    def test_solve_sets_the_ticket_solved(self, world: Any, helpdesk: Helpdesk,
                                          requester: int) -> None:
        ticket = self.filed(helpdesk, requester)
        helpdesk.update(ticket.id, TicketUpdate(solve=True))
        assert helpdesk.get_ticket(ticket.id).state == TICKET_SOLVED

    # registry and people

    def test_registered_under_its_kind_as_the_port(self, helpdesk: Helpdesk) -> None:
        assert HELPDESKS[self.kind] is type(helpdesk)
        assert isinstance(helpdesk, Helpdesk)

    def test_one_requester_per_phone(self, world: Any, helpdesk: Helpdesk) -> None:
        first = helpdesk.ensure_requester(CUSTOMER)
        again = helpdesk.ensure_requester(CUSTOMER, name="SMS " + CUSTOMER)
        other = helpdesk.ensure_requester(OTHER)
        assert first.id == again.id != other.id
        assert first.kind == AUTHOR_CUSTOMER
        assert self.people_with_phone(world, CUSTOMER) == 1

    def test_a_number_someone_already_owns_gets_that_person(self, world: Any,
                                                            helpdesk: Helpdesk) -> None:
        owner = self.add_person_with_phone(world, KNOWN, "Pat Caller")
        user = helpdesk.ensure_requester(KNOWN, name="SMS " + KNOWN)
        assert (user.id, user.kind, user.name) == (owner, AUTHOR_CUSTOMER, "Pat Caller")
        assert helpdesk.ensure_requester(KNOWN).id == owner
        assert self.people_with_phone(world, KNOWN) == 1  # no duplicate customer

    # creating exactly once

    def test_new_ticket_in_the_core_s_words(self, world: Any, helpdesk: Helpdesk,
                                            requester: int) -> None:
        ticket = self.filed(helpdesk, requester)
        assert ticket.state in (TICKET_NEW, TICKET_OPEN)
        assert ticket.requester_id == requester and ticket.priority == PRIORITY_HIGH
        assert {"sms", "sms_order"} <= set(ticket.tags)
        assert ticket.version is not None and iso_epoch(ticket.updated_at) is not None
        assert self.tickets_of(world, requester) == [ticket.id]
        [first] = helpdesk.list_comments(ticket.id)
        assert (first.author, first.author_id, first.public) == (AUTHOR_CUSTOMER, requester, True)
        assert first.body.startswith("my order #4411 never came")

    def test_a_creation_whose_answer_was_lost_is_resumed_not_repeated(
            self, world: Any, helpdesk: Helpdesk, requester: int) -> None:
        new = self.new(requester)
        self.lose_next_answer(world)
        with pytest.raises(TransientError):
            helpdesk.create_ticket(new)
        ticket = helpdesk.resume_create(new)
        assert ticket is not None
        again = helpdesk.resume_create(new)  # and again: still that one
        assert again is not None and again.id == ticket.id
        assert self.tickets_of(world, requester) == [ticket.id]

    def test_a_creation_lost_long_ago_is_found_not_repeated(
            self, world: Any, helpdesk: Helpdesk, requester: int) -> None:
        new = self.new(requester, attempted_at=time.time() - 3 * 3600)
        self.lose_next_answer(world)
        with pytest.raises(TransientError):
            helpdesk.create_ticket(new)
        ticket = helpdesk.resume_create(new)
        assert ticket is not None and ticket.requester_id == requester
        assert self.tickets_of(world, requester) == [ticket.id]

    def test_a_creation_that_never_landed_resumes_as_none(
            self, world: Any, helpdesk: Helpdesk, requester: int) -> None:
        self.filed(helpdesk, requester)  # another ticket of the customer is not it
        before = self.tickets_of(world, requester)
        assert helpdesk.resume_create(self.new(requester,
                                               attempted_at=time.time() - 3 * 3600)) is None
        assert self.tickets_of(world, requester) == before

    def test_a_recent_creation_that_never_landed_is_made_at_most_once(
            self, world: Any, helpdesk: Helpdesk, requester: int) -> None:
        new = self.new(requester)
        resumed = helpdesk.resume_create(new)
        expected = [] if resumed is None else [resumed.id]
        assert self.tickets_of(world, requester) == expected
        if resumed is not None:  # then the key stays bound to that ticket
            again = helpdesk.resume_create(new)
            assert again is not None and again.id == resumed.id
            assert self.tickets_of(world, requester) == expected

    # updating

    def test_an_update_that_raced_a_change_is_stale_and_writes_nothing(
            self, world: Any, helpdesk: Helpdesk, requester: int) -> None:
        if not self.versioned_updates:
            pytest.skip("the helpdesk has no conditional write; states arrive by webhook")
        ticket = self.filed(helpdesk, requester)
        self.change_concurrently(world, ticket.id)
        before = [c.id for c in helpdesk.list_comments(ticket.id)]
        with pytest.raises(StaleUpdate):
            helpdesk.update(ticket.id, self.texts(requester, "second text",
                                                  expected_version=ticket.version))
        assert [c.id for c in helpdesk.list_comments(ticket.id)] == before
        fresh = helpdesk.get_ticket(ticket.id)
        assert fresh.version != ticket.version
        updated = helpdesk.update(ticket.id, self.texts(requester, "second text",
                                                        expected_version=fresh.version))
        newest = helpdesk.list_comments(ticket.id)[0]
        assert (newest.body, newest.author, newest.author_id) == ("second text", AUTHOR_CUSTOMER,
                                                                  requester)
        assert updated.id == ticket.id and newest.public

    def test_a_lost_update_is_found_not_written_twice(
            self, world: Any, helpdesk: Helpdesk, requester: int) -> None:
        ticket = self.filed(helpdesk, requester)
        update = self.texts(requester, "order 55812", expected_version=ticket.version)
        self.lose_next_answer(world)
        with pytest.raises(TransientError):
            helpdesk.update(ticket.id, update)
        landed = helpdesk.resume_update(ticket.id, update)
        assert landed is not None and landed.id == ticket.id
        bodies = [c.body for c in helpdesk.list_comments(ticket.id)]
        assert bodies.count("order 55812") == 1
        assert helpdesk.resume_update(ticket.id, self.texts(requester, "never sent")) is None

    def test_a_closed_ticket_refuses_every_write(self, world: Any, helpdesk: Helpdesk,
                                                 requester: int) -> None:
        if not self.versioned_updates:
            pytest.skip("the helpdesk writes on closed tickets; states arrive by webhook")
        ticket = self.filed(helpdesk, requester)
        self.move_ticket(world, ticket.id, TICKET_CLOSED)
        assert helpdesk.get_ticket(ticket.id).state == TICKET_CLOSED
        with pytest.raises(TicketClosed):
            helpdesk.update(ticket.id, self.texts(requester, "hello again"))
        with pytest.raises(TicketClosed):
            helpdesk.add_private_note(ticket.id, "delivery failed")

    def test_states_move_in_the_core_s_words(self, world: Any, helpdesk: Helpdesk,
                                             requester: int) -> None:
        ticket = self.filed(helpdesk, requester)
        seen = [ticket.state]
        for state in (TICKET_PENDING, TICKET_SOLVED):
            self.move_ticket(world, ticket.id, state)
            seen.append(helpdesk.get_ticket(ticket.id).state)
        reopened = helpdesk.update(ticket.id, self.texts(requester, "one more thing",
                                                         reopen=True))
        seen.append(reopened.state)
        self.move_ticket(world, ticket.id, TICKET_CLOSED)
        seen.append(helpdesk.get_ticket(ticket.id).state)
        assert set(seen) <= TICKET_STATES
        assert seen[1:] == [TICKET_PENDING, TICKET_SOLVED, TICKET_OPEN, TICKET_CLOSED]

    @pytest.mark.parametrize("state", [TICKET_CLOSED, TICKET_SOLVED])
    def test_a_finished_ticket_is_followed_by_a_new_one(
            self, world: Any, helpdesk: Helpdesk, requester: int, state: str) -> None:
        old = self.filed(helpdesk, requester)
        self.move_ticket(world, old.id, state)
        new = self.filed(helpdesk, requester, body="hello again", follows=old.id,
                         follows_state=state)
        assert new.id != old.id and new.state in (TICKET_NEW, TICKET_OPEN)
        assert sorted(self.tickets_of(world, requester)) == sorted([old.id, new.id])
        assert helpdesk.list_comments(new.id)[-1].body.startswith("hello again")

    # comments

    def test_authors_are_classified_newest_first(self, world: Any, helpdesk: Helpdesk,
                                                 requester: int) -> None:
        ticket = self.filed(helpdesk, requester)
        helpdesk.add_private_note(ticket.id, "[SMS connector] delivery failed")
        self.reply_as_agent(world, ticket.id, "Your order shipped today.")
        self.reply_as_agent(world, ticket.id, "VIP, expedite", public=False)
        helpdesk.update(ticket.id, self.texts(requester, "thanks!"))
        comments = helpdesk.list_comments(ticket.id)
        assert [(c.body, c.author, c.public) for c in comments] == [
            ("thanks!", AUTHOR_CUSTOMER, True),
            ("VIP, expedite", AUTHOR_AGENT, False),
            ("Your order shipped today.", AUTHOR_AGENT, True),
            ("[SMS connector] delivery failed", AUTHOR_CONNECTOR, False),
            (comments[-1].body, AUTHOR_CUSTOMER, True),
        ]
        assert all(c.author in AUTHORS for c in comments)
        # The connector writes through the API; an agent in the helpdesk's UI does not.
        assert comments[0].from_integration and comments[3].from_integration
        assert not comments[2].from_integration
        stamps = [iso_epoch(c.created_at) or 0.0 for c in comments]
        assert 0.0 not in stamps and stamps == sorted(stamps, reverse=True)

    def test_comments_are_one_call(self, helpdesk: Helpdesk, requester: int) -> None:
        ticket = self.filed(helpdesk, requester)
        helpdesk.add_private_note(ticket.id, "a note")
        helpdesk.list_comments(ticket.id)  # may learn who the connector is, once
        before = helpdesk.calls["total"]
        helpdesk.list_comments(ticket.id)
        assert helpdesk.calls["total"] == before + 1

    def test_attachments_round_trip_within_the_limits_asked(
            self, helpdesk: Helpdesk, requester: int) -> None:
        ticket = self.filed(helpdesk, requester)
        token = helpdesk.upload("label.png", PNG, "image/png")
        helpdesk.update(ticket.id, self.texts(requester, "photo attached", uploads=(token,)))
        newest = helpdesk.list_comments(ticket.id)[0]
        [attachment] = newest.attachments
        assert (attachment.name, attachment.content_type) == ("label.png", "image/png")
        assert attachment.size in (None, len(PNG))
        assert helpdesk.download_attachment(attachment, max_bytes=1024,
                                            allowed_types=["image/png"]) == (PNG, "image/png")
        with pytest.raises(MediaUnavailable):
            helpdesk.download_attachment(attachment, max_bytes=8, allowed_types=["image/png"])
        with pytest.raises(MediaUnavailable):
            helpdesk.download_attachment(attachment, max_bytes=1024,
                                         allowed_types=["image/jpeg"])

    # rate limits

    def test_429_is_rate_limited_the_budget_told_and_nobody_sleeps(
            self, world: Any, requester: int) -> None:
        budget = RecordingBudget()
        helpdesk = self.make_helpdesk(world, budget=budget)
        ticket = self.filed(helpdesk, requester)
        self.spend_rate_limit(world)
        started = time.monotonic()
        with pytest.raises(RateLimited) as caught:
            helpdesk.get_ticket(ticket.id)
        elapsed = time.monotonic() - started
        retry_after = caught.value.retry_after
        assert retry_after is not None and retry_after >= 1.0
        assert elapsed < min(1.0, retry_after)  # it raised at once: the worker reschedules
        assert [seconds for _cls, seconds, _key in budget.paused] == [retry_after]
        assert budget.asked  # and it was asked before every call

    # the "an agent replied" webhook

    def delivery(self, body: bytes, headers: dict[str, str]) -> WebhookRequest:
        return WebhookRequest(url=f"{URL}/webhooks/helpdesk/{self.kind}",
                              headers={"Content-Type": "application/json", **headers},
                              raw_body=body, content_type="application/json")

    def test_a_genuine_delivery_verifies_and_names_its_ticket(self) -> None:
        adapter = self.adapter_class()
        body = self.webhook_body(35436)
        request = self.delivery(body, self.signed_headers(body, SECRET, datetime.now(UTC)))
        assert adapter.verify_webhook(request, SECRET) is True
        assert adapter.webhook_ticket_id(request) == 35436

    @pytest.mark.parametrize("case", ["wrong_secret", "tampered", "stale", "future", "missing",
                                      "empty", "non_ascii", "no_secret"])
    def test_a_bad_stale_or_non_ascii_signature_is_refused(self, case: str) -> None:
        adapter = self.adapter_class()
        body = self.webhook_body(35436)
        now = datetime.now(UTC)
        headers = self.signed_headers(body, SECRET, now)
        secret = SECRET
        if not self.signs_body and case in ("tampered", "stale", "future"):
            pytest.skip("a shared secret header covers neither the body nor the time")
        if case == "wrong_secret":
            headers = self.signed_headers(body, "another-secret", now)
        elif case == "tampered":
            body = self.webhook_body(35437)
        elif case == "stale":
            headers = self.signed_headers(body, SECRET, now - timedelta(hours=1))
        elif case == "future":
            headers = self.signed_headers(body, SECRET, now + timedelta(hours=1))
        elif case in ("missing", "empty", "non_ascii"):
            headers = {k: v for k, v in headers.items()
                       if k.lower() != self.signature_header.lower()}
            if case != "missing":
                # Headers reach the adapter as latin-1 text.
                headers[self.signature_header] = "" if case == "empty" else "\u00e9" * 44
        else:
            secret = ""
        assert adapter.verify_webhook(self.delivery(body, headers), secret) is False

    def test_a_status_change_is_told_from_a_reply(self) -> None:
        adapter = self.adapter_class()
        reply = self.webhook_body(35436)
        signed = self.signed_headers(reply, SECRET, datetime.now(UTC))
        assert adapter.webhook_event(self.delivery(reply, signed)) == EVENT_REPLY
        state = self.state_webhook_body(35436)
        if state is None:
            return
        request = self.delivery(state, self.signed_headers(state, SECRET, datetime.now(UTC)))
        assert adapter.verify_webhook(request, SECRET) is True
        assert adapter.webhook_event(request) == EVENT_STATE
        assert adapter.webhook_ticket_id(request) == 35436

    @pytest.mark.parametrize("body", [b"not json", b"[]", b"{}", b"\xff\xfe"])
    def test_a_delivery_without_a_ticket_is_400(self, body: bytes) -> None:
        adapter = self.adapter_class()
        request = self.delivery(body, self.signed_headers(body, SECRET, datetime.now(UTC)))
        with pytest.raises(WebhookRejected) as caught:
            adapter.webhook_ticket_id(request)
        assert caught.value.status == 400
