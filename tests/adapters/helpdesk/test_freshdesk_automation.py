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
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from responses import matchers

from adapters.helpdesk.freshdesk import FreshdeskClient, FreshdeskSettings
from adapters.helpdesk.freshdesk_automation import FreshdeskAutomation
from adapters.helpdesk.zendesk import ZendeskClient
from connector.errors import ExternalServiceError, RateLimited
from connector.sync.plan import CREATE, DELETE, KEEP, UPDATE
from connector.sync.port import HelpdeskAutomation
from mappings import freshdesk as fd
from mappings.policy import Policy, load_policy

BASE = "https://acme.example.com"
API_KEY = "test-api-key"
RULES = f"{BASE}/api/v2/automations/4/rules"
PUBLIC = "https://sms.example.com"
GENERATED = "generated-secret-0123456789"
CONFIGURED = "configured-secret-abcdef"
READ_BACK = "read-back-secret-zyxwvu"


def client_for(webhook_secret: str = "") -> FreshdeskClient:
    return FreshdeskClient.from_settings(FreshdeskSettings(
        domain="acme", base_url=BASE, api_key=API_KEY, webhook_secret=webhook_secret))


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def automation(secret: str = "") -> FreshdeskAutomation:
    return FreshdeskAutomation(client_for(), webhook_secret=secret,
                               new_secret=lambda: GENERATED)


def rule(title: str, secret: str, rule_id: int, **changes: Any) -> dict[str, Any]:
    """A desired rule as Freshdesk lists it back."""
    [want] = [r for r in fd.desired(load_policy(), PUBLIC, secret).rules if r["name"] == title]
    have = copy.deepcopy(want)
    have.update(id=rule_id, position=rule_id, automation_type_id=4, outdated=False,
                created_at="2025-01-02T03:04:05Z", updated_at="2025-01-02T03:04:05Z",
                performer={**want["performer"], "members": []}, summary={})
    have.update(changes)
    return have


def ours(secret: str = READ_BACK) -> list[dict[str, Any]]:
    return [rule(fd.REPLY_RULE_NAME, secret, 11), rule(fd.STATUS_RULE_NAME, secret, 12)]


def listing(mocked: responses.RequestsMock, rules: list[dict[str, Any]]) -> None:
    mocked.get(RULES, json=rules,
               match=[matchers.query_param_matcher({"per_page": "100", "page": "1"})])


def writes(mocked: responses.RequestsMock) -> list[tuple[str, str, Any]]:
    return [(c.request.method or "", c.request.url or "",
             json.loads(c.request.body) if c.request.body else None)
            for c in mocked.calls if c.request.method != "GET"]


def sent_secret(body: dict[str, Any]) -> str:
    return str(body["actions"][0]["custom_headers"][fd.SECRET_HEADER])


# -- the port and the registry --------------------------------------------------------------------


def test_keeps_the_port() -> None:
    assert isinstance(automation(), HelpdeskAutomation)


