"""Policy sync for Zendesk: the objects of mappings/zendesk.py against the account's own.

Owned means the title carries the ``[sms-connector]`` prefix (``zd.owned``): only such webhooks,
trigger categories and triggers are compared, updated or deleted, so an account's own rules are
never touched. Three list calls read the account; every write follows from that reading, so a
second apply finds everything ``keep`` and writes nothing.

Zendesk generates each webhook's signing secret; apply reads it back
(``GET /api/v2/webhooks/{id}/signing_secret``,
https://developer.zendesk.com/api-reference/webhooks/webhooks-api/webhooks/#show-webhook-signing-secret)
so a secret rotated in Zendesk's admin UI reaches the connector on the next apply.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from adapters.helpdesk.zendesk import ZendeskClient
from connector.ports import Helpdesk
from connector.sync.plan import (
    CREATE,
    DELETE,
    KEEP,
    UPDATE,
    ApplyResult,
    Change,
    DesiredObject,
    Plan,
)
from mappings import zendesk as zd
from mappings.policy import Policy

__all__ = ["ZendeskAutomation"]

WEBHOOK, CATEGORY, TRIGGER = "webhook", "trigger category", "trigger"


@dataclass(frozen=True)
class _Reading:
    """The owned objects as listed, matched to the desired ones, and the plan they make."""

    plan: Plan
    webhook: dict[str, Any] | None
    category: dict[str, Any] | None
    triggers: dict[str, dict[str, Any]]  # desired title → owned trigger as listed
    extra_triggers: tuple[dict[str, Any], ...]


def _first(items: Iterable[dict[str, Any]], key: str, value: str) -> dict[str, Any] | None:
    return next((item for item in items if item.get(key) == value), None)


class ZendeskAutomation:
    """The webhook, trigger category and triggers that send agent replies to the connector."""

    kind = "zendesk"

    def __init__(self, client: ZendeskClient) -> None:
        self.client = client

    @classmethod
    def for_helpdesk(cls, helpdesk: Helpdesk) -> ZendeskAutomation:
        if not isinstance(helpdesk, ZendeskClient):
            raise TypeError(f"ZendeskAutomation needs a ZendeskClient, not {type(helpdesk)!r}")
        return cls(helpdesk)

    def desired(self, policy: Policy, public_url: str) -> tuple[DesiredObject, ...]:
        want = zd.desired(policy, public_url)
        return (
            DesiredObject(WEBHOOK, zd.WEBHOOK_NAME, want.webhook),
            DesiredObject(CATEGORY, zd.CATEGORY_NAME, want.category),
            *(DesiredObject(TRIGGER, t["title"], t) for t in want.triggers),
        )

    def plan(self, policy: Policy, public_url: str) -> Plan:
        return self._read(policy, public_url).plan

    def apply(self, policy: Policy, public_url: str) -> ApplyResult:
        seen = self._read(policy, public_url)
        client = self.client
        want = zd.desired(policy, public_url)
        if seen.webhook is None:
            webhook_id = str(client.create_webhook(want.webhook)["id"])
        else:
            webhook_id = str(seen.webhook["id"])
            if zd.webhook_differences(want.webhook, seen.webhook):
                # PUT replaces the webhook; Zendesk keeps its signing secret.
                client.update_webhook(webhook_id, want.webhook)
        if seen.category is None:
            category_id = str(client.create_trigger_category(want.category)["id"])
        else:
            category_id = str(seen.category["id"])
        want = zd.desired(policy, public_url, webhook_id=webhook_id, category_id=category_id)
        for trigger in want.triggers:
            have = seen.triggers.get(trigger["title"])
            if have is None:
                client.create_trigger(trigger)
            elif zd.trigger_differences(trigger, have):
                # A PUT replaces conditions and actions entirely: the whole trigger is sent.
                client.update_trigger(have["id"], trigger)
        for extra in seen.extra_triggers:
            client.delete_trigger(extra["id"])
        secret = client.webhook_signing_secret(webhook_id)
        return ApplyResult(seen.plan, secret=secret, webhook_id=webhook_id)

    def _read(self, policy: Policy, public_url: str) -> _Reading:
        """The three list calls, and the plan against the desired objects."""
        client = self.client
        hooks = [w for w in client.list_webhooks() if zd.owned(w.get("name"))]
        categories = [c for c in client.list_trigger_categories() if zd.owned(c.get("name"))]
        triggers = [t for t in client.list_triggers() if zd.owned(t.get("title"))]
        have_hook = _first(hooks, "name", zd.WEBHOOK_NAME)
        have_category = _first(categories, "name", zd.CATEGORY_NAME)
        want = zd.desired(
            policy, public_url,
            webhook_id=str(have_hook["id"]) if have_hook else zd.NEW_WEBHOOK,
            category_id=str(have_category["id"]) if have_category else zd.NEW_CATEGORY,
        )
        changes: list[Change] = []
        if have_hook is None:
            changes.append(Change(CREATE, WEBHOOK, zd.WEBHOOK_NAME))
        else:
            diff = zd.webhook_differences(want.webhook, have_hook)
            changes.append(Change(UPDATE if diff else KEEP, WEBHOOK, zd.WEBHOOK_NAME,
                                  str(have_hook["id"]), tuple(diff)))
        if have_category is None:
            changes.append(Change(CREATE, CATEGORY, zd.CATEGORY_NAME))
        else:
            changes.append(Change(KEEP, CATEGORY, zd.CATEGORY_NAME, str(have_category["id"])))
        matched: dict[str, dict[str, Any]] = {}
        for trigger in want.triggers:
            have = _first(triggers, "title", trigger["title"])
            if have is None:
                changes.append(Change(CREATE, TRIGGER, trigger["title"]))
                continue
            matched[trigger["title"]] = have
            diff = zd.trigger_differences(trigger, have)
            changes.append(Change(UPDATE if diff else KEEP, TRIGGER, trigger["title"],
                                  str(have["id"]), tuple(diff)))
        # Owned triggers no longer wanted (renamed in a later version, or a duplicate left by an
        # interrupted run) would keep firing: they go.
        kept = {id(t) for t in matched.values()}
        extra = tuple(t for t in triggers if id(t) not in kept)
        changes.extend(Change(DELETE, TRIGGER, str(t.get("title")), str(t["id"])) for t in extra)
        return _Reading(Plan(tuple(changes)), have_hook, have_category, matched, extra)
