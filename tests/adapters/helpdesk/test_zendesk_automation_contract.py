"""Zendesk's policy automation keeps the contract against the sandbox Zendesk; then what only
Zendesk has: the plan's exact lines, the calls a no-op apply makes, a secret rotated in Zendesk.

The account starts with the groups the default pack names (a fresh Zendesk account has only
"Support"; the pack does not let the connector create groups)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from adapters.helpdesk.zendesk import ZendeskClient
from adapters.helpdesk.zendesk_automation import ZendeskAutomation
from connector.runtime import Runtime
from connector.sandbox.runner import Sandbox, agent_reply, start_sandbox
from connector.sandbox.stack import ZENDESK_EMAIL, ZENDESK_TOKEN
from connector.store import reading
from connector.sync.policy import WEBHOOK_SECRET_KEY, apply, kv_get, make_plan, webhook_secret
from connector.sync.port import HelpdeskAutomation
from mappings import zendesk as zd
from mappings.policy import Policy, load_policy
from tests.contracts.helpdesk_automation import HelpdeskAutomationContract

WRITES = ("create_", "update_", "delete_")
# Owned objects by kind: (list path, list key, title key).
LISTS = (("/business_hours/schedules", "schedules", "name"),
         ("/slas/policies", "sla_policies", "title"),
         ("/automations", "automations", "title"),
         ("/macros", "macros", "title"))


def create_groups(admin: ZendeskClient, names: tuple[str, ...]) -> None:
    """The groups a pack names, as the team would have made them by hand."""
    have = {g["name"] for g in admin._paged("list_groups", "/groups", "groups")}
    for name in names:
        if name not in have:
            admin._json("create_group", "POST", "/groups", json={"group": {"name": name}})


@dataclass
class World:
    sandbox: Sandbox
    admin: ZendeskClient  # an admin working by hand, beside the connector's own client

    def owned_trigger(self) -> dict[str, Any]:
        return next(t for t in self.admin.list_triggers() if t["title"] == zd.REPLY_TRIGGER_TITLE)


class TestZendeskAutomationContract(HelpdeskAutomationContract):
    kind = "zendesk"

    def start(self) -> World:
        sandbox = start_sandbox(zendesk_port=0, twilio_port=0)
        admin = ZendeskClient(sandbox.zendesk_url, ZENDESK_EMAIL, ZENDESK_TOKEN)
        create_groups(admin, load_policy().groups.names)
        return World(sandbox, admin)

    def stop(self, world: World) -> None:
        world.sandbox.stop()

    def config(self, world: World) -> dict[str, Any]:
        return {"helpdesk": {"kind": "zendesk"},
                "zendesk": {"subdomain": "sandbox", "base_url": world.sandbox.zendesk_url,
                            "email": ZENDESK_EMAIL, "api_token": ZENDESK_TOKEN}}

    def write_calls(self, automation: HelpdeskAutomation) -> int:
        assert isinstance(automation, ZendeskAutomation)
        return sum(n for name, n in automation.client.calls.items() if name.startswith(WRITES))

    def edit_owned_rule(self, world: World) -> str:
        ours = world.owned_trigger()
        world.admin.update_trigger(ours["id"], {"conditions": {"all": [
            {"field": "comment_is_public", "operator": "is", "value": "true"}]}})
        return str(ours["id"])

    def add_foreign_objects(self, world: World) -> None:
        admin = world.admin
        admin.create_trigger({"title": "Route VIPs", "conditions": {"all": [
            {"field": "current_tags", "operator": "includes", "value": "vip"}]},
            "actions": [{"field": "priority", "value": "high"}]})
        # Our title without the prefix, and the prefix not at the start: not ours either.
        for title in (zd.REPLY_TRIGGER_TITLE.removeprefix(zd.PREFIX).strip(),
                      f"Copy of {zd.REPLY_TRIGGER_TITLE}"):
            admin.create_trigger({"title": title, "conditions": {"all": [
                {"field": "current_tags", "operator": "includes", "value": "sms"}]},
                "actions": [{"field": "add_tags", "value": "texted"}]})
        admin.create_webhook({**zd.webhook("https://elsewhere.example.com"),
                              "name": "Agent replies to our CRM"})
        admin.create_trigger_category({"name": "Their rules"})
        admin._json("create", "POST", "/slas/policies", json={"sla_policy": {
            "title": "General inquiry", "filter": {"all": [
                {"field": "current_tags", "operator": "includes", "value": "vip"}], "any": []},
            "policy_metrics": [{"priority": "high", "metric": "first_reply_time",
                                "target": 30, "business_hours": False}]}})
        admin._json("create", "POST", "/automations", json={"automation": {
            "title": "Close solved after 4 days", "conditions": {"all": [
                {"field": "status", "operator": "is", "value": "solved"},
                {"field": "SOLVED", "operator": "greater_than", "value": "96"}], "any": []},
            "actions": [{"field": "status", "value": "closed"}]}})
        admin._json("create", "POST", "/macros", json={"macro": {
            "title": "Closing", "actions": [{"field": "comment_value", "value": "Bye!"}]}})

    def foreign_objects(self, world: World) -> Any:
        admin = world.admin
        return {
            "webhooks": [w for w in admin.list_webhooks() if not zd.owned(w.get("name"))],
            "categories": [c for c in admin.list_trigger_categories()
                           if not zd.owned(c.get("name"))],
            "triggers": [t for t in admin.list_triggers() if not zd.owned(t.get("title"))],
            **{key: [i for i in admin._paged("list", path, key) if not zd.owned(i.get(title))]
               for path, key, title in LISTS},
        }

    def add_stale_duplicate(self, world: World) -> str:
        ours = world.owned_trigger()
        copy = {k: ours[k] for k in ("title", "description", "active", "category_id",
                                     "conditions", "actions")}
        return str(world.admin.create_trigger(copy)["id"])

    def owned_ids(self, world: World) -> set[str]:
        admin = world.admin
        return ({f"webhook {w['id']}" for w in admin.list_webhooks() if zd.owned(w.get("name"))}
                | {f"category {c['id']}" for c in admin.list_trigger_categories()
                   if zd.owned(c.get("name"))}
                | {str(t["id"]) for t in admin.list_triggers() if zd.owned(t.get("title"))}
                | {f"{key} {i['id']}" for path, key, title in LISTS
                   for i in admin._paged("list", path, key) if zd.owned(i.get(title))})

    def reply_as_agent(self, world: World) -> None:
        # Filed through the API, tagged "sms", as the connector files an SMS ticket.
        response = requests.post(
            f"{world.sandbox.zendesk_url}/api/v2/tickets",
            auth=(f"{ZENDESK_EMAIL}/token", ZENDESK_TOKEN), timeout=10,
            json={"ticket": {"subject": "SMS from +12025550142", "tags": ["sms"],
                             "requester": {"email": "customer@example.com"},
                             "comment": {"body": "my order never came"}}})
        response.raise_for_status()
        agent_reply(world.sandbox.zendesk_url, response.json()["ticket"]["id"], "On its way!")

    # -- Zendesk only -------------------------------------------------------------------------

    def test_plan_lines_name_what_differs(self, world: World, runtime: Runtime,
                                          policy: Policy) -> None:
        apply(runtime, policy)
        admin = world.admin
        ours = world.owned_trigger()
        admin.update_trigger(ours["id"], {"active": False})
        leftover = admin.create_trigger({"title": "[sms-connector] old name", "conditions": {
            "all": [{"field": "current_tags", "operator": "includes", "value": "sms"}]},
            "actions": [{"field": "add_tags", "value": "x"}]})
        [hook] = admin.list_webhooks()
        admin.update_webhook(hook["id"], zd.webhook("https://old.example.com"))
        plan = make_plan(runtime, policy)
        assert [c.line() for c in plan.drift] == [
            f"update  webhook '{zd.WEBHOOK_NAME}' #{hook['id']} (endpoint)",
            f"update  trigger '{zd.REPLY_TRIGGER_TITLE}' #{ours['id']} (active)",
            f"delete  trigger '[sms-connector] old name' #{leftover['id']}",
        ]
        apply(runtime, policy)
        assert make_plan(runtime, policy).drift == ()
        [hook] = admin.list_webhooks()
        assert hook["endpoint"] == runtime.settings.server.public_url + zd.WEBHOOK_PATH

    def test_a_no_op_apply_reads_each_list_once_and_the_secret(
        self, runtime: Runtime, automation: HelpdeskAutomation, policy: Policy
    ) -> None:
        assert isinstance(automation, ZendeskAutomation)
        apply(runtime, policy)
        calls = automation.client.calls
        before = dict(calls.items())
        apply(runtime, policy)
        read = {k: n - before.get(k, 0) for k, n in calls.items() if n != before.get(k, 0)}
        # schedules, SLA policies, trigger categories, triggers, automations, macros, webhooks,
        # groups, the schedule's holidays; then the secret.
        lists = {"list_schedules", "list_sla_policies", "list_trigger_categories",
                 "list_triggers", "list_automations", "list_macros", "list_webhooks",
                 "list_holidays"} | ({"list_groups"} if policy.groups.names else set())
        assert read == {**dict.fromkeys(lists, 1), "webhook_signing_secret": 1,
                        "total": len(lists) + 1}
        # No automation: the shipped pack's escalations are the connector's (a 30-minute
        # status_unknown, a reminder that is a text: mappings/coverage.py).
        assert {k for k in calls if k.startswith(WRITES)} == {
            "create_schedule", "update_workweek", "create_holiday", "create_sla_policy",
            "create_trigger_category", "create_trigger", "create_macro", "create_webhook"}

    def test_a_secret_rotated_in_zendesk_is_picked_up_by_the_next_apply(
        self, world: World, runtime: Runtime, policy: Policy
    ) -> None:
        result = apply(runtime, policy)
        response = world.admin._request("reset", "POST",
                                        f"/webhooks/{result.webhook_id}/signing_secret")
        rotated = response.json()["signing_secret"]["secret"]
        again = apply(runtime, policy)
        assert again.secret_stored and not again.plan.changed and again.secret == rotated
        with reading(runtime.engine) as conn:
            # Today's key: stores made before there were kinds keep working.
            assert WEBHOOK_SECRET_KEY == "zendesk.webhook.signing_secret"
            assert kv_get(conn, WEBHOOK_SECRET_KEY) == rotated
            assert kv_get(conn, "zendesk.webhook.id") == result.webhook_id
            assert webhook_secret(conn, runtime.settings) == rotated
