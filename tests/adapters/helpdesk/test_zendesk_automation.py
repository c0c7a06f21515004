"""adapters.helpdesk.zendesk_automation: the requests plan and apply make against an account
answered by ``responses`` (a few lines of state per object kind, echoing what Zendesk adds on
save): creation order, one change per object, progress, drift with before / after, leftovers,
groups resolved or refused by pack key, accounts without categories or with schedules of their
own, and an apply stopped half-way. The same automation runs against the Zendesk stand-in over
real HTTP in test_zendesk_policy_sync.py and test_zendesk_automation_contract.py."""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import responses

from adapters.helpdesk.zendesk import ZendeskClient
from adapters.helpdesk.zendesk_automation import ZendeskAutomation
from connector.errors import ConfigurationError, ExternalServiceError, TransientError
from connector.sync.plan import CREATE, DELETE, KEEP, UPDATE, Change
from mappings import zendesk as zd
from mappings.policy import Policy
from tests.mappings.test_zendesk import with_groups
from tests.packs import without_reminders

BASE = "https://acme.zendesk.example"
API = f"{BASE}/api/v2"
PUBLIC = "https://sms.example.com"
SECRET = "signing-secret"
GROUPS = ("Support", "Orders", "Tech Support", "Billing", "Incident Response")  # with_groups

# kind → (path, list key, body key)
PATHS = {
    "groups": ("groups", "group"),
    "business_hours/schedules": ("schedules", "schedule"),
    "slas/policies": ("sla_policies", "sla_policy"),
    "trigger_categories": ("trigger_categories", "trigger_category"),
    "triggers": ("triggers", "trigger"),
    "automations": ("automations", "automation"),
    "macros": ("macros", "macro"),
    "webhooks": ("webhooks", "webhook"),
}


