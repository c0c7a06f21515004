"""policy_sync against the sandbox Zendesk (real HTTP): plan, apply, idempotence, ownership."""

from __future__ import annotations

import pytest

from adapters.helpdesk.zendesk import ZendeskClient
from connector.config import settings_from_dict
from connector.sandbox.runner import start_sandbox
from connector.sandbox.stack import ZENDESK_EMAIL, ZENDESK_TOKEN
from connector.store import make_engine, reading, schema
from connector.sync.policy import (
    WEBHOOK_ID_KEY,
    WEBHOOK_SECRET_KEY,
    apply,
    kv_get,
    kv_set,
    make_plan,
    webhook_secret,
)
from mappings import zendesk as zd
from mappings.policy import load_policy

PUBLIC = "https://sms.example.com"


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(zendesk_port=0, twilio_port=0) as running:
        yield running


@pytest.fixture
def client(sandbox):
    client = ZendeskClient(sandbox.zendesk_url, ZENDESK_EMAIL, ZENDESK_TOKEN)
    yield client
    # Leave the module's sandbox as found: drop every trigger and webhook made here.
    for trigger in client.list_triggers():
        client.delete_trigger(trigger["id"])
    for hook in client.list_webhooks():
        client._request("delete_webhook", "DELETE", f"/webhooks/{hook['id']}")


@pytest.fixture
def engine(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    schema.upgrade(eng)
    yield eng
    eng.dispose()


def actions(plan) -> list[tuple[str, str]]:
    return [(c.action, c.kind) for c in plan.changes]


def test_first_plan_creates_everything_and_apply_twice_changes_nothing(client, engine):
    policy = load_policy()
    plan = make_plan(client, policy, PUBLIC)
    assert actions(plan) == [("create", "webhook"), ("create", "trigger category"),
                             ("create", "trigger")]
    first = apply(client, engine, policy, PUBLIC)
    assert first.secret_stored and first.plan.changed
    calls_before = client.calls["total"]
    second = apply(client, engine, policy, PUBLIC)
    assert not second.plan.changed and not second.secret_stored
    assert second.lines() == ["nothing to change: the helpdesk matches the policy"]
    # The second run read (3 lists + the secret) and wrote nothing.
    assert client.calls["total"] - calls_before == 4
    assert {k for k in client.calls if k.startswith(("create", "update", "delete"))} == {
        "create_webhook", "create_trigger_category", "create_trigger"}
    with reading(engine) as conn:
        hook_id = kv_get(conn, WEBHOOK_ID_KEY)
        assert kv_get(conn, WEBHOOK_SECRET_KEY) == client.webhook_signing_secret(str(hook_id))


def test_drift_is_repaired_and_foreign_objects_are_left_alone(client, engine):
    policy = load_policy()
    apply(client, engine, policy, PUBLIC)
    theirs = client.create_trigger({"title": "Route VIPs", "conditions": {"all": [
        {"field": "current_tags", "operator": "includes", "value": "vip"}]},
        "actions": [{"field": "priority", "value": "high"}]})
    ours = next(t for t in client.list_triggers() if t["title"] == zd.REPLY_TRIGGER_TITLE)
    client.update_trigger(ours["id"], {"active": False})
    leftover = client.create_trigger({"title": "[sms-connector] old name", "conditions": {"all": [
        {"field": "current_tags", "operator": "includes", "value": "sms"}]},
        "actions": [{"field": "add_tags", "value": "x"}]})
    [hook] = client.list_webhooks()
    client.update_webhook(hook["id"], {**zd.webhook("https://old.example.com")})
    plan = make_plan(client, policy, PUBLIC)
    assert [c.line() for c in plan.changes if c.action != "keep"] == [
        f"update  webhook '{zd.WEBHOOK_NAME}' #{hook['id']} (endpoint)",
        f"update  trigger '{zd.REPLY_TRIGGER_TITLE}' #{ours['id']} (active)",
        f"delete  trigger '[sms-connector] old name' #{leftover['id']}",
    ]
    assert "Route VIPs" not in "\n".join(plan.lines())
    apply(client, engine, policy, PUBLIC)
    assert not make_plan(client, policy, PUBLIC).changed
    titles = {t["title"] for t in client.list_triggers()}
    assert titles == {theirs["title"], zd.REPLY_TRIGGER_TITLE}
    [hook] = client.list_webhooks()
    assert hook["endpoint"] == PUBLIC + zd.WEBHOOK_PATH


def test_rotated_secret_is_picked_up_by_the_next_apply(client, engine):
    policy = load_policy()
    result = apply(client, engine, policy, PUBLIC)
    response = client._request("reset", "POST", f"/webhooks/{result.webhook_id}/signing_secret")
    rotated = response.json()["signing_secret"]["secret"]
    again = apply(client, engine, policy, PUBLIC)
    assert again.secret_stored and not again.plan.changed
    settings = settings_from_dict({"zendesk": {"subdomain": "acme"}})
    with reading(engine) as conn:
        assert webhook_secret(conn, settings) == rotated
    override = settings_from_dict({"zendesk": {"subdomain": "acme", "webhook_secret": "mine"}})
    with reading(engine) as conn:
        assert webhook_secret(conn, override) == "mine"


def test_kv_set_reports_changes(engine):
    with engine.begin() as conn:
        assert kv_set(conn, "a", "1") is True
        assert kv_set(conn, "a", "1") is False
        assert kv_set(conn, "a", "2") is True
        assert kv_get(conn, "a") == "2" and kv_get(conn, "b") is None
