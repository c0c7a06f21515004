"""adapters.helpdesk.freshdesk_automation: the requests plan and apply make, which secret the
rules send (configured / read back / generated) and that it is never logged, idempotency, the
owned-only rule and the shared rate budget (HTTP mocked with ``responses``; the contract suite
runs the same automation against the Freshdesk stand-in:
test_freshdesk_automation_contract.py)."""

from __future__ import annotations

import base64
import copy
import json
import logging
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import pytest
import responses
from responses import matchers

from adapters.helpdesk.freshdesk import FreshdeskClient, FreshdeskSettings
from adapters.helpdesk.freshdesk_automation import FreshdeskAutomation
from adapters.helpdesk.zendesk import ZendeskClient
from connector.errors import ConfigurationError, ExternalServiceError, RateLimited
from connector.sync.plan import CREATE, DELETE, KEEP, UPDATE, Change, FieldChange
from connector.sync.port import HelpdeskAutomation
from mappings import freshdesk as fd
from mappings.policy import Policy, policy_from_dict
from tests.packs import raw_without_reminders

BASE = "https://acme.example.com"
API = f"{BASE}/api/v2"
API_KEY = "test-api-key"
RULES = f"{API}/automations/4/rules"
PUBLIC = "https://sms.example.com"
GENERATED = "generated-secret-0123456789"
CONFIGURED = "configured-secret-abcdef"
READ_BACK = "read-back-secret-zyxwvu"
GROUP_IDS = {"Support": 11, "Orders": 12, "Tech Support": 13, "Billing": 14,
             "Incident Response": 15}
FOLDER_ID = 77
ACCOUNT = fd.Account(groups={fd.group_key(k): v for k, v in GROUP_IDS.items()},
                     agents={11: (101,)}, source=3, folder_id=FOLDER_ID)


def client_for(webhook_secret: str = "") -> FreshdeskClient:
    return FreshdeskClient.from_settings(FreshdeskSettings(
        domain="acme", base_url=BASE, api_key=API_KEY, webhook_secret=webhook_secret))


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


OWNERS = {"general": "Support", "order": "Orders", "technical": "Tech Support",
          "billing": "Billing", "outage": "Incident Response"}


def owned_pack() -> Policy:
    """The default pack with an owner group per scenario (what gives Freshdesk SLA policies)."""
    # Without the reminder text: no_customer_response is Freshdesk's hourly rule (tests/packs.py).
    raw = raw_without_reminders(tomllib.loads(
        resources.files("mappings").joinpath("default_policy.toml").read_text()))
    for scenario in raw["scenarios"]:
        scenario["group"] = OWNERS[scenario["id"]]
    return policy_from_dict(raw)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return owned_pack()


def automation(secret: str = "") -> FreshdeskAutomation:
    return FreshdeskAutomation(client_for(), webhook_secret=secret,
                               new_secret=lambda: GENERATED)


def want(secret: str = READ_BACK, account: fd.Account = ACCOUNT) -> fd.FreshdeskObjects:
    return fd.desired(owned_pack(), PUBLIC, secret, account)


def rule(title: str, secret: str, rule_id: int, **changes: Any) -> dict[str, Any]:
    """A desired webhook rule as Freshdesk lists it back."""
    [body] = [r for r in want(secret).rules if r["name"] == title]
    have = copy.deepcopy(body)
    have.update(id=rule_id, position=rule_id, automation_type_id=4, outdated=False,
                created_at="2025-01-02T03:04:05Z", updated_at="2025-01-02T03:04:05Z",
                performer={**body["performer"], "members": []}, summary={})
    have.update(changes)
    return have


def ours(secret: str = READ_BACK) -> list[dict[str, Any]]:
    return [rule(fd.REPLY_RULE_NAME, secret, 11), rule(fd.STATUS_RULE_NAME, secret, 12)]


def listed(bodies: tuple[dict[str, Any], ...], first_id: int) -> list[dict[str, Any]]:
    """Desired bodies as Freshdesk lists them: with ids and timestamps."""
    return [{**copy.deepcopy(b), "id": first_id + i, "created_at": "2025-01-02T03:04:05Z"}
            for i, b in enumerate(bodies)]


