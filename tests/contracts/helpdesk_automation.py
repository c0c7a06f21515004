"""The contract every helpdesk automation adapter keeps (plan / apply / drift), run against the
helpdesk's stand-in.

A helpdesk's test module subclasses :class:`HelpdeskAutomationContract` (model: anymail's
``tests/webhook_cases.py`` and huey's ``tests/test_storage.py``) and implements the hooks: start
its stand-in, give the connector's settings for it, and act on the stand-in as an admin would by
hand (edit an owned rule, add rules of their own, leave a stale duplicate behind) and as an agent
would (reply, so the installed rules call the connector). Every test below then runs through the
vendor-free surface of ``connector.sync.policy`` with a runtime built from those settings:

- a plan of an empty helpdesk creates every desired object and writes nothing;
- apply, then plan: all keep (no drift); a second apply writes nothing;
- a hand edit of an owned object is drift (an update) and apply repairs it;
- objects without the ``[sms-connector]`` prefix are never in a plan and never changed;
- a stale duplicate of an owned object is deleted;
- the signing secret apply stores verifies what the helpdesk then delivers to
  ``/webhooks/helpdesk/<kind>``, and nothing else.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask, request

from adapters.helpdesk import HELPDESKS
from adapters.helpdesk.automation import AUTOMATIONS
from connector.config import settings_from_dict
from connector.runtime import Runtime
from connector.sandbox.common import SandboxServer
from connector.store import reading
from connector.sync.plan import CREATE, DELETE, KEEP, UPDATE
from connector.sync.policy import apply, automation_for, make_plan, webhook_secret
from connector.sync.port import HelpdeskAutomation
from connector.webhooks import WebhookRequest
from mappings.policy import Policy, load_policy
from tests.contracts import StandInSuite

OWNED_PREFIX = "[sms-connector]"


@dataclass
class Receiver:
    """Where the helpdesk's webhooks land: a loopback server that records every request."""

    requests: list[WebhookRequest] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    server: SandboxServer | None = None

    def start(self) -> Receiver:
        app = Flask("delivery-receiver")

        @app.post("/<path:path>")
        def receive(path: str) -> tuple[str, int]:
            delivered = WebhookRequest(url=self.url + "/" + path, headers=dict(request.headers),
                                       raw_body=request.get_data(),
                                       content_type=request.content_type or "")
            with self.arrived:
                self.requests.append(delivered)
                self.arrived.notify_all()
            return "", 200

        self.server = SandboxServer(app).start()
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def wait(self, count: int = 1, timeout: float = 10.0) -> list[WebhookRequest]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{count} deliveries expected, {len(self.requests)} came")
            return list(self.requests)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