class Account:
    """Zendesk's answers, in a few lines: lists, create (adds id, url, timestamps, position),
    PUT (replaces what is sent), DELETE; schedules with a workweek and holidays."""

    def __init__(self, mocked: responses.RequestsMock) -> None:
        self.objects: dict[str, dict[int, dict[str, Any]]] = {p: {} for p in PATHS}
        self.holidays: dict[int, dict[int, dict[str, Any]]] = {}
        self.ids = itertools.count(1001)
        self.fail: tuple[str, str] | None = None  # (method, path part) answered 500 once
        self.writes: list[tuple[str, str]] = []
        self.categories = True
        for name in GROUPS:
            self.add("groups", {"name": name})
        pattern = re.compile(re.escape(API) + r"/(.+?)(\?.*)?$")
        for method in ("GET", "POST", "PUT", "DELETE"):
            mocked.add_callback(method, pattern, callback=self.answer)

    def add(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        oid = next(self.ids)
        item = {**copy.deepcopy(body), "id": str(oid) if path == "webhooks" else oid,
                "url": f"{API}/{path}/{oid}.json", "created_at": "2026-01-05T10:00:00Z",
                "updated_at": "2026-01-05T10:00:00Z", "position": oid}
        if path == "business_hours/schedules":
            item["intervals"] = [{"start_time": 1980, "end_time": 2460}]  # Zendesk's default
            self.holidays[oid] = {}
        if path == "macros":
            item.setdefault("restriction", None)
        self.objects[path][oid] = item
        return item

    def listed(self, path: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(i) for i in self.objects[path].values()]

    def titled(self, path: str, title: str) -> dict[str, Any]:
        key = "name" if path in ("groups", "business_hours/schedules", "webhooks",
                                 "trigger_categories") else "title"
        return next(i for i in self.objects[path].values() if i.get(key) == title)

    def answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        method = request.method
        path = request.path_url.split("?")[0].removeprefix("/api/v2/")
        if method != "GET":
            self.writes.append((method, path))
        if self.fail and method == self.fail[0] and self.fail[1] in path:
            self.fail = None
            return 500, {}, json.dumps({"error": "InternalError"})
        body = json.loads(request.body) if request.body else {}
        status, answer = self.route(method, path, body)
        if status == 204:
            return status, {}, ""
        return status, {"Content-Type": "application/json"}, json.dumps(answer)

    def route(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if path.startswith("trigger_categories") and not self.categories:
            return 403, {"errors": [{"code": "TriggerCategoriesNotEnabled",
                                     "title": "Trigger categories are not enabled"}]}
        if path.startswith("webhooks/") and path.endswith("/signing_secret"):
            return 200, {"signing_secret": {"algorithm": "sha256", "secret": SECRET}}
        match = re.fullmatch(r"business_hours/schedules/(\d+)/(workweek|holidays)(?:/(\d+))?",
                             path)
        if match:
            sid, part, hid = int(match[1]), match[2], match[3]
            if part == "workweek":
                self.objects["business_hours/schedules"][sid]["intervals"] = \
                    body["workweek"]["intervals"]
                return 200, {"workweek": body["workweek"]}
            holidays = self.holidays[sid]
            if method == "GET":
                return 200, {"holidays": list(holidays.values())}
            if method == "POST":
                hid_new = next(self.ids)
                holidays[hid_new] = {**body["holiday"], "id": hid_new}
                return 201, {"holiday": holidays[hid_new]}
            del holidays[int(hid)]
            return 204, {}
        for prefix, (plural, single) in PATHS.items():
            if path == prefix:
                if method == "GET":
                    return 200, {plural: self.listed(prefix), "next_page": None}
                return 201, {single: self.add(prefix, body[single])}
            if path.startswith(prefix + "/"):
                raw = path.removeprefix(prefix + "/")
                oid = int(raw) if raw.isdigit() else raw
                key = oid if oid in self.objects[prefix] else int(str(oid))
                if method == "DELETE":
                    del self.objects[prefix][key]
                    return 204, {}
                self.objects[prefix][key].update(copy.deepcopy(body[single]))
                return 200, {single: self.objects[prefix][key]}
        raise AssertionError(f"unexpected {method} {path}")


@pytest.fixture
def account() -> Iterator[Account]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield Account(mocked)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return with_groups(without_reminders())  # no_customer_response: the hourly automation


@pytest.fixture
def automation() -> ZendeskAutomation:
    return ZendeskAutomation(ZendeskClient(BASE, "admin@example.com", "token"))


def test_a_plan_of_an_empty_account_creates_every_desired_object_and_writes_nothing(
        account, automation, policy):
    plan = automation.plan(policy, PUBLIC)
    desired = automation.desired(policy, PUBLIC)
    assert [(c.action, c.kind, c.title) for c in plan.changes] == [
        (CREATE, d.kind, d.title) for d in desired]
    assert account.writes == []


def test_apply_writes_in_creation_order_reports_each_object_and_then_plans_nothing(
        account, automation, policy):
    told: list[Change] = []
    result = automation.apply(policy, PUBLIC, progress=told.append)
    assert result.secret == SECRET and result.webhook_id
    assert told == list(result.plan.changes)
    assert all(c.action == CREATE for c in told)
    kinds = [path.split("/")[0] if not path.startswith("business_hours") else "schedule"
             for method, path in account.writes if method == "POST"]
    # schedule (+ its holidays) → SLA policies → category → triggers → automation → macros →
    # webhook → the reply trigger
    assert kinds[0] == "schedule" and kinds[-2:] == ["webhooks", "triggers"]
    assert kinds.index("slas") < kinds.index("trigger_categories") < kinds.index("triggers") \
        < kinds.index("automations") < kinds.index("macros")
    schedule = account.titled("business_hours/schedules", "[sms-connector] Support hours")
    assert schedule["intervals"] == zd.intervals(policy.business_hours)
    assert len(account.holidays[schedule["id"]]) == len(policy.business_hours.holidays)
    billing = account.titled("triggers", "[sms-connector] Route Billing concern")
    group = account.titled("groups", "Billing")
    category = account.titled("trigger_categories", "[sms-connector]")
    assert {"field": "group_id", "value": str(group["id"])} in billing["actions"]
    assert billing["category_id"] == str(category["id"])
    reply = account.titled("triggers", zd.REPLY_TRIGGER_TITLE)
    assert reply["actions"][0]["value"][0] == result.webhook_id

    account.writes.clear()
    plan = automation.plan(policy, PUBLIC)
    assert plan.drift == () and all(c.object_id for c in plan.changes)
    again = automation.apply(policy, PUBLIC, progress=told.append)
    assert account.writes == [] and not again.plan.changed


def test_a_hand_edit_is_an_update_with_before_and_after_and_apply_restores_it(
        account, automation, policy):
    automation.apply(policy, PUBLIC)
    sla = account.titled("slas/policies", "[sms-connector] Critical outage")
    wanted = copy.deepcopy(sla["policy_metrics"])
    sla["policy_metrics"][0]["target"] = 99
    schedule = account.titled("business_hours/schedules", "[sms-connector] Support hours")
    first = next(iter(account.holidays[schedule["id"]]))
    del account.holidays[schedule["id"]][first]
    plan = automation.plan(policy, PUBLIC)
    [holidays, metrics] = plan.drift
    assert (holidays.action, holidays.kind, holidays.fields) == (UPDATE, "schedule", ("holidays",))
    assert (metrics.kind, metrics.object_id, metrics.fields) == (
        "SLA policy", str(sla["id"]), ("policy_metrics",))
    [detail] = metrics.details
    assert detail.before[0]["target"] == 99 and detail.after == wanted
    account.writes.clear()
    told: list[Change] = []
    automation.apply(policy, PUBLIC, progress=told.append)
    assert told == [holidays, metrics]
    assert account.writes == [
        ("POST", f"business_hours/schedules/{schedule['id']}/holidays"),
        ("PUT", f"slas/policies/{sla['id']}")]
    assert automation.plan(policy, PUBLIC).drift == ()


def test_owned_leftovers_are_deleted_and_unowned_objects_never_touched(
        account, automation, policy):
    automation.apply(policy, PUBLIC)
    duplicate = account.add("slas/policies", account.titled(
        "slas/policies", "[sms-connector] Billing concern"))
    old = account.add("macros", {"title": "[sms-connector] Retired script", "actions": []})
    theirs = [account.add("triggers", {"title": "Route Billing concern", "actions": []}),
              account.add("macros", {"title": "Copy of [sms-connector] Closing", "actions": []}),
              account.add("slas/policies", {"title": "VIP", "filter": {}})]
    before = copy.deepcopy(theirs)
    plan = automation.plan(policy, PUBLIC)
    assert [(c.action, c.kind, c.object_id) for c in plan.drift] == [
        (DELETE, "macro", str(old["id"])), (DELETE, "SLA policy", str(duplicate["id"]))]
    automation.apply(policy, PUBLIC)
    assert old["id"] not in account.objects["macros"]
    assert duplicate["id"] not in account.objects["slas/policies"]
    assert [account.objects[p][t["id"]] for p, t in
            zip(("triggers", "macros", "slas/policies"), theirs, strict=True)] == before
    assert automation.plan(policy, PUBLIC).drift == ()


def test_an_unknown_group_stops_the_plan_naming_the_pack_key(account, automation, policy):
    account.objects["groups"] = {k: g for k, g in account.objects["groups"].items()
                                 if g["name"] not in ("Billing", "Orders")}
    with pytest.raises(ConfigurationError) as caught:
        automation.plan(policy, PUBLIC)
    assert set(caught.value.errors) == {"scenarios[1].group", "scenarios[3].group"}
    assert "'Billing'" in caught.value.errors["scenarios[3].group"]
    assert account.writes == []


def test_missing_groups_are_created_first_when_the_pack_allows_it(account, automation, policy):
    account.objects["groups"] = {k: g for k, g in account.objects["groups"].items()
                                 if g["name"] != "Billing"}
    creating = replace(policy, groups=replace(policy.groups, create_missing=True))
    plan = automation.plan(creating, PUBLIC)
    groups = [(c.action, c.title) for c in plan.changes if c.kind == "group"]
    assert groups == [(KEEP if n != "Billing" else CREATE, n) for n in sorted(GROUPS)]
    automation.apply(creating, PUBLIC)
    assert account.writes[0] == ("POST", "groups")
    billing = account.titled("groups", "Billing")
    route = account.titled("triggers", "[sms-connector] Route Billing concern")
    assert {"field": "group_id", "value": str(billing["id"])} in route["actions"]
    assert automation.plan(creating, PUBLIC).drift == ()


def test_an_apply_stopped_half_way_converges_on_the_next_run(account, automation, policy):
    account.fail = ("POST", "automations")
    with pytest.raises(TransientError):
        automation.apply(policy, PUBLIC)
    assert account.objects["automations"] == {} and account.objects["triggers"]
    # A schedule whose workweek was never written is an update, not a second schedule.
    account.fail = ("PUT", "workweek")
    automation2 = ZendeskAutomation(automation.client)
    schedule = account.titled("business_hours/schedules", "[sms-connector] Support hours")
    schedule["intervals"] = [{"start_time": 1980, "end_time": 2460}]
    with pytest.raises(TransientError):
        automation2.apply(policy, PUBLIC)
    result = automation2.apply(policy, PUBLIC)
    assert {(c.action, c.kind) for c in result.plan.drift} >= {(UPDATE, "schedule"),
                                                               (CREATE, "automation")}
    assert automation2.plan(policy, PUBLIC).drift == ()
    assert len(account.objects["business_hours/schedules"]) == 1


def test_without_trigger_categories_the_triggers_go_without_one(account, automation, policy):
    account.categories = False
    plan = automation.plan(policy, PUBLIC)
    assert "trigger category" not in {c.kind for c in plan.changes}
    automation.apply(policy, PUBLIC)
    assert all("category_id" not in t for t in account.objects["triggers"].values())
    assert automation.plan(policy, PUBLIC).drift == ()


def test_an_account_with_schedules_of_its_own_gets_ours_set_on_business_hours_tickets(
        account, automation, policy):
    account.add("business_hours/schedules", {"name": "Their hours", "time_zone": "London"})
    automation.apply(policy, PUBLIC)
    ours = account.titled("business_hours/schedules", "[sms-connector] Support hours")
    general = account.titled("triggers", "[sms-connector] Route General inquiry")
    order = account.titled("triggers", "[sms-connector] Route Order / status")
    assert {"field": "set_schedule", "value": str(ours["id"])} in general["actions"]
    assert all(a["field"] != "set_schedule" for a in order["actions"])  # calendar hours
    assert automation.plan(policy, PUBLIC).drift == ()


def test_a_refusal_says_what_to_do(account, automation, policy):
    automation.apply(policy, PUBLIC)
    sla = account.titled("slas/policies", "[sms-connector] General inquiry")
    sla["title"] = "[sms-connector] General inquiry"
    sla["policy_metrics"] = []
    original = account.route

    def refuse(method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if method == "PUT" and path.startswith("slas/"):
            return 422, {"error": "RecordInvalid", "description": "Record validation errors",
                         "details": {"policy_metrics": [{"error": "InvalidValue"}]}}
        return original(method, path, body)

    account.route = refuse  # type: ignore[method-assign]
    with pytest.raises(ExternalServiceError) as caught:
        automation.apply(policy, PUBLIC)
    message = str(caught.value)
    assert message.startswith("SLA policy: ") and "whole minutes" in message
    assert caught.value.status == 422