@dataclass
class Listed:
    """What the mocked account holds: each list the automation reads."""

    groups: list[dict[str, Any]] = field(default_factory=lambda: [
        {"id": v, "name": k, "agent_ids": [101] if v == 11 else []}
        for k, v in GROUP_IDS.items()])
    slas: list[dict[str, Any]] = field(default_factory=list)
    rules: dict[int, list[dict[str, Any]]] = field(
        default_factory=lambda: {1: [], 3: [], 4: []})
    folders: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def complete(cls, secret: str = READ_BACK) -> Listed:
        """An account where apply already ran."""
        objects = want(secret)
        return cls(slas=[{"id": 1, "name": "Default SLA Policy", "is_default": True,
                          "applicable_to": {}}, *listed(objects.sla_policies, 501)],
                   rules={1: listed(objects.creation_rules, 201),
                          3: listed(objects.time_rules, 301), 4: ours(secret)},
                   folders=[{"id": FOLDER_ID, "name": fd.FOLDER_NAME}],
                   responses=listed(objects.canned_responses, 701))


def listing(mocked: responses.RequestsMock, account: Listed | None = None,
            rules: list[dict[str, Any]] | None = None) -> Listed:
    """Register every list the automation reads; ``rules`` replaces the webhook rules."""
    account = account or Listed()
    if rules is not None:
        account.rules[4] = rules
    page = [matchers.query_param_matcher({"per_page": "100", "page": "1"})]
    mocked.get(f"{API}/groups", json=account.groups, match=page)
    mocked.get(f"{API}/sla_policies", json=account.slas, match=page)
    for rule_type in (1, 3, 4):
        mocked.get(f"{API}/automations/{rule_type}/rules", json=account.rules[rule_type],
                   match=page)
    mocked.get(f"{API}/canned_response_folders", json=account.folders)
    for folder in account.folders:
        mocked.get(f"{API}/canned_response_folders/{folder['id']}/responses",
                   json=account.responses)
    return account


def writes(mocked: responses.RequestsMock) -> list[tuple[str, str, Any]]:
    return [(c.request.method or "", c.request.url or "",
             json.loads(c.request.body) if c.request.body else None)
            for c in mocked.calls if c.request.method != "GET"]


def sent_secret(body: dict[str, Any]) -> str:
    return str(body["actions"][0]["custom_headers"][fd.SECRET_HEADER])


def rule_changes(plan: Any) -> list[Any]:
    """The webhook rules' changes (the last kind in a plan)."""
    names = {fd.REPLY_RULE_NAME, fd.STATUS_RULE_NAME}
    return [c for c in plan.changes if c.kind == "automation rule"
            and (c.title in names or c.action == DELETE)]


# -- the port and the registry --------------------------------------------------------------------


def test_keeps_the_port() -> None:
    assert isinstance(automation(), HelpdeskAutomation)


