"""Policy sync: the desired helpdesk objects (mappings/zendesk.py) vs what the helpdesk holds →
a plan of create / update / delete / keep → apply, like an infrastructure tool.

Only objects whose title carries the ``[sms-connector]`` prefix are looked at, so an account's own
webhooks and triggers are never touched. Apply is idempotent: every change is derived from the
plan against the live objects, so a second run finds everything ``keep`` and calls no write API.

Zendesk generates each webhook's signing secret; apply reads it
(``GET /api/v2/webhooks/{id}/signing_secret``,
https://developer.zendesk.com/api-reference/webhooks/webhooks-api/webhooks/#show-webhook-signing-secret)
and keeps it in the connector's ``kv`` table, where the webhook route finds it;
``zendesk.webhook_secret`` in the config, when set, overrides it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, select, update

from connector.config import Settings
from connector.store import insert_ignore, kv, reading
from mappings import zendesk as zd
from mappings.policy import Policy

if TYPE_CHECKING:
    from adapters.helpdesk.zendesk import ZendeskClient

WEBHOOK_SECRET_KEY = "zendesk.webhook.signing_secret"
WEBHOOK_ID_KEY = "zendesk.webhook.id"

CREATE, UPDATE, DELETE, KEEP = "create", "update", "delete", "keep"


# ---------------------------------------------------------------------- kv


def kv_get(conn: Connection, key: str) -> str | None:
    value = conn.execute(select(kv.c.value).where(kv.c.key == key)).scalar()
    return None if value is None else str(value)


def kv_add(conn: Connection, key: str, value: str, *, now: float | None = None) -> bool:
    """Insert ``key`` unless it exists; True when this call inserted it."""
    now = time.time() if now is None else now
    return insert_ignore(conn, kv, {"key": key, "value": value, "updated_at": now})


def kv_set(conn: Connection, key: str, value: str, *, now: float | None = None) -> bool:
    """Store ``value``; True when it was new or different."""
    now = time.time() if now is None else now
    if kv_add(conn, key, value, now=now):
        return True
    result = conn.execute(update(kv).where(kv.c.key == key, kv.c.value != value)
                          .values(value=value, updated_at=now))
    return bool(result.rowcount)


def webhook_secret(conn: Connection, settings: Settings) -> str:
    """The secret Zendesk signs webhook deliveries with: the config's, else the stored one."""
    return settings.zendesk.webhook_secret or kv_get(conn, WEBHOOK_SECRET_KEY) or ""


# ---------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Change:
    action: str  # create | update | delete | keep
    kind: str  # webhook | trigger category | trigger
    title: str
    object_id: str | None = None
    fields: tuple[str, ...] = ()

    def line(self) -> str:
        where = f" #{self.object_id}" if self.object_id else ""
        what = f" ({', '.join(self.fields)})" if self.fields else ""
        return f"{self.action:<7} {self.kind} {self.title!r}{where}{what}"


@dataclass
class Plan:
    changes: list[Change]
    webhook: dict[str, Any] | None  # the owned webhook as listed, when there is one
    category: dict[str, Any] | None
    triggers: dict[str, dict[str, Any]]  # desired title → owned trigger as listed
    extra_triggers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(c.action != KEEP for c in self.changes)

    def lines(self) -> list[str]:
        return [c.line() for c in self.changes]


def _first(items: Iterable[dict[str, Any]], key: str, value: str) -> dict[str, Any] | None:
    return next((item for item in items if item.get(key) == value), None)