def test_for_helpdesk_takes_the_configured_secret_and_refuses_another_helpdesk(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    made = FreshdeskAutomation.for_helpdesk(client_for(webhook_secret=CONFIGURED))
    listing(mocked, ours(CONFIGURED))
    assert made.apply(policy, PUBLIC).secret == CONFIGURED
    with pytest.raises(TypeError):
        FreshdeskAutomation.for_helpdesk(ZendeskClient("https://z.example.com", "a@b.c", "t"))


def test_desired_shows_a_placeholder_never_a_secret(policy: Policy) -> None:
    desired = automation(CONFIGURED).desired(policy, PUBLIC)
    assert [(d.kind, d.title) for d in desired] == [
        ("automation rule", fd.REPLY_RULE_NAME), ("automation rule", fd.STATUS_RULE_NAME)]
    assert CONFIGURED not in repr(desired)
    assert all(sent_secret(dict(d.body)) == fd.SECRET_PLACEHOLDER for d in desired)


# -- plan -----------------------------------------------------------------------------------------


def test_plan_of_an_empty_account_lists_once_with_basic_auth_and_writes_nothing(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    listing(mocked, [])
    plan = automation().plan(policy, PUBLIC)
    assert [(c.action, c.kind, c.title) for c in plan.changes] == [
        (CREATE, "automation rule", fd.REPLY_RULE_NAME),
        (CREATE, "automation rule", fd.STATUS_RULE_NAME)]
    [call] = mocked.calls
    # HTTP Basic with the API key as user and "X" as password (developers.freshdesk.com/api).
    token = base64.b64encode(f"{API_KEY}:X".encode()).decode()
    assert call.request.headers["Authorization"] == f"Basic {token}"


def test_a_rule_holding_a_generated_secret_is_no_drift_without_a_configured_one(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    listing(mocked, ours())
    plan = automation().plan(policy, PUBLIC)
    assert [(c.action, c.object_id) for c in plan.changes] == [(KEEP, "11"), (KEEP, "12")]
    assert not plan.changed


def test_a_configured_secret_the_rules_do_not_send_is_drift(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    listing(mocked, ours())
    plan = automation(CONFIGURED).plan(policy, PUBLIC)
    assert [(c.action, c.object_id, c.fields) for c in plan.changes] == [
        (UPDATE, "11", ("actions",)), (UPDATE, "12", ("actions",))]
    assert all(CONFIGURED not in line and READ_BACK not in line for line in plan.lines())


def test_foreign_rules_are_never_in_a_plan(mocked: responses.RequestsMock,
                                           policy: Policy) -> None:
    look_alike = rule(fd.REPLY_RULE_NAME, READ_BACK, 5,
                      name=fd.REPLY_RULE_NAME.removeprefix(fd.PREFIX).strip())
    copy_of = rule(fd.REPLY_RULE_NAME, READ_BACK, 6, name=f"Copy of {fd.REPLY_RULE_NAME}")
    theirs = {"id": 7, "name": "Route VIPs", "active": True, "conditions": [],
              "actions": [{"field_name": "priority", "value": 4}]}
    listing(mocked, [look_alike, copy_of, theirs])
    plan = automation().plan(policy, PUBLIC)
    assert [c.action for c in plan.changes] == [CREATE, CREATE]
    mocked.post(RULES, json={"id": 101})
    result = automation().apply(policy, PUBLIC)
    # Their rules neither lend a secret nor are written.
    assert result.secret == GENERATED
    assert [(m, u) for m, u, _ in writes(mocked)] == [("POST", RULES), ("POST", RULES)]


# -- apply ----------------------------------------------------------------------------------------


def test_apply_on_an_empty_account_creates_both_rules_with_a_generated_secret(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    listing(mocked, [])
    mocked.post(RULES, json={"id": 101, "name": fd.REPLY_RULE_NAME})
    mocked.post(RULES, json={"id": 102, "name": fd.STATUS_RULE_NAME})
    result = automation().apply(policy, PUBLIC)
    want = fd.desired(policy, PUBLIC, GENERATED).rules
    assert writes(mocked) == [("POST", RULES, want[0]), ("POST", RULES, want[1])]
    assert result.secret == GENERATED and result.webhook_id is None
    assert [c.action for c in result.plan.changes] == [CREATE, CREATE]


def test_a_second_apply_writes_nothing_and_returns_the_secret_read_back(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    listing(mocked, ours())
    result = automation().apply(policy, PUBLIC)
    assert writes(mocked) == []
    assert result.secret == READ_BACK and result.webhook_id is None
    assert result.lines() == ["nothing to change: the helpdesk matches the policy"]


def test_a_configured_secret_replaces_the_one_the_rules_send(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    listing(mocked, ours())
    mocked.put(f"{RULES}/11", json={"id": 11})
    mocked.put(f"{RULES}/12", json={"id": 12})
    result = automation(CONFIGURED).apply(policy, PUBLIC)
    want = fd.desired(policy, PUBLIC, CONFIGURED).rules
    # The whole rule is sent: lists replace, so hand-added conditions / actions go too.
    assert writes(mocked) == [("PUT", f"{RULES}/11", want[0]), ("PUT", f"{RULES}/12", want[1])]
    assert result.secret == CONFIGURED


def test_the_reply_rules_secret_wins_and_a_rule_without_one_is_repaired(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    status, reply = ours()[1], ours()[0]
    status["actions"][0]["custom_headers"] = {}
    listing(mocked, [status, reply])  # listed in another order
    mocked.put(f"{RULES}/12", json={"id": 12})
    result = automation().apply(policy, PUBLIC)
    [(method, url, body)] = writes(mocked)
    assert (method, url, sent_secret(body)) == ("PUT", f"{RULES}/12", READ_BACK)
    assert result.secret == READ_BACK


def test_a_rule_under_an_old_name_hands_its_secret_on_and_goes(
    mocked: responses.RequestsMock, policy: Policy
) -> None:
    old = rule(fd.REPLY_RULE_NAME, READ_BACK, 9, name="[sms-connector] Send agent replies")
    listing(mocked, [old])
    mocked.post(RULES, json={"id": 101})
    mocked.post(RULES, json={"id": 102})
    mocked.delete(f"{RULES}/9", status=204)
    result = automation().apply(policy, PUBLIC)
    assert [c.line() for c in result.plan.changes][2] == (
        "delete  automation rule '[sms-connector] Send agent replies' #9")
    made = writes(mocked)
    assert [(m, u) for m, u, _ in made] == [("POST", RULES), ("POST", RULES),
                                            ("DELETE", f"{RULES}/9")]
    assert {sent_secret(b) for _, _, b in made[:2]} == {READ_BACK} == {result.secret}


def test_of_two_copies_the_one_that_matches_stays(mocked: responses.RequestsMock,
                                                  policy: Policy) -> None:
    edited = rule(fd.REPLY_RULE_NAME, READ_BACK, 11, active=False)
    copy_ = rule(fd.REPLY_RULE_NAME, READ_BACK, 13)
    listing(mocked, [edited, copy_, ours()[1]])
    mocked.delete(f"{RULES}/11", status=204)
    plan = automation().apply(policy, PUBLIC).plan
    assert [(c.action, c.object_id) for c in plan.changes] == [
        (KEEP, "13"), (KEEP, "12"), (DELETE, "11")]
    assert [(m, u) for m, u, _ in writes(mocked)] == [("DELETE", f"{RULES}/11")]


def test_a_hand_edit_is_repaired_with_the_fields_named(mocked: responses.RequestsMock,
                                                       policy: Policy) -> None:
    reply, status = ours()
    reply["conditions"] = []
    reply["performer"] = {"type": "3"}
    listing(mocked, [reply, status])
    mocked.put(f"{RULES}/11", json={"id": 11})
    plan = automation().apply(policy, PUBLIC).plan
    assert plan.drift[0].line() == (
        f"update  automation rule '{fd.REPLY_RULE_NAME}' #11 (performer, conditions)")
    [(method, url, body)] = writes(mocked)
    assert (method, url) == ("PUT", f"{RULES}/11")
    assert body == fd.desired(policy, PUBLIC, READ_BACK).rules[0]


# -- reading --------------------------------------------------------------------------------------


def test_pages_are_followed_on_the_configured_base(mocked: responses.RequestsMock,
                                                   policy: Policy) -> None:
    # Freshdesk builds the link from its own host; the credentials go only to ours.
    mocked.get(RULES, json=[ours()[0]],
               headers={"Link": '<https://acme.freshdesk.com/api/v2/automations/4/rules?'
                                'per_page=100&page=2>; rel="next"'},
               match=[matchers.query_param_matcher({"per_page": "100", "page": "1"})])
    mocked.get(RULES, json=[ours()[1]],
               match=[matchers.query_param_matcher({"per_page": "100", "page": "2"})])
    plan = automation().plan(policy, PUBLIC)
    assert [c.action for c in plan.changes] == [KEEP, KEEP]
    assert [c.request.url for c in mocked.calls] == [
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
    listing(mocked, [])
    mocked.post(RULES, json={"id": 101})
    FreshdeskAutomation(client).apply(policy, PUBLIC)
    assert budget.taken == ["account"] * 3
    mocked.get(RULES, status=429, headers={"Retry-After": "30"})
    with pytest.raises(RateLimited):
        FreshdeskAutomation(client).plan(policy, PUBLIC)
    assert budget.paused == [("account", 30.0)]


# -- the secret is never logged nor shown ---------------------------------------------------------


def test_the_secret_is_never_logged_nor_shown(mocked: responses.RequestsMock, policy: Policy,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    listing(mocked, ours())
    mocked.put(f"{RULES}/11", json={"id": 11})
    mocked.put(f"{RULES}/12", status=400, json={
        "description": "Validation failed",
        "errors": [{"field": "actions", "message": "Invalid value", "code": "invalid_value"}]})
    made = automation(CONFIGURED)
    with pytest.raises(ExternalServiceError) as caught:
        made.apply(policy, PUBLIC)
    shown = [caplog.text, repr(made), str(caught.value), repr(caught.value.response)]
    listing(mocked, ours())
    result = automation().apply(policy, PUBLIC)
    shown += [repr(result), *result.lines(), *result.plan.lines()]
    for text in shown:
        assert CONFIGURED not in text and READ_BACK not in text


# -- refusals say what to do ----------------------------------------------------------------------


def test_a_refused_key_names_the_setting(mocked: responses.RequestsMock,
                                         policy: Policy) -> None:
    mocked.get(RULES, status=401, json={"code": "invalid_credentials",
                                        "message": "You have to be logged in to perform "
                                                   "this action."})
    with pytest.raises(ExternalServiceError) as caught:
        automation().plan(policy, PUBLIC)
    assert caught.value.status == 401 and "freshdesk.api_key" in str(caught.value)


def test_a_refused_rule_is_named_with_what_to_do(mocked: responses.RequestsMock,
                                                 policy: Policy) -> None:
    listing(mocked, [])
    mocked.post(RULES, status=400, json={
        "description": "Validation failed",
        "errors": [{"field": "url", "message": "Invalid URL", "code": "invalid_value"}]})
    with pytest.raises(ExternalServiceError) as caught:
        automation().apply(policy, PUBLIC)
    message = str(caught.value)
    assert fd.REPLY_RULE_NAME in message and "server.public_url" in message
    assert caught.value.status == 400 and caught.value.response["errors"]
