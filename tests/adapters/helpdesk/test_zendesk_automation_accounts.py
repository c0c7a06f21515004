"""``policy apply`` on Zendesk accounts that differ from the default: no trigger categories, and
refusals in either of Zendesk's two error shapes turned into messages that say what to do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from adapters.helpdesk.zendesk import ZendeskClient
from adapters.helpdesk.zendesk_automation import ZendeskAutomation
from connector.errors import ExternalServiceError
from connector.sandbox.runner import Sandbox, start_sandbox
from connector.sandbox.stack import ZENDESK_EMAIL, ZENDESK_TOKEN
from mappings import zendesk as zd
from mappings.policy import Policy, load_policy

PUBLIC_URL = "https://connector.example.com"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    sandbox = start_sandbox(zendesk_port=0, twilio_port=0)
    yield sandbox
    sandbox.stop()


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[ZendeskClient]:
    client = ZendeskClient(sandbox.zendesk_url, ZENDESK_EMAIL, ZENDESK_TOKEN)
    yield client
    for trigger in client.list_triggers():  # each test starts from an account without ours
        if zd.owned(trigger.get("title")):
            client.delete_trigger(trigger["id"])
    for hook in client.list_webhooks():
        if zd.owned(hook.get("name")):
            client._request("delete_webhook", "DELETE", f"/webhooks/{hook['id']}")
    # … nor the rest of what apply makes (SLA policies, automations, macros, schedules).
    for path, key, title in (("/slas/policies", "sla_policies", "title"),
                             ("/automations", "automations", "title"),
                             ("/macros", "macros", "title"),
                             ("/business_hours/schedules", "schedules", "name")):
        for item in client._json("list", "GET", path).get(key) or []:
            if zd.owned(item.get(title)):
                client._request("delete", "DELETE", f"{path}/{item['id']}")
    account(sandbox, trigger_categories=True)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def account(sandbox: Sandbox, **features: bool) -> None:
    requests.post(f"{sandbox.zendesk_url}/_sandbox/account", json=features,
                  timeout=10).raise_for_status()


def test_an_account_without_trigger_categories_gets_the_trigger_without_one(
    sandbox: Sandbox, client: ZendeskClient, policy: Policy
) -> None:
    account(sandbox, trigger_categories=False)
    automation = ZendeskAutomation(client)
    plan = automation.plan(policy, PUBLIC_URL)
    kinds = [c.kind for c in plan.changes]
    assert "trigger category" not in kinds and {"webhook", "trigger"} <= set(kinds)
    assert {c.action for c in plan.changes} == {"create"}
    result = automation.apply(policy, PUBLIC_URL)
    assert result.secret
    ours = [t for t in client.list_triggers() if zd.owned(t["title"])]
    assert zd.REPLY_TRIGGER_TITLE in {t["title"] for t in ours}
    assert all(t["category_id"] is None for t in ours)
    assert "create_trigger_category" not in client.calls
    again = automation.apply(policy, PUBLIC_URL)
    assert not again.plan.changed  # nothing drifts for want of a category


def test_the_stand_in_refuses_categories_as_zendesk_does(
    sandbox: Sandbox, client: ZendeskClient
) -> None:
    account(sandbox, trigger_categories=False)
    with pytest.raises(ExternalServiceError) as caught:
        client.list_trigger_categories()
    assert (caught.value.status, caught.value.code) == (403, "TriggerCategoriesNotEnabled")
    assert caught.value.response == {"errors": [{
        "code": "TriggerCategoriesNotEnabled",
        "title": "Ticket trigger categories are not enabled for your account"}]}


def test_a_webhook_refusal_in_the_errors_shape_says_what_to_do(
    client: ZendeskClient, policy: Policy
) -> None:
    # An endpoint Zendesk will not call: the Webhooks API answers {"errors": [...]}.
    with pytest.raises(ExternalServiceError) as caught:
        ZendeskAutomation(client).apply(policy, "ftp://connector.example.com")
    message = str(caught.value)
    assert "webhook" in message and "server.public_url" in message
    assert caught.value.response["errors"]  # the answer kept as Zendesk gave it


def test_a_refusal_in_the_error_description_shape_says_what_to_do(
    client: ZendeskClient, policy: Policy
) -> None:
    # Not an admin: the Support endpoints answer {"error", "description"}.
    wrong = ZendeskClient(client.base_url, ZENDESK_EMAIL, "not-the-token")
    with pytest.raises(ExternalServiceError) as caught:
        ZendeskAutomation(wrong).plan(policy, PUBLIC_URL)
    assert caught.value.status == 401
    assert "zendesk.email" in str(caught.value) and "zendesk.api_token" in str(caught.value)