def make_plan(helpdesk: ZendeskClient, policy: Policy, public_url: str) -> Plan:
    """Read the owned objects (three list calls) and compare them with the desired ones."""
    hooks = [w for w in helpdesk.list_webhooks() if zd.owned(w.get("name"))]
    categories = [c for c in helpdesk.list_trigger_categories() if zd.owned(c.get("name"))]
    triggers = [t for t in helpdesk.list_triggers() if zd.owned(t.get("title"))]
    have_hook = _first(hooks, "name", zd.WEBHOOK_NAME)
    have_category = _first(categories, "name", zd.CATEGORY_NAME)
    want = zd.desired(
        policy, public_url,
        webhook_id=str(have_hook["id"]) if have_hook else zd.NEW_WEBHOOK,
        category_id=str(have_category["id"]) if have_category else zd.NEW_CATEGORY,
    )
    changes: list[Change] = []
    if have_hook is None:
        changes.append(Change(CREATE, "webhook", zd.WEBHOOK_NAME))
    else:
        diff = zd.webhook_differences(want.webhook, have_hook)
        changes.append(Change(UPDATE if diff else KEEP, "webhook", zd.WEBHOOK_NAME,
                              str(have_hook["id"]), tuple(diff)))
    if have_category is None:
        changes.append(Change(CREATE, "trigger category", zd.CATEGORY_NAME))
    else:
        changes.append(Change(KEEP, "trigger category", zd.CATEGORY_NAME,
                              str(have_category["id"])))
    matched: dict[str, dict[str, Any]] = {}
    for trigger in want.triggers:
        have = _first(triggers, "title", trigger["title"])
        if have is None:
            changes.append(Change(CREATE, "trigger", trigger["title"]))
            continue
        matched[trigger["title"]] = have
        diff = zd.trigger_differences(trigger, have)
        changes.append(Change(UPDATE if diff else KEEP, "trigger", trigger["title"],
                              str(have["id"]), tuple(diff)))
    # Owned triggers no longer wanted (renamed in a later version, or a duplicate left by an
    # interrupted run) would keep firing: they go.
    kept_ids = {id(t) for t in matched.values()}
    extra = [t for t in triggers if id(t) not in kept_ids]
    changes.extend(Change(DELETE, "trigger", str(t.get("title")), str(t["id"])) for t in extra)
    return Plan(changes, have_hook, have_category, matched, extra)


# ---------------------------------------------------------------------- apply


@dataclass
class ApplyResult:
    plan: Plan
    webhook_id: str
    secret_stored: bool  # the stored signing secret was missing or different

    def lines(self) -> list[str]:
        lines = [c.line() for c in self.plan.changes if c.action != KEEP]
        if not lines:
            lines.append("nothing to change: the helpdesk matches the policy")
        if self.secret_stored:
            lines.append(f"stored the signing secret of webhook {self.webhook_id}")
        return lines


def apply(helpdesk: ZendeskClient, engine: Engine, policy: Policy, public_url: str) -> ApplyResult:
    """Carry out the plan; then read the webhook's signing secret and keep it."""
    plan = make_plan(helpdesk, policy, public_url)
    want = zd.desired(policy, public_url)
    if plan.webhook is None:
        webhook_id = str(helpdesk.create_webhook(want.webhook)["id"])
    else:
        webhook_id = str(plan.webhook["id"])
        if zd.webhook_differences(want.webhook, plan.webhook):
            # PUT replaces the webhook; Zendesk keeps its signing secret.
            helpdesk.update_webhook(webhook_id, want.webhook)
    if plan.category is None:
        category_id = str(helpdesk.create_trigger_category(want.category)["id"])
    else:
        category_id = str(plan.category["id"])
    want = zd.desired(policy, public_url, webhook_id=webhook_id, category_id=category_id)
    for trigger in want.triggers:
        have = plan.triggers.get(trigger["title"])
        if have is None:
            helpdesk.create_trigger(trigger)
        elif zd.trigger_differences(trigger, have):
            # A PUT replaces conditions and actions entirely: the whole trigger is sent.
            helpdesk.update_trigger(have["id"], trigger)
    for extra in plan.extra_triggers:
        helpdesk.delete_trigger(extra["id"])
    secret = helpdesk.webhook_signing_secret(webhook_id)
    with engine.begin() as conn:
        stored = kv_set(conn, WEBHOOK_SECRET_KEY, secret)
        kv_set(conn, WEBHOOK_ID_KEY, webhook_id)
    return ApplyResult(plan, webhook_id, stored)


def stored_secret(engine: Engine) -> str | None:
    with reading(engine) as conn:
        return kv_get(conn, WEBHOOK_SECRET_KEY)


__all__ = [
    "WEBHOOK_ID_KEY",
    "WEBHOOK_SECRET_KEY",
    "ApplyResult",
    "Change",
    "Plan",
    "apply",
    "kv_add",
    "kv_get",
    "kv_set",
    "make_plan",
    "webhook_secret",
]