class HelpdeskAutomationContract(StandInSuite):
    """Subclass as ``Test<Helpdesk>AutomationContract`` and implement the hooks below."""

    kind: str = ""
    # Whether the helpdesk signs its webhook deliveries (apply then returns the secret).
    signs: bool = True
    # The secret covers the body (an HMAC); False when it is only a header the rule sends.
    signs_body: bool = True

    # -- hooks --------------------------------------------------------------------------------

    def config(self, world: Any) -> dict[str, Any]:
        """The connector's ``helpdesk`` and ``[<kind>]`` settings for the stand-in."""
        raise NotImplementedError

    def write_calls(self, automation: HelpdeskAutomation) -> int:
        """How many writing API calls (create / update / delete) ``automation`` has made."""
        raise NotImplementedError

    def edit_owned_rule(self, world: Any) -> str:
        """Change the conditions of the owned rule that sends agent replies, by hand through
        the stand-in's API; its id."""
        raise NotImplementedError

    def add_foreign_objects(self, world: Any) -> None:
        """Objects of the account's own (no ``[sms-connector]`` prefix), some looking like ours:
        the same title without the prefix, the prefix not at the start, the same conditions."""
        raise NotImplementedError

    def foreign_objects(self, world: Any) -> Any:
        """Every object without the prefix as the stand-in holds it (compared before / after)."""
        raise NotImplementedError

    def add_stale_duplicate(self, world: Any) -> str:
        """A second copy of an owned rule, as an interrupted run would leave it; its id."""
        raise NotImplementedError

    def owned_ids(self, world: Any) -> set[str]:
        """The ids of every owned object the stand-in holds."""
        raise NotImplementedError

    def reply_as_agent(self, world: Any) -> None:
        """An agent's public reply on a ticket the installed rules match (filed as the
        connector files an SMS ticket), so the helpdesk calls the connector's webhook."""
        raise NotImplementedError

    # -- the suite ----------------------------------------------------------------------------

    @pytest.fixture
    def receiver(self) -> Iterator[Receiver]:
        receiver = Receiver().start()
        try:
            yield receiver
        finally:
            receiver.stop()

    @pytest.fixture
    def runtime(self, world: Any, receiver: Receiver, tmp_path: Any) -> Iterator[Runtime]:
        data = {"server": {"public_url": receiver.url},
                "database": {"url": f"sqlite:///{tmp_path / 'connector.db'}"},
                **self.config(world)}
        runtime = Runtime(settings_from_dict(data))
        runtime.prepare_schema()
        try:
            yield runtime
        finally:
            runtime.close()

    @pytest.fixture
    def automation(self, runtime: Runtime) -> HelpdeskAutomation:
        return automation_for(runtime)

    @pytest.fixture
    def policy(self) -> Policy:
        return load_policy()

    def test_registered_for_its_kind_as_the_port(self, automation: HelpdeskAutomation) -> None:
        assert self.kind in HELPDESKS
        assert AUTOMATIONS[self.kind] is type(automation)
        assert isinstance(automation, HelpdeskAutomation)

    def test_plan_of_an_empty_helpdesk_creates_everything_and_writes_nothing(
        self, runtime: Runtime, automation: HelpdeskAutomation, policy: Policy
    ) -> None:
        desired = automation.desired(policy, runtime.settings.server.public_url)
        assert desired and all(d.title.startswith(OWNED_PREFIX) for d in desired)
        plan = make_plan(runtime, policy)
        assert [(c.action, c.kind, c.title) for c in plan.changes] == [
            (CREATE, d.kind, d.title) for d in desired]
        assert plan.drift == plan.changes and plan.changed
        assert plan.counts() == {CREATE: len(desired), UPDATE: 0, DELETE: 0, KEEP: 0}
        assert self.write_calls(automation) == 0

    def test_apply_then_plan_is_all_keep_and_a_second_apply_writes_nothing(
        self, runtime: Runtime, automation: HelpdeskAutomation, policy: Policy
    ) -> None:
        first = apply(runtime, policy)
        assert {c.action for c in first.plan.changes} == {CREATE}
        plan = make_plan(runtime, policy)
        assert plan.drift == () and not plan.changed
        assert {c.action for c in plan.changes} == {KEEP}
        assert all(c.object_id for c in plan.changes)
        assert [c.title for c in plan.changes] == [c.title for c in first.plan.changes]
        writes = self.write_calls(automation)
        second = apply(runtime, policy)
        assert self.write_calls(automation) == writes
        assert second.plan == plan
        assert second.lines() == ["nothing to change: the helpdesk matches the policy"]
        assert second.secret == first.secret and not second.secret_stored

    def test_a_hand_edit_is_drift_and_apply_repairs_it(
        self, world: Any, runtime: Runtime, policy: Policy
    ) -> None:
        apply(runtime, policy)
        edited = self.edit_owned_rule(world)
        [change] = make_plan(runtime, policy).drift
        assert (change.action, change.object_id) == (UPDATE, edited) and change.fields
        repaired = apply(runtime, policy)
        assert repaired.plan.drift == (change,)
        assert make_plan(runtime, policy).drift == ()
        assert edited in self.owned_ids(world)

    def test_objects_without_the_prefix_are_never_touched(
        self, world: Any, runtime: Runtime, policy: Policy
    ) -> None:
        self.add_foreign_objects(world)
        before = self.foreign_objects(world)
        assert before
        for plan in (make_plan(runtime, policy), apply(runtime, policy).plan):
            assert all(c.title.startswith(OWNED_PREFIX) for c in plan.changes)
        self.edit_owned_rule(world)
        apply(runtime, policy)
        assert make_plan(runtime, policy).drift == ()
        assert all(c.title.startswith(OWNED_PREFIX) for c in make_plan(runtime, policy).changes)
        assert self.foreign_objects(world) == before

    def test_a_stale_duplicate_is_deleted(
        self, world: Any, runtime: Runtime, policy: Policy
    ) -> None:
        apply(runtime, policy)
        owned = self.owned_ids(world)
        duplicate = self.add_stale_duplicate(world)
        [change] = make_plan(runtime, policy).drift
        assert (change.action, change.object_id) == (DELETE, duplicate)
        assert change.title.startswith(OWNED_PREFIX)
        apply(runtime, policy)
        assert self.owned_ids(world) == owned
        assert make_plan(runtime, policy).drift == ()

    def test_the_stored_secret_verifies_what_the_helpdesk_delivers(
        self, world: Any, runtime: Runtime, receiver: Receiver, policy: Policy
    ) -> None:
        result = apply(runtime, policy)
        with reading(runtime.engine) as conn:
            secret = webhook_secret(conn, runtime.settings)
        if not self.signs:
            assert result.secret is None and not result.secret_stored and secret == ""
            return
        assert result.secret and result.secret_stored and secret == result.secret
        self.reply_as_agent(world)
        [delivery] = receiver.wait()
        assert delivery.url == receiver.url + f"/webhooks/helpdesk/{self.kind}"
        adapter = HELPDESKS[self.kind]
        assert adapter.verify_webhook(delivery, secret)
        if self.signs_body:
            tampered = delivery.replace(raw_body=delivery.body + b" ")
            assert not adapter.verify_webhook(tampered, secret)
        assert not adapter.verify_webhook(delivery, secret + "x")
        time.sleep(0.2)  # nothing else fires: one reply, one delivery
        assert len(receiver.requests) == 1