def test_for_helpdesk_takes_the_configured_secret_and_refuses_another_helpdesk(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    made = FreshdeskAutomation.for_helpdesk(client_for(webhook_secret=CONFIGURED))
    listing(mocked, Listed.complete(CONFIGURED))
    assert made.apply(policy, PUBLIC).secret == CONFIGURED
    assert writes(mocked) == []
    with pytest.raises(TypeError):
        FreshdeskAutomation.for_helpdesk(ZendeskClient("https://z.example.com", "a@b.c", "t"))


def test_desired_lists_every_kind_in_creation_order_with_placeholders(policy: Policy) -> None:
    desired = automation(CONFIGURED).desired(policy, PUBLIC)
    kinds = [d.kind for d in desired]
    assert kinds == (["SLA policy"] * 5 + ["automation rule"] * 6
                     + ["canned response folder"] + ["canned response"] * 7
                     + ["automation rule"] * 2)
    assert [d.title for d in desired][-2:] == [fd.REPLY_RULE_NAME, fd.STATUS_RULE_NAME]
    assert CONFIGURED not in repr(desired)
    assert all(sent_secret(dict(d.body)) == fd.SECRET_PLACEHOLDER for d in desired[-2:])
    assert desired[0].body["applicable_to"] == {"group_ids": ["<group Support>"],
                                                "sources": [3]}


# -- plan -----------------------------------------------------------------------------------------


def test_plan_of_an_empty_account_reads_each_list_once_with_basic_auth_and_writes_nothing(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    listing(mocked)
    plan = automation().plan(policy, PUBLIC)
    assert [(c.action, c.kind) for c in plan.changes] == (
        [(CREATE, "SLA policy")] * 5 + [(CREATE, "automation rule")] * 6
        + [(CREATE, "canned response folder")] + [(CREATE, "canned response")] * 7
        + [(CREATE, "automation rule")] * 2)
    assert plan.changes[0].note.startswith("first response 10 minutes is under Freshdesk's")
    # groups, SLA policies, rules of types 1, 3 and 4, folders: no folder yet, no responses.
    assert [c.request.url.split("?")[0].removeprefix(API) for c in mocked.calls] == [
        "/groups", "/sla_policies", "/automations/1/rules", "/automations/3/rules",
        "/automations/4/rules", "/canned_response_folders"]
    token = base64.b64encode(f"{API_KEY}:X".encode()).decode()
    assert all(c.request.headers["Authorization"] == f"Basic {token}" for c in mocked.calls)


def test_a_group_freshdesk_lacks_is_a_plan_error_naming_the_key(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    account = Listed()
    account.groups = [g for g in account.groups if g["name"] != "Orders"]
    listing(mocked, account)
    with pytest.raises(ConfigurationError) as caught:
        automation().plan(policy, PUBLIC)
    assert list(caught.value.errors) == ["scenarios[1].group"]
    assert "'Orders'" in str(caught.value)


def test_a_group_the_pack_may_create_is_created_first_and_named_by_its_id(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    import dataclasses
    creating = dataclasses.replace(
        policy, groups=dataclasses.replace(policy.groups, create_missing=True))
    account = Listed()
    account.groups = [g for g in account.groups if g["name"] != "Orders"]
    listing(mocked, account)
    assert automation().plan(creating, PUBLIC).changes[2] == Change(
        CREATE, "group", "Orders", note="the pack lets the connector create it "
                                        "(groups.create_missing)")
    mocked.post(f"{API}/groups", json={"id": 99, "name": "Orders"})
    mocked.post(f"{API}/sla_policies", json={"id": 500})
    mocked.post(f"{API}/automations/1/rules", json={"id": 200})
    mocked.post(f"{API}/automations/3/rules", json={"id": 300})
    mocked.post(f"{API}/automations/4/rules", json={"id": 400})
    mocked.post(f"{API}/canned_response_folders", json={"id": FOLDER_ID})
    mocked.post(f"{API}/canned_responses", json={"id": 700})
    told: list[Change] = []
    result = automation().apply(creating, PUBLIC, progress=told.append)
    made = writes(mocked)
    assert made[0] == ("POST", f"{API}/groups", {"name": "Orders"})
    [orders] = [b for _, u, b in made if u.endswith("/sla_policies")
                and b["name"] == "[sms-connector] Order / status"]
    assert orders["applicable_to"] == {"group_ids": [99], "sources": [3]}
    assert told == [c for c in result.plan.changes if c.action != KEEP]
    assert len(told) == len(made)


def test_everything_in_place_is_all_keep(mocked: responses.RequestsMock,
                                         policy: Policy) -> None:
    listing(mocked, Listed.complete())
    plan = automation().plan(policy, PUBLIC)
    assert {c.action for c in plan.changes} == {KEEP} and not plan.changed
    assert len(plan.changes) == 21  # 7 scripts: the pack gained outage_confirmed


def test_a_rule_holding_a_generated_secret_is_no_drift_without_a_configured_one(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    listing(mocked, Listed.complete(), rules=ours())
    plan = automation().plan(policy, PUBLIC)
    assert [(c.action, c.object_id) for c in rule_changes(plan)] == [(KEEP, "11"), (KEEP, "12")]
    assert not plan.changed


def test_a_configured_secret_the_rules_do_not_send_is_drift(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    listing(mocked, Listed.complete(), rules=ours())
    plan = automation(CONFIGURED).plan(policy, PUBLIC)
    assert [(c.action, c.object_id, c.fields) for c in plan.drift] == [
        (UPDATE, "11", ("actions",)), (UPDATE, "12", ("actions",))]
    [detail] = plan.drift[0].details
    assert detail.field == "actions"
    assert detail.before[0]["custom_headers"] == {fd.SECRET_HEADER: "<secret>"}
    assert CONFIGURED not in repr(plan) and READ_BACK not in repr(plan)
    assert all(CONFIGURED not in line and READ_BACK not in line for line in plan.lines())


def test_foreign_objects_are_never_in_a_plan(mocked: responses.RequestsMock,
                                             policy: Policy) -> None:
    look_alike = rule(fd.REPLY_RULE_NAME, READ_BACK, 5,
                      name=fd.REPLY_RULE_NAME.removeprefix(fd.PREFIX).strip())
    copy_of = rule(fd.REPLY_RULE_NAME, READ_BACK, 6, name=f"Copy of {fd.REPLY_RULE_NAME}")
    theirs = {"id": 7, "name": "Route VIPs", "active": True, "conditions": [],
              "actions": [{"field_name": "priority", "value": 4}]}
    account = Listed.complete()
    account.rules[1].append({**theirs, "id": 8})
    account.slas.append({"id": 9, "name": "General inquiry", "active": True})
    account.folders.append({"id": 78, "name": "Agent scripts"})
    listing(mocked, account, rules=[look_alike, copy_of, theirs])
    plan = automation().plan(policy, PUBLIC)
    assert [c.action for c in rule_changes(plan)] == [CREATE, CREATE]
    assert {c.object_id for c in plan.changes} & {"5", "6", "7", "8", "9", "78"} == set()
    mocked.post(RULES, json={"id": 101})
    result = automation().apply(policy, PUBLIC)
    # Their rules neither lend a secret nor are written.
    assert result.secret == GENERATED
    assert [(m, u) for m, u, _ in writes(mocked)] == [("POST", RULES), ("POST", RULES)]


# -- apply ----------------------------------------------------------------------------------------


def test_apply_on_an_empty_account_creates_everything_in_order(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    listing(mocked)
    for path, first in (("sla_policies", 500), ("automations/1/rules", 200),
                        ("automations/3/rules", 300), ("automations/4/rules", 400),
                        ("canned_responses", 700)):
        for n in range(6):
            mocked.post(f"{API}/{path}", json={"id": first + n})
    mocked.post(f"{API}/canned_response_folders", json={"id": FOLDER_ID, "name": fd.FOLDER_NAME})
    told: list[Change] = []
    result = automation().apply(policy, PUBLIC, progress=told.append)
    objects = want(GENERATED)
    assert writes(mocked) == [
        *[("POST", f"{API}/sla_policies", b) for b in objects.sla_policies],
        *[("POST", f"{API}/automations/1/rules", b) for b in objects.creation_rules],
        *[("POST", f"{API}/automations/3/rules", b) for b in objects.time_rules],
        ("POST", f"{API}/canned_response_folders", {"name": fd.FOLDER_NAME}),
        *[("POST", f"{API}/canned_responses", b) for b in objects.canned_responses],
        *[("POST", RULES, b) for b in objects.rules]]
    assert {b["folder_id"] for b in objects.canned_responses} == {FOLDER_ID}
    assert result.secret == GENERATED and result.webhook_id is None
    assert told == list(result.plan.drift) and len(told) == len(writes(mocked))
    assert [c.action for c in result.plan.changes] == [CREATE] * 21


def test_a_second_apply_writes_nothing_and_returns_the_secret_read_back(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    listing(mocked, Listed.complete())
    told: list[Change] = []
    result = automation().apply(policy, PUBLIC, progress=told.append)
    assert writes(mocked) == [] and told == []
    assert result.secret == READ_BACK and result.webhook_id is None
    assert result.lines() == ["nothing to change: the helpdesk matches the policy"]


def test_a_hand_edited_sla_policy_is_put_back_whole(mocked: responses.RequestsMock,
                                                    policy: Policy) -> None:
    account = Listed.complete()
    general = account.slas[1]
    general["sla_target"]["priority_2"]["resolve_within"] = 3600
    general.pop("escalation")
    listing(mocked, account)
    mocked.put(f"{API}/sla_policies/501", json={"id": 501})
    result = automation().apply(policy, PUBLIC)
    [change] = result.plan.drift
    assert (change.action, change.kind, change.object_id, change.fields) == (
        UPDATE, "SLA policy", "501", ("sla_target", "escalation"))
    assert change.details[1] == FieldChange("escalation", None,
                                            want().sla_policies[0]["escalation"])
    assert change.note.startswith("first response 10 minutes")
    [(method, url, body)] = writes(mocked)
    assert (method, url, body) == ("PUT", f"{API}/sla_policies/501", want().sla_policies[0])


def test_an_escalation_freshdesk_holds_but_the_pack_drops_is_cleared(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    account = Listed.complete()
    account.slas[3]["escalation"] = {"response": {"escalation_time": 0, "agent_ids": [5]}}
    listing(mocked, account)
    mocked.put(f"{API}/sla_policies/503", json={"id": 503})
    automation().apply(policy, PUBLIC)
    [(_, _, body)] = writes(mocked)
    assert body["escalation"] == {}  # PUT replaces: an empty escalation removes it


def test_a_leftover_sla_policy_is_deactivated_once_and_the_default_never_touched(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    account = Listed.complete()
    account.slas += [{"id": 600, "name": "[sms-connector] Returns", "active": True},
                     {"id": 601, "name": "[sms-connector] Old", "active": False},
                     {"id": 2, "name": "[sms-connector] default?", "is_default": True,
                      "active": True}]
    listing(mocked, account)
    mocked.put(f"{API}/sla_policies/600", json={"id": 600})
    plan = automation().apply(policy, PUBLIC).plan
    [change] = plan.drift
    assert change.line() == ("delete  SLA policy '[sms-connector] Returns' #600 - Freshdesk SLA "
                             "policies cannot be deleted: deactivated (active false)")
    assert writes(mocked) == [("PUT", f"{API}/sla_policies/600", {"active": False})]


def test_a_leftover_canned_response_is_retired_and_then_left_alone(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    account = Listed.complete()
    account.responses += [
        {"id": 790, "title": "[sms-connector] Old script", "folder_id": FOLDER_ID,
         "content_html": "<div>x</div>"},
        {"id": 791, "title": "[sms-connector] Retired: Older", "folder_id": FOLDER_ID,
         "content_html": "<div>y</div>"}]
    listing(mocked, account)
    mocked.put(f"{API}/canned_responses/790", json={"id": 790})
    [change] = automation().apply(policy, PUBLIC).plan.drift
    assert (change.action, change.kind, change.object_id) == (DELETE, "canned response", "790")
    assert "cannot be deleted" in change.note
    assert writes(mocked) == [("PUT", f"{API}/canned_responses/790", {
        "title": "[sms-connector] Retired: Old script", "visibility": 1})]


def test_a_hand_edited_canned_response_is_restored(mocked: responses.RequestsMock,
                                                   policy: Policy) -> None:
    account = Listed.complete()
    account.responses[0]["content_html"] = '<div dir="ltr">Call us maybe</div>'
    listing(mocked, account)
    mocked.put(f"{API}/canned_responses/701", json={"id": 701})
    [change] = automation().apply(policy, PUBLIC).plan.drift
    assert change.fields == ("content_html",)
    assert writes(mocked) == [("PUT", f"{API}/canned_responses/701",
                               want().canned_responses[0])]


def test_a_configured_secret_replaces_the_one_the_rules_send(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    listing(mocked, Listed.complete())
    mocked.put(f"{RULES}/11", json={"id": 11})
    mocked.put(f"{RULES}/12", json={"id": 12})
    result = automation(CONFIGURED).apply(policy, PUBLIC)
    rules = want(CONFIGURED).rules
    # The whole rule is sent: lists replace, so hand-added conditions / actions go too.
    assert writes(mocked) == [("PUT", f"{RULES}/11", rules[0]), ("PUT", f"{RULES}/12", rules[1])]
    assert result.secret == CONFIGURED


def test_the_reply_rules_secret_wins_and_a_rule_without_one_is_repaired(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    status, reply = ours()[1], ours()[0]
    status["actions"][0]["custom_headers"] = {}
    listing(mocked, Listed.complete(), rules=[status, reply])  # listed in another order
    mocked.put(f"{RULES}/12", json={"id": 12})
    result = automation().apply(policy, PUBLIC)
    [(method, url, body)] = writes(mocked)
    assert (method, url, sent_secret(body)) == ("PUT", f"{RULES}/12", READ_BACK)
    assert result.secret == READ_BACK


def test_a_rule_under_an_old_name_hands_its_secret_on_and_goes(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    old = rule(fd.REPLY_RULE_NAME, READ_BACK, 9, name="[sms-connector] Send agent replies")
    listing(mocked, Listed.complete(), rules=[old])
    mocked.post(RULES, json={"id": 101})
    mocked.post(RULES, json={"id": 102})
    mocked.delete(f"{RULES}/9", status=204)
    result = automation().apply(policy, PUBLIC)
    assert result.plan.drift[-1].line() == (
        "delete  automation rule '[sms-connector] Send agent replies' #9")
    made = writes(mocked)
    assert [(m, u) for m, u, _ in made] == [("POST", RULES), ("POST", RULES),
                                            ("DELETE", f"{RULES}/9")]
    assert {sent_secret(b) for _, _, b in made[:2]} == {READ_BACK} == {result.secret}


def test_of_two_copies_the_one_that_matches_stays(mocked: responses.RequestsMock,
                                                  policy: Policy) -> None:
    edited = rule(fd.REPLY_RULE_NAME, READ_BACK, 11, active=False)
    copy_ = rule(fd.REPLY_RULE_NAME, READ_BACK, 13)
    listing(mocked, Listed.complete(), rules=[edited, copy_, ours()[1]])
    mocked.delete(f"{RULES}/11", status=204)
    plan = automation().apply(policy, PUBLIC).plan
    assert [(c.action, c.object_id) for c in rule_changes(plan)] == [
        (KEEP, "13"), (KEEP, "12"), (DELETE, "11")]
    assert [(m, u) for m, u, _ in writes(mocked)] == [("DELETE", f"{RULES}/11")]


def test_a_hand_edit_is_repaired_with_the_fields_named(mocked: responses.RequestsMock,
                                                       policy: Policy) -> None:
    reply, status = ours()
    reply["conditions"] = []
    reply["performer"] = {"type": "3"}
    listing(mocked, Listed.complete(), rules=[reply, status])
    mocked.put(f"{RULES}/11", json={"id": 11})
    plan = automation().apply(policy, PUBLIC).plan
    assert plan.drift[0].line() == (
        f"update  automation rule '{fd.REPLY_RULE_NAME}' #11 (performer, conditions)")
    [(method, url, body)] = writes(mocked)
    assert (method, url) == ("PUT", f"{RULES}/11")
    assert body == want().rules[0]


def test_an_interrupted_apply_is_completed_by_the_next(mocked: responses.RequestsMock,
                                                       policy: Policy) -> None:
    account = Listed.complete()
    # The first run made the SLA policies and the routing rules, then stopped.
    account.rules[3], account.rules[4] = [], []
    account.folders, account.responses = [], []
    listing(mocked, account)
    mocked.post(f"{API}/automations/3/rules", json={"id": 301})
    mocked.post(f"{API}/canned_response_folders", json={"id": FOLDER_ID})
    mocked.post(f"{API}/canned_responses", json={"id": 700})
    mocked.post(RULES, json={"id": 400})
    result = automation().apply(policy, PUBLIC)
    assert [(c.action, c.kind) for c in result.plan.drift] == (
        [(CREATE, "automation rule"), (CREATE, "canned response folder")]
        + [(CREATE, "canned response")] * 7 + [(CREATE, "automation rule")] * 2)


# -- reading --------------------------------------------------------------------------------------


def test_pages_are_followed_on_the_configured_base(mocked: responses.RequestsMock,
                                                   policy: Policy) -> None:
    account = Listed.complete()
    account.rules[4] = []
    listing(mocked, account)
    # Freshdesk builds the link from its own host; the credentials go only to ours.
    mocked.replace(responses.GET, RULES, json=[ours()[0]],
                   headers={"Link": '<https://acme.freshdesk.com/api/v2/automations/4/rules?'
                                    'per_page=100&page=2>; rel="next"'},
                   match=[matchers.query_param_matcher({"per_page": "100", "page": "1"})])
    mocked.get(RULES, json=[ours()[1]],
               match=[matchers.query_param_matcher({"per_page": "100", "page": "2"})])
    plan = automation().plan(policy, PUBLIC)
    assert [c.action for c in rule_changes(plan)] == [KEEP, KEEP]
    assert [c.request.url for c in mocked.calls if c.request.url.startswith(RULES)] == [
        f"{RULES}?per_page=100&page=1", f"{RULES}?per_page=100&page=2"]


class Budget:
    """Records what the calls take from the account's shared budget; a 429 pauses it."""

    def __init__(self) -> None:
        self.taken: list[str] = []
        self.paused: list[tuple[str, float]] = []

    def before_call(self, endpoint_class: str, key: str | None = None) -> None:
        self.taken.append(endpoint_class)

    def record_retry_after(self, endpoint_class: str, seconds: float,
                           key: str | None = None) -> None:
        self.paused.append((endpoint_class, seconds))


def test_every_call_spends_the_accounts_shared_budget(mocked: responses.RequestsMock,
                                                      policy: Policy) -> None:
    budget = Budget()
    client = FreshdeskClient.from_settings(
        FreshdeskSettings(domain="acme", base_url=BASE, api_key=API_KEY), budget=budget)
    account = Listed.complete()
    account.rules[4] = []
    listing(mocked, account)
    mocked.post(RULES, json={"id": 101})
    FreshdeskAutomation(client).apply(policy, PUBLIC)
    # Seven lists (groups, SLA policies, three rule types, folders, our responses), two writes.
    assert budget.taken == ["account"] * 9
    mocked.replace(responses.GET, f"{API}/groups", status=429, headers={"Retry-After": "30"})
    with pytest.raises(RateLimited):
        FreshdeskAutomation(client).plan(policy, PUBLIC)
    assert budget.paused == [("account", 30.0)]


# -- the secret is never logged nor shown ---------------------------------------------------------


def test_the_secret_is_never_logged_nor_shown(mocked: responses.RequestsMock, policy: Policy,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    listing(mocked, Listed.complete())
    mocked.put(f"{RULES}/11", json={"id": 11})
    mocked.put(f"{RULES}/12", status=400, json={
        "description": "Validation failed",
        "errors": [{"field": "actions", "message": "Invalid value", "code": "invalid_value"}]})
    made = automation(CONFIGURED)
    with pytest.raises(ExternalServiceError) as caught:
        made.apply(policy, PUBLIC)
    shown = [caplog.text, repr(made), str(caught.value), repr(caught.value.response)]
    listing(mocked, Listed.complete())
    result = automation().apply(policy, PUBLIC)
    shown += [repr(result), *result.lines(), *result.plan.lines()]
    for text in shown:
        assert CONFIGURED not in text and READ_BACK not in text


# -- refusals say what to do ----------------------------------------------------------------------


def test_a_refused_key_names_the_setting(mocked: responses.RequestsMock,
                                         policy: Policy) -> None:
    mocked.get(f"{API}/groups", status=401, json={"code": "invalid_credentials",
                                        "message": "You have to be logged in to perform "
                                                   "this action."})
    with pytest.raises(ExternalServiceError) as caught:
        automation().plan(policy, PUBLIC)
    assert caught.value.status == 401 and "freshdesk.api_key" in str(caught.value)


def test_a_refused_rule_is_named_with_what_to_do(mocked: responses.RequestsMock,
                                                 policy: Policy) -> None:
    account = Listed.complete()
    account.rules[4] = []
    listing(mocked, account)
    mocked.post(RULES, status=400, json={
        "description": "Validation failed",
        "errors": [{"field": "url", "message": "Invalid URL", "code": "invalid_value"}]})
    with pytest.raises(ExternalServiceError) as caught:
        automation().apply(policy, PUBLIC)
    message = str(caught.value)
    assert fd.REPLY_RULE_NAME in message and "server.public_url" in message
    assert caught.value.status == 400 and caught.value.response["errors"]


def test_owner_groups_are_read_one_by_one_when_the_list_leaves_their_agents_out(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    account = Listed.complete()
    for group in account.groups:
        del group["agent_ids"]
        mocked.get(f"{API}/groups/{group['id']}",
                   json={**group, "agent_ids": [101] if group["id"] == 11 else []})
    listing(mocked, account)
    assert not automation().plan(policy, PUBLIC).changed
    assert sorted(c.request.url.removeprefix(API) for c in mocked.calls
                  if "/groups/" in c.request.url) == [f"/groups/{i}" for i in range(11, 16)]
