"""mappings.freshdesk: the automation rules policy apply installs, the secret they send, and how
a rule as Freshdesk lists it compares."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from mappings import freshdesk as fd
from mappings.policy import load_policy

URL = "https://sms.example.com/"
SECRET = "s3cret-value"


@pytest.fixture(scope="module")
def objects() -> fd.FreshdeskObjects:
    return fd.desired(load_policy(), URL, SECRET)


def listed(rule: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``rule`` as Freshdesk lists it: what it adds, numbers as strings, the body a string."""
    have = copy.deepcopy(rule)
    [action] = have["actions"]
    action["content"] = json.dumps(action["content"], indent=2)
    action["content_layout"] = 2
    action["custom_headers"] = {fd.SECRET_HEADER.lower(): SECRET}
    have.update(
        id=82000163682, position=7, automation_type_id=4, outdated=False,
        affected_tickets_count=3, last_updated_by=11, summary={"performer": "Agent"},
        created_at="2025-01-02T03:04:05Z", updated_at="2025-01-02T03:04:05Z",
        performer={"type": str(rule["performer"]["type"]), "members": []},
        conditions=[{"match_type": "all", "properties": [
            {"field_name": "tag_names", "operator": "in", "value": ["sms"]}]}],
    )
    have.update(changes)
    return have


def test_two_type_4_rules_call_the_connector(objects):
    reply, status = objects.rules
    assert reply["name"] == "[sms-connector] Text agent replies to the customer"
    assert status["name"] == "[sms-connector] Tell the connector a ticket's status changed"
    assert reply["performer"] == {"type": 1}  # agent: a customer's note raises reply_sent too
    assert reply["events"] == [{"field_name": "reply_sent"}]
    assert status["performer"] == {"type": 3}
    assert status["events"] == [{"field_name": "status", "from": "--", "to": "--"}]
    for rule, event in ((reply, "reply_sent"), (status, "status")):
        assert rule["active"] is True and "position" not in rule
        assert rule["conditions"] == [{"name": "condition_set_1", "match_type": "all",
                                       "properties": [{"resource_type": "ticket",
                                                       "field_name": "tag_names",
                                                       "operator": "in", "value": ["sms"]}]}]
        assert rule["actions"] == [{
            "field_name": "trigger_webhook", "request_type": "POST",
            "url": "https://sms.example.com/webhooks/helpdesk/freshdesk",
            "custom_headers": {"X-Sms-Connector-Secret": SECRET},
            "content_type": "JSON", "content_layout": "2",
            "content": {"ticket_id": "{{ticket.id}}", "event": event}}]


def test_every_rule_carries_the_prefix(objects):
    assert all(fd.owned(r["name"]) for r in objects.rules)
    for name in (None, "", "Text agent replies", "Copy of [sms-connector] x", " [sms-connector]"):
        assert not fd.owned(name)


def test_without_a_secret_the_rules_show_a_placeholder():
    for rule in fd.desired(load_policy(), URL).rules:
        assert fd.rule_secret(rule) == fd.SECRET_PLACEHOLDER


def test_the_secret_is_read_back_whatever_the_header_case(objects):
    reply, status = objects.rules
    assert fd.rule_secret(reply) == SECRET
    assert fd.rule_secret(listed(reply)) == SECRET
    as_string = listed(reply)
    as_string["actions"][0]["custom_headers"] = json.dumps({"x-SMS-connector-secret": "abc"})
    assert fd.rule_secret(as_string) == "abc"
    assert fd.rule_secret({"actions": [{"field_name": "add_tag", "value": "x"}]}) is None
    assert fd.rule_secret({"actions": [{"field_name": "trigger_webhook"}]}) is None
    assert fd.rule_secret({}) is None
    bare = listed(status, actions=[{**status["actions"][0], "custom_headers": {}}])
    assert fd.first_secret([bare, listed(reply)]) == SECRET
    assert fd.first_secret([bare]) is None


def test_comparison_ignores_what_freshdesk_adds_and_value_spelling(objects):
    for rule in objects.rules:
        assert fd.rule_differences(rule, listed(rule)) == []
    _, status = objects.rules
    # A missing from / to is "any"; a one-value "in" is its value, a tag in any case; a
    # trailing slash; a method in lower case.
    echoed = listed(status, events=[{"field_name": "status"}])
    echoed["conditions"][0]["properties"][0]["value"] = "SMS"
    echoed["actions"][0]["url"] += "/"
    echoed["actions"][0]["request_type"] = "post"
    assert fd.rule_differences(status, echoed) == []


@pytest.mark.parametrize(("edit", "fields"), [
    ({"active": False}, ["active"]),
    ({"name": "[sms-connector] old"}, ["name"]),
    ({"performer": {"type": 3}}, ["performer"]),
    ({"performer": {"type": 1, "members": [5]}}, ["performer"]),
    ({"events": [{"field_name": "note_type", "value": "public"}]}, ["events"]),
    ({"conditions": []}, ["conditions"]),
    ({"conditions": [{"name": "condition_set_1", "match_type": "any", "properties": [
        {"resource_type": "ticket", "field_name": "tag_names", "operator": "in",
         "value": ["sms"]}]}]}, ["conditions"]),
])
def test_comparison_names_what_differs(objects, edit, fields):
    reply, _ = objects.rules
    assert fd.rule_differences(reply, listed(reply, **edit)) == fields


def test_every_part_of_the_webhook_action_is_compared(objects):
    reply, _ = objects.rules
    action = reply["actions"][0]
    for key, value in (("url", "https://old.example.com/webhooks/helpdesk/freshdesk"),
                       ("custom_headers", {fd.SECRET_HEADER: "another"}),
                       ("custom_headers", {}),
                       ("content", {"ticket_id": "{{ticket.id}}"}),
                       ("content_type", "XML"),
                       ("auth_header", {"api_key": "k"}),
                       ("request_type", "PUT")):
        have = listed(reply)
        have["actions"] = [{**action, key: value}]
        assert fd.rule_differences(reply, have) == ["actions"], key
    added = listed(reply)
    added["actions"].append({"field_name": "add_tag", "value": ["texted"]})
    assert fd.rule_differences(reply, added) == ["actions"]


def test_a_configured_secret_that_differs_is_drift(objects):
    reply, _ = objects.rules
    other = fd.desired(load_policy(), URL, "another").rules[0]
    assert fd.rule_differences(other, listed(reply)) == ["actions"]
