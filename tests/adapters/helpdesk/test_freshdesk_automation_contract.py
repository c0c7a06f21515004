"""Freshdesk's policy automation keeps the contract against the Freshdesk stand-in; then what only
Freshdesk has: the plan's exact lines, the one call a no-op apply makes, a configured secret
replacing the one the rules send, and the status rule calling the connector."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import requests

from adapters.helpdesk.freshdesk_automation import FreshdeskAutomation
from connector.config import settings_from_dict
from connector.runtime import Runtime
from connector.sandbox.common import SandboxServer
from connector.sandbox.freshdesk import API_KEY, create_app
from connector.store import reading
from connector.sync.policy import apply, kv_get, make_plan, webhook_secret
from connector.sync.port import HelpdeskAutomation
from mappings import freshdesk as fd
from mappings.policy import Policy, load_policy
from tests.contracts.helpdesk_automation import HelpdeskAutomationContract, Receiver

WRITES = ("create_", "update_", "delete_")
RULES = "/api/v2/automations/4/rules"


@dataclass
class World:
    server: SandboxServer

    @property
    def url(self) -> str:
        return self.server.url

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """An admin working by hand, through the API with the account's key."""
        response = requests.request(method, self.url + path, auth=(API_KEY, "X"), timeout=10,
                                    **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def rules(self) -> list[dict[str, Any]]:
        return list(self.call("GET", RULES, params={"per_page": 100}))

    def rule(self, name: str) -> dict[str, Any]:
        return next(r for r in self.rules() if r["name"] == name)

    def create_rule(self, rule: dict[str, Any]) -> dict[str, Any]:
        return dict(self.call("POST", RULES, json=rule))

    def sms_ticket(self) -> int:
        # Filed through the API and tagged "sms", as the connector files an SMS ticket.
        ticket = self.call("POST", "/api/v2/tickets", json={
            "subject": "SMS from +12025550142", "description": "my order never came",
            "phone": "+12025550142", "name": "+12025550142", "tags": ["sms"],
            "source": 3, "status": 2, "priority": 1})
        return int(ticket["id"])

    def add_groups(self, names: Iterable[str]) -> None:
        """The pack's owner groups, made by the team before the connector (a fresh account has
        Freshdesk's own, one of them "Billing")."""
        have = {g["name"] for g in self.call("GET", "/api/v2/groups")}
        for name in names:
            if name not in have:
                self.call("POST", "/api/v2/groups", json={"name": name})

    def sandbox(self, path: str, **body: Any) -> Any:
        response = requests.post(self.url + path, json=body, timeout=10)
        response.raise_for_status()
        return response.json()


def their_rule(name: str, tag: str = "sms") -> dict[str, Any]:
    return {"name": name, "performer": {"type": 1}, "events": [{"field_name": "reply_sent"}],
            "conditions": [{"name": "condition_set_1", "match_type": "all", "properties": [
                {"resource_type": "ticket", "field_name": fd.TAG_CONDITION, "operator": "in",
                 "value": [tag]}]}],
            "actions": [{"field_name": "add_tag", "value": ["texted"]}]}


class TestFreshdeskAutomationContract(HelpdeskAutomationContract):
    kind = "freshdesk"
    signs = True  # apply returns the secret the rules send
    signs_body = False  # a header the rule sends, not a signature of the body

    def start(self) -> World:
        world = World(SandboxServer(create_app()).start())
        world.add_groups(load_policy().groups.names)
        return world

    def stop(self, world: World) -> None:
        world.server.stop()

    def config(self, world: World) -> dict[str, Any]:
        return {"helpdesk": {"kind": "freshdesk"},
                "freshdesk": {"domain": "sandbox", "base_url": world.url, "api_key": API_KEY}}

    def write_calls(self, automation: HelpdeskAutomation) -> int:
        assert isinstance(automation, FreshdeskAutomation)
        return sum(n for name, n in automation.client.calls.items() if name.startswith(WRITES))

    def edit_owned_rule(self, world: World) -> str:
        ours = world.rule(fd.REPLY_RULE_NAME)
        world.call("PUT", f"{RULES}/{ours['id']}", json={"conditions": [
            {"name": "condition_set_1", "match_type": "all", "properties": [
                {"resource_type": "ticket", "field_name": fd.TAG_CONDITION, "operator": "in",
                 "value": ["vip"]}]}]})
        return str(ours["id"])

    def add_foreign_objects(self, world: World) -> None:
        world.create_rule({**their_rule("Route VIPs", "vip"),
                           "actions": [{"field_name": "priority", "value": 4}]})
        # Our name without the prefix, and the prefix not at the start: not ours either.
        for name in (fd.REPLY_RULE_NAME.removeprefix(fd.PREFIX).strip(),
                     f"Copy of {fd.REPLY_RULE_NAME}"):
            world.create_rule(their_rule(name))
        world.create_rule({**fd.reply_rule("https://elsewhere.example.com", "theirs"),
                           "name": "Agent replies to our CRM"})

    def foreign_objects(self, world: World) -> Any:
        return [r for r in world.rules() if not fd.owned(r.get("name"))]

    def add_stale_duplicate(self, world: World) -> str:
        ours = world.rule(fd.REPLY_RULE_NAME)
        copy = {k: ours[k] for k in ("name", "active", "performer", "events", "conditions",
                                     "actions")}
        return str(world.create_rule(copy)["id"])

    def owned_ids(self, world: World) -> set[str]:
        return {str(r["id"]) for r in world.rules() if fd.owned(r.get("name"))}

    def reply_as_agent(self, world: World) -> None:
        world.sandbox("/_sandbox/agent_reply", ticket_id=world.sms_ticket(),
                      body="On its way!", public=True)

    # -- Freshdesk only -----------------------------------------------------------------------

    def test_plan_lines_name_what_differs(self, world: World, runtime: Runtime,
                                          policy: Policy) -> None:
        apply(runtime, policy)
        reply, status = world.rule(fd.REPLY_RULE_NAME), world.rule(fd.STATUS_RULE_NAME)
        world.call("PUT", f"{RULES}/{reply['id']}", json={"active": False})
        world.call("PUT", f"{RULES}/{status['id']}", json={"actions": [
            fd.webhook_action("https://old.example.com", "old", fd.EVENT_STATUS)]})
        leftover = world.create_rule({**their_rule("[sms-connector] old name")})
        plan = make_plan(runtime, policy)
        assert [c.line() for c in plan.drift] == [
            f"update  automation rule '{fd.REPLY_RULE_NAME}' #{reply['id']} (active)",
            f"update  automation rule \"{fd.STATUS_RULE_NAME}\" #{status['id']} (actions)",
            f"delete  automation rule '[sms-connector] old name' #{leftover['id']}",
        ]
        apply(runtime, policy)
        assert make_plan(runtime, policy).drift == ()
        action = world.rule(fd.STATUS_RULE_NAME)["actions"][0]
        assert action["url"] == runtime.settings.server.public_url + fd.WEBHOOK_PATH

    def test_a_no_op_apply_only_reads(self, runtime: Runtime,
                                      automation: HelpdeskAutomation,
                                      policy: Policy) -> None:
        assert isinstance(automation, FreshdeskAutomation)
        apply(runtime, policy)
        calls = automation.client.calls
        before = calls["total"]
        apply(runtime, policy)
        # SLA policies, rules of types 1, 3 and 4, folders, the folder's responses; groups
        # and each owner group (its agents) when the pack names groups.
        groups = 1 + len(fd.escalation_groups(policy)) if policy.groups.names else 0
        assert calls["total"] - before == 6 + groups
        kinds = {d.kind for d in automation.desired(policy, runtime.settings.server.public_url)}
        made = {"automation rule": "create_automation_rule", "SLA policy": "create_sla_policy",
                "canned response folder": "create_canned_response_folder",
                "canned response": "create_canned_response", "group": "create_group"}
        assert {k for k in calls if k.startswith(WRITES)} == {made[k] for k in kinds}

    def test_a_configured_secret_replaces_the_one_the_rules_send(
        self, world: World, runtime: Runtime, policy: Policy
    ) -> None:
        first = apply(runtime, policy)
        # The same database and stand-in, with freshdesk.webhook_secret set.
        data = {"server": {"public_url": runtime.settings.server.public_url},
                "database": {"url": str(runtime.engine.url)},
                **self.config(world)}
        data["freshdesk"]["webhook_secret"] = "configured-secret"
        other = Runtime(settings_from_dict(data))
        try:
            plan = make_plan(other, policy)
            assert [(c.action, c.fields) for c in plan.drift] == [
                ("update", ("actions",)), ("update", ("actions",))]
            again = apply(other, policy)
            assert again.secret == "configured-secret" != first.secret
            assert {fd.rule_secret(r) for r in world.rules()} == {"configured-secret"}
            assert make_plan(other, policy).drift == ()
            with reading(other.engine) as conn:
                assert webhook_secret(conn, other.settings) == "configured-secret"
        finally:
            other.close()

    def test_the_status_rule_tells_the_connector(
        self, world: World, runtime: Runtime, receiver: Receiver, policy: Policy
    ) -> None:
        result = apply(runtime, policy)
        ticket = world.sms_ticket()
        world.sandbox(f"/_sandbox/tickets/{ticket}/status", status="resolved")
        [delivery] = receiver.wait()
        assert delivery.header(fd.SECRET_HEADER) == result.secret
        assert delivery.header("User-Agent") == "Freshdesk"
        assert json.loads(delivery.body) == {"ticket_id": str(ticket), "event": "status"}
        with reading(runtime.engine) as conn:
            assert kv_get(conn, "freshdesk.webhook.signing_secret") == result.secret
            assert kv_get(conn, "freshdesk.webhook.id") is None  # rules, no webhook object
        assert result.lines()[-1] == (
            "stored the secret the helpdesk's rules now send with each webhook")
