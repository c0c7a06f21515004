"""mappings.zendesk: the webhook and trigger policy apply installs, and how they compare."""

from __future__ import annotations

import json

import pytest

from mappings import zendesk as zd
from mappings.policy import load_policy


@pytest.fixture(scope="module")
def objects() -> zd.ZendeskObjects:
    return zd.desired(load_policy(), "https://sms.example.com/", webhook_id="W1",
                      category_id="10002")


def test_webhook_points_at_the_connector(objects):
    hook = objects.webhook
    assert hook["name"] == "[sms-connector] agent replies"
    assert hook["endpoint"] == "https://sms.example.com/webhooks/helpdesk/zendesk"
    assert (hook["http_method"], hook["request_format"], hook["status"]) == ("POST", "json",
                                                                            "active")
    assert hook["subscriptions"] == ["conditional_ticket_events"]


def test_trigger_fires_on_public_agent_replies_not_on_api_updates_nor_merges(objects):
    [trigger] = objects.triggers
    assert trigger["title"] == "[sms-connector] Send public agent replies as SMS"
    assert trigger["category_id"] == "10002"
    assert trigger["conditions"] == {"all": [
        {"field": "comment_is_public", "operator": "is", "value": "true"},
        {"field": "role", "operator": "is_not", "value": "end_user"},
        {"field": "current_via_id", "operator": "is_not", "value": "5"},
        {"field": "current_via_id", "operator": "is_not", "value": "19"},
        {"field": "current_tags", "operator": "includes", "value": "sms"},
    ], "any": []}
    [action] = trigger["actions"]
    assert action["field"] == "notification_webhook"
    webhook_id, body = action["value"]
    assert webhook_id == "W1" and json.loads(body) == {"ticket_id": "{{ticket.id}}"}


def test_every_object_carries_the_prefix(objects):
    titles = [objects.webhook["name"], objects.category["name"],
              *(t["title"] for t in objects.triggers)]
    assert all(zd.owned(t) for t in titles)
    assert not zd.owned("Notify requester") and not zd.owned(None) and not zd.owned("")


def test_comparison_ignores_what_zendesk_adds_and_value_spelling(objects):
    [trigger] = objects.triggers
    listed = {**trigger, "id": 5, "position": 3, "created_at": "x", "url": "y",
              "category_id": 10002,
              "conditions": {"all": list(reversed(trigger["conditions"]["all"]))},
              "actions": [{"field": "notification_webhook",
                           "value": ["W1", '{"ticket_id":"{{ticket.id}}"}']}]}
    assert zd.trigger_differences(trigger, listed) == []
    listed_hook = {**objects.webhook, "id": "W1", "created_by": "1",
                   "subscriptions": ["conditional_ticket_events"]}
    assert zd.webhook_differences(objects.webhook, listed_hook) == []


def test_comparison_names_what_differs(objects):
    [trigger] = objects.triggers
    edited = {**trigger, "active": False, "conditions": {"all": trigger["conditions"]["all"][:2]},
              "actions": [{"field": "notification_webhook", "value": ["W2", zd.WEBHOOK_BODY]}]}
    assert zd.trigger_differences(trigger, edited) == ["active", "conditions", "actions"]
    moved = {**objects.webhook, "endpoint": "https://old.example.com/hook", "status": "inactive"}
    assert zd.webhook_differences(objects.webhook, moved) == ["status", "endpoint"]


def test_trigger_matches_the_published_schema(objects):
    from tests.connector.sandbox.conftest_zendesk import spec_checker

    checker = spec_checker()
    [trigger] = objects.triggers
    # ActionObject.value is typed string in the spec, but webhook actions take
    # [id, body] (../shared/docs/reference/zendesk.md): check everything else.
    checker.check({**trigger, "actions": [{"field": "notification_webhook", "value": "W1"}]},
                  "TriggerObject")
    checker.check({"trigger_category": objects.category}, "TriggerCategoryRequest")
