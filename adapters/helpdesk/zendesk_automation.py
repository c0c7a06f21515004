"""Policy sync for Zendesk: the objects of mappings/zendesk.py against the account's own.

Owned means the title carries the ``[sms-connector]`` prefix (``zd.owned``): only such webhooks,
trigger categories and triggers are compared, updated or deleted, so an account's own rules are
never touched. Three list calls read the account; every write follows from that reading, so a
second apply finds everything ``keep`` and writes nothing.

Zendesk generates each webhook's signing secret; apply reads it back
(``GET /api/v2/webhooks/{id}/signing_secret``,
https://developer.zendesk.com/api-reference/webhooks/webhooks-api/webhooks/#show-webhook-signing-secret)
so a secret rotated in Zendesk's admin UI reaches the connector on the next apply.

Accounts differ: where trigger categories are not enabled, the category endpoints answer 403
``TriggerCategoriesNotEnabled`` (Trigger Categories in the OpenAPI spec,
https://developer.zendesk.com/api-reference/ticketing/business-rules/trigger_categories/) and the
trigger is created without ``category_id``. A refusal, in either of Zendesk's error shapes, is
raised again with what the admin can do about it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from adapters.helpdesk.zendesk import ZendeskClient
from connector.errors import ExternalServiceError
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
NO_CATEGORIES = "TriggerCategoriesNotEnabled"
READING = "reading the account"

# What an admin can do when Zendesk refuses a step (status → advice; the object named first).
ADVICE = {
    401: "Zendesk did not accept the credentials: check zendesk.email and zendesk.api_token "
         "(an API token of that user, with token access on in the Admin Center)",
    403: "the API user may not manage webhooks and triggers: zendesk.email must be a Zendesk "
         "admin",
}
REFUSED = {
    WEBHOOK: "check server.public_url: Zendesk calls it, so it must be a public http(s) URL",
    CATEGORY: "create the trigger category by hand or ask Zendesk support about trigger "
              "categories on this account",
    TRIGGER: "the account may not offer a condition or action the trigger uses "
             "(GET /api/v2/triggers/definitions lists them); report this message",
}


@dataclass(frozen=True)
class _Reading:
    """The owned objects as listed, matched to the desired ones, and the plan they make."""

    plan: Plan
    webhook: dict[str, Any] | None
    category: dict[str, Any] | None
    categories: bool  # the account has trigger categories
    triggers: dict[str, dict[str, Any]]  # desired title → owned trigger as listed
    extra_triggers: tuple[dict[str, Any], ...]


def _first(items: Iterable[dict[str, Any]], key: str, value: str) -> dict[str, Any] | None:
    return next((item for item in items if item.get(key) == value), None)


class ZendeskAutomation:
    """The webhook, trigger category and triggers that send agent replies to the connector."""

    kind = "zendesk"

    def __init__(self, client: ZendeskClient) -> None:
        self.client = client
        self._step = READING  # what a refusal is about

    def _explained(self, exc: ExternalServiceError) -> ExternalServiceError:
        advice = ADVICE.get(exc.status or 0)
        if advice is None and exc.status in (400, 404, 409, 422):
            advice = REFUSED.get(self._step)
        message = f"{self._step}: {exc}" + (f". What to do: {advice}" if advice else "")
        return ExternalServiceError(message, provider=exc.provider, status=exc.status,
                                    code=exc.code, response=exc.response,
                                    retryable=exc.retryable, retry_after=exc.retry_after)

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
        self._step = READING
        try:
            return self._read(policy, public_url).plan
        except ExternalServiceError as exc:
            raise self._explained(exc) from exc

    def apply(self, policy: Policy, public_url: str, *,
              progress: Callable[[Change], None] | None = None) -> ApplyResult:
        # ``progress`` is accepted for the port; this adapter reports nothing yet.
        self._step = READING
        try:
            return self._apply(policy, public_url)
        except ExternalServiceError as exc:
            raise self._explained(exc) from exc

    def _apply(self, policy: Policy, public_url: str) -> ApplyResult:
        seen = self._read(policy, public_url)
        client = self.client
        want = zd.desired(policy, public_url)
        self._step = WEBHOOK
        if seen.webhook is None:
            webhook_id = str(client.create_webhook(want.webhook)["id"])
        else:
            webhook_id = str(seen.webhook["id"])
            if zd.webhook_differences(want.webhook, seen.webhook):
                # PUT replaces the webhook; Zendesk keeps its signing secret.
                client.update_webhook(webhook_id, want.webhook)
        self._step = CATEGORY
        if not seen.categories:
            category_id = zd.NEW_CATEGORY  # dropped below
        elif seen.category is None:
            category_id = str(client.create_trigger_category(want.category)["id"])
        else:
            category_id = str(seen.category["id"])
        want = zd.desired(policy, public_url, webhook_id=webhook_id, category_id=category_id)
        self._step = TRIGGER
        for trigger in _triggers(want.triggers, seen.categories):
            have = seen.triggers.get(trigger["title"])
            if have is None:
                client.create_trigger(trigger)
            elif zd.trigger_differences(trigger, have):
                # A PUT replaces conditions and actions entirely: the whole trigger is sent.
                client.update_trigger(have["id"], trigger)
        for extra in seen.extra_triggers:
            client.delete_trigger(extra["id"])
        self._step = WEBHOOK
        secret = client.webhook_signing_secret(webhook_id)
        return ApplyResult(seen.plan, secret=secret, webhook_id=webhook_id)

    def _read(self, policy: Policy, public_url: str) -> _Reading:
        """The three list calls, and the plan against the desired objects."""
        client = self.client
        hooks = [w for w in client.list_webhooks() if zd.owned(w.get("name"))]
        try:
            categories = [c for c in client.list_trigger_categories()
                          if zd.owned(c.get("name"))]
            enabled = True
        except ExternalServiceError as exc:
            if exc.status != 403 or exc.code != NO_CATEGORIES:
                raise
            categories, enabled = [], False
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
        if not enabled:
            pass  # nothing to put the trigger in: it goes without a category
        elif have_category is None:
            changes.append(Change(CREATE, CATEGORY, zd.CATEGORY_NAME))
        else:
            changes.append(Change(KEEP, CATEGORY, zd.CATEGORY_NAME, str(have_category["id"])))
        matched: dict[str, dict[str, Any]] = {}
        for trigger in _triggers(want.triggers, enabled):
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
        return _Reading(Plan(tuple(changes)), have_hook, have_category, enabled, matched, extra)


def _triggers(triggers: Iterable[dict[str, Any]],
              categories: bool) -> Iterable[dict[str, Any]]:
    """The desired triggers, without ``category_id`` on an account without categories."""
    for trigger in triggers:
        yield trigger if categories else {k: v for k, v in trigger.items() if k != "category_id"}
