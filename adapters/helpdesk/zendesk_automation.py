"""Policy sync for Zendesk: the objects of mappings/zendesk.py against the account's own.

Owned means the title (or name) carries the ``[sms-connector]`` prefix (``zd.owned``): only such
schedules, SLA policies, trigger categories, triggers, automations, macros and webhooks are
compared, updated or deleted, so an account's own rules are never touched. Groups are the team's:
looked up by name (``GET /api/v2/groups``), created only when the pack says
``groups.create_missing``, never changed or deleted; a name the account lacks otherwise stops the
plan with a ConfigurationError naming the pack key (``scenarios[3].group``).

One list call per kind (and one for the schedule's holidays) reads the account; every write
follows from that reading, in the order of ``zd.ZendeskObjects.ordered`` so that what a trigger
names exists before it; ``progress`` hears of each object once written. A second apply finds
everything ``keep`` and writes nothing; an apply stopped half-way (a refused or lost write) leaves
objects a next run finds by title and completes: a schedule without its workweek is an update,
a duplicate left by a creation whose answer was lost is a delete.

The calls go through the Zendesk adapter's request plumbing (``_json`` / ``_paged`` /
``_request``), so they spend the account's rate budget and its errors are translated there.

Zendesk generates each webhook's signing secret; apply reads it back
(``GET /api/v2/webhooks/{id}/signing_secret``,
https://developer.zendesk.com/api-reference/webhooks/webhooks-api/webhooks/#show-webhook-signing-secret)
so a secret rotated in Zendesk's admin UI reaches the connector on the next apply.

Accounts differ: where trigger categories are not enabled, the category endpoints answer 403
``TriggerCategoriesNotEnabled`` (Trigger Categories in the OpenAPI spec,
https://developer.zendesk.com/api-reference/ticketing/business-rules/trigger_categories/) and the
triggers are created without ``category_id``. A refusal, in either of Zendesk's error shapes, is
raised again with what the admin can do about it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from adapters.helpdesk.zendesk import ZendeskClient
from connector.errors import ConfigurationError, ExternalServiceError
from connector.ports import Helpdesk
from connector.sync.plan import (
    CREATE,
    DELETE,
    KEEP,
    UPDATE,
    ApplyResult,
    Change,
    DesiredObject,
    FieldChange,
    Plan,
)
from mappings import zendesk as zd
from mappings.policy import Policy

__all__ = ["ZendeskAutomation"]

GROUP, SCHEDULE, SLA_POLICY, CATEGORY = zd.GROUP, zd.SCHEDULE, zd.SLA_POLICY, zd.CATEGORY
TRIGGER, AUTOMATION, MACRO, WEBHOOK = zd.TRIGGER, zd.AUTOMATION, zd.MACRO, zd.WEBHOOK
NO_CATEGORIES = "TriggerCategoriesNotEnabled"
READING = "reading the account"
GROUP_KEY = "group:"  # + a group's name, among the ids of webhook, category and schedule

# kind → (path under /api/v2, the list's key, the body's key), as the API reference names them.
API: dict[str, tuple[str, str, str]] = {
    GROUP: ("/groups", "groups", "group"),
    SCHEDULE: ("/business_hours/schedules", "schedules", "schedule"),
    SLA_POLICY: ("/slas/policies", "sla_policies", "sla_policy"),
    CATEGORY: ("/trigger_categories", "trigger_categories", "trigger_category"),
    TRIGGER: ("/triggers", "triggers", "trigger"),
    AUTOMATION: ("/automations", "automations", "automation"),
    MACRO: ("/macros", "macros", "macro"),
    WEBHOOK: ("/webhooks", "webhooks", "webhook"),
}
# Lists with cursor pagination; SLA policies and schedules come in one answer.
CURSOR = frozenset({GROUP, CATEGORY, TRIGGER, AUTOMATION, MACRO, WEBHOOK})
NAMED = frozenset({GROUP, SCHEDULE, CATEGORY, WEBHOOK})  # "name"; the others have a "title"
# Leftovers go in this order: a trigger before the webhook or category it names.
DELETE_ORDER = (TRIGGER, AUTOMATION, MACRO, SLA_POLICY, WEBHOOK, SCHEDULE, CATEGORY)

# What an admin can do when Zendesk refuses a step (status → advice; the object named first).
ADVICE = {
    401: "Zendesk did not accept the credentials: check zendesk.email and zendesk.api_token "
         "(an API token of that user, with token access on in the Admin Center)",
    403: "the API user may not manage business rules: zendesk.email must be a Zendesk admin, "
         "and SLA policies need the Professional plan (or above)",
}
REFUSED = {
    WEBHOOK: "check server.public_url: Zendesk calls it, so it must be a public http(s) URL",
    CATEGORY: "create the trigger category by hand or ask Zendesk support about trigger "
              "categories on this account",
    TRIGGER: "the account may not offer a condition or action the trigger uses "
             "(GET /api/v2/triggers/definitions lists them); report this message",
    AUTOMATION: "the account may not offer a condition or action the automation uses "
                "(GET /api/v2/automations/definitions lists them); report this message",
    SLA_POLICY: "check the pack's targets (whole minutes) and that the account has SLA "
                "policies (Professional plan or above)",
    SCHEDULE: "check business_hours.timezone; a second schedule needs the Enterprise plan "
              "(Professional accounts have one: delete or rename it to let the connector own it)",
    MACRO: "check the pack's scripts; report this message",
    GROUP: "create the group in Zendesk by hand, or check its name in the pack",
}


def _title(kind: str, item: Mapping[str, Any]) -> str:
    return str(item.get("name" if kind in NAMED else "title") or "")


@dataclass(frozen=True)
class _Reading:
    """The account as listed, matched to the desired objects, and the plan they make."""

    plan: Plan
    categories: bool  # the account has trigger categories
    have: dict[tuple[str, str], dict[str, Any]]  # (kind, desired title) → the object as listed
    # (kind, owned object nothing asks for, its delete)
    leftovers: tuple[tuple[str, dict[str, Any], Change], ...]
    ids: dict[str, str]  # webhook, category, schedule, "group:<name>" → ids, once they exist


class ZendeskAutomation:
    """Schedule, SLA policies, triggers, automations, macros and the reply webhook."""

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
        return tuple(DesiredObject(kind, title, body)
                     for kind, title, body in zd.desired(policy, public_url).ordered())

    def plan(self, policy: Policy, public_url: str) -> Plan:
        self._step = READING
        try:
            return self._read(policy, public_url).plan
        except ExternalServiceError as exc:
            raise self._explained(exc) from exc

    def apply(self, policy: Policy, public_url: str, *,
              progress: Callable[[Change], None] | None = None) -> ApplyResult:
        self._step = READING
        try:
            return self._apply(policy, public_url, progress or (lambda change: None))
        except ExternalServiceError as exc:
            raise self._explained(exc) from exc

    # -- reading ------------------------------------------------------------------------------

    def _list(self, kind: str) -> list[dict[str, Any]]:
        path, key, _ = API[kind]
        params = {"page[size]": self.client.page_size} if kind in CURSOR else None
        return self.client._paged(f"list_{key}", path, key, params)

    def _holidays(self, schedule_id: Any) -> list[dict[str, Any]]:
        path = f"{API[SCHEDULE][0]}/{schedule_id}/holidays"
        return list(self.client._json("list_holidays", "GET", path).get("holidays") or [])

    def _read(self, policy: Policy, public_url: str) -> _Reading:
        """One list per kind, the groups resolved, and the plan against the desired objects."""
        listed: dict[str, list[dict[str, Any]]] = {}
        categories = True
        foreign_schedules: list[str] = []
        foreign_slas: list[dict[str, Any]] = []
        for kind in (SCHEDULE, SLA_POLICY, CATEGORY, TRIGGER, AUTOMATION, MACRO, WEBHOOK):
            try:
                items = self._list(kind)
            except ExternalServiceError as exc:
                if kind != CATEGORY or exc.status != 403 or exc.code != NO_CATEGORIES:
                    raise
                items, categories = [], False
            titles = [_title(kind, i) for i in items]
            listed[kind] = [i for i, t in zip(items, titles, strict=True) if zd.owned(t)]
            if kind == SCHEDULE:
                foreign_schedules = [t for t in titles if not zd.owned(t)]
            if kind == SLA_POLICY:
                foreign_slas = [i for i, t in zip(items, titles, strict=True) if not zd.owned(t)]
        if zd.group_names(policy):
            groups = {str(g.get("name") or "").casefold(): g for g in self._list(GROUP)}
        else:
            groups = {}
        ids = self._group_ids(policy, groups)

        want = zd.desired(policy, public_url)
        _unique(want.ordered())
        matched: dict[str, zd.Matched] = {}
        for kind, items in listed.items():
            titles = [t for k, t, _ in want.ordered() if k == kind]
            matched[kind] = zd.match(titles, items, "name" if kind in NAMED else "title")
        for schedule in matched[SCHEDULE].kept.values():
            schedule["holidays"] = self._holidays(schedule["id"])
        have = {(kind, title): item
                for kind, m in matched.items() for title, item in m.kept.items()}
        if (hook := have.get((WEBHOOK, zd.WEBHOOK_NAME))) is not None:
            ids[WEBHOOK] = str(hook["id"])
        if (category := have.get((CATEGORY, zd.CATEGORY_NAME))) is not None:
            ids[CATEGORY] = str(category["id"])
        if foreign_schedules:
            ours = next(iter(matched[SCHEDULE].kept.values()), None)
            ids[SCHEDULE] = str(ours["id"]) if ours else zd.NEW_SCHEDULE
        want = self._want(policy, public_url, ids, categories)

        changes: list[Change] = []
        for kind, title, body in want.ordered():
            if kind == CATEGORY and not categories:
                continue  # nothing to put the triggers in: they go without a category
            if kind == GROUP:
                group = groups.get(title.casefold())
                changes.append(Change(KEEP, GROUP, title, str(group["id"])) if group
                               else Change(CREATE, GROUP, title))
                continue
            current = have.get((kind, title))
            note = _ahead(foreign_slas, current) if kind == SLA_POLICY else ""
            if current is None:
                changes.append(Change(CREATE, kind, title, note=note))
                continue
            diff = zd.differences(kind, body, current)
            changes.append(Change(
                UPDATE if diff else KEEP, kind, title, str(current["id"]),
                tuple(name for name, _, _ in diff),
                tuple(FieldChange(name, before, after) for name, before, after in diff), note))
        # Owned objects nothing asks for (renamed in a later version, a scenario removed, a
        # duplicate left by an interrupted run) would keep acting: they go.
        leftovers = tuple(
            (kind, item, Change(DELETE, kind, _title(kind, item), str(item["id"])))
            for kind in DELETE_ORDER for item in matched[kind].leftovers)
        changes += [change for _, _, change in leftovers]
        return _Reading(Plan(tuple(changes)), categories, have, leftovers, ids)

    def _group_ids(self, policy: Policy, groups: Mapping[str, dict[str, Any]]) -> dict[str, str]:
        """Group name → id; a name the account lacks is a plan error naming the pack key, unless
        the pack lets the connector create it (then a placeholder until it exists)."""
        ids: dict[str, str] = {}
        errors: dict[str, str] = {}
        for key, name in zd.group_references(policy):
            group = groups.get(name.casefold())
            if group is not None:
                ids[GROUP_KEY + name] = str(group["id"])
            elif not policy.groups.create_missing:
                errors[key] = (f"Zendesk has no group named {name!r}: create it, correct the "
                               "name, or set groups.create_missing = true")
        if errors:
            raise ConfigurationError(
                "policy plan: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
                errors=errors)
        return ids

    @staticmethod
    def _want(policy: Policy, public_url: str, ids: Mapping[str, str],
              categories: bool) -> zd.ZendeskObjects:
        """The desired objects with the ids known so far; no ``category_id`` on an account
        without trigger categories."""
        groups = {k.removeprefix(GROUP_KEY): v for k, v in ids.items() if k.startswith(GROUP_KEY)}
        want = zd.desired(policy, public_url, webhook_id=ids.get(WEBHOOK, zd.NEW_WEBHOOK),
                          category_id=ids.get(CATEGORY, zd.NEW_CATEGORY), group_ids=groups,
                          schedule_id=ids.get(SCHEDULE))
        if categories:
            return want
        return replace(want, reply_trigger=_uncategorized(want.reply_trigger),
                       routing_triggers=tuple(_uncategorized(t) for t in want.routing_triggers))

    # -- writing ------------------------------------------------------------------------------

    def _apply(self, policy: Policy, public_url: str,
               progress: Callable[[Change], None]) -> ApplyResult:
        seen = self._read(policy, public_url)
        ids = dict(seen.ids)
        # ``progress`` is told the plan's own changes: the CLI shows each line once, whether
        # told as it was written or read from the result.
        for change in seen.plan.changes:
            if change.action in (KEEP, DELETE):
                continue
            self._step = change.kind
            # Built again each time: an object made a moment ago (a group, the category, the
            # webhook) is named by its id in what follows.
            want = self._want(policy, public_url, ids, seen.categories)
            body = next(b for k, t, b in want.ordered() if (k, t) == (change.kind, change.title))
            have = seen.have.get((change.kind, change.title))
            if change.action == CREATE:
                made = self._create(change.kind, body)
                if change.kind == GROUP:
                    ids[GROUP_KEY + change.title] = made
                elif change.kind in (WEBHOOK, CATEGORY) or (change.kind == SCHEDULE
                                                             and SCHEDULE in ids):
                    ids[change.kind] = made
                progress(change)
            else:
                assert have is not None
                self._update(change.kind, body, have)
                progress(change)
        for kind, item, change in seen.leftovers:
            self._step = kind
            path = API[kind][0]
            self.client._request(f"delete_{API[kind][2]}", "DELETE", f"{path}/{item['id']}")
            progress(change)
        self._step = WEBHOOK
        webhook_id = ids[WEBHOOK]
        secret = self.client.webhook_signing_secret(webhook_id)
        return ApplyResult(seen.plan, secret=secret, webhook_id=webhook_id)

    def _create(self, kind: str, body: Mapping[str, Any]) -> str:
        path, _, key = API[kind]
        if kind == SCHEDULE:
            fields = {"name": body["name"], "time_zone": body["time_zone"]}
            made = self.client._json("create_schedule", "POST", path, json={key: fields})[key]
            self._workweek(made["id"], body)
            self._sync_holidays(made["id"], body, [])
            return str(made["id"])
        data = self.client._json(f"create_{key}", "POST", path, json={key: dict(body)})
        return str(data[key]["id"])

    def _update(self, kind: str, body: Mapping[str, Any], have: Mapping[str, Any]) -> None:
        path, _, key = API[kind]
        item = f"{path}/{have['id']}"
        if kind != SCHEDULE:
            # A PUT replaces conditions, actions and metrics entirely: the whole body is sent.
            # (Webhooks answer 204 without a body.)
            self.client._request(f"update_{key}", "PUT", item, json={key: dict(body)})
            return
        differing = {name for name, _, _ in zd.differences(SCHEDULE, body, have)}
        if differing & {"name", "time_zone"}:
            fields = {"name": body["name"], "time_zone": body["time_zone"]}
            self.client._request("update_schedule", "PUT", item, json={key: fields})
        if "intervals" in differing:
            self._workweek(have["id"], body)
        if "holidays" in differing:
            self._sync_holidays(have["id"], body, have.get("holidays") or [])

    def _workweek(self, schedule_id: Any, body: Mapping[str, Any]) -> None:
        # Intervals are written only through the workweek endpoint (Update Intervals for a
        # Schedule), which replaces them all.
        self.client._request("update_workweek", "PUT",
                             f"{API[SCHEDULE][0]}/{schedule_id}/workweek",
                             json={"workweek": {"intervals": list(body["intervals"])}})

    def _sync_holidays(self, schedule_id: Any, body: Mapping[str, Any],
                       listed: Iterable[Mapping[str, Any]]) -> None:
        """Holidays are their own objects under the schedule: the ones the pack no longer names
        go, the missing ones are created (an edited one is both)."""
        path = f"{API[SCHEDULE][0]}/{schedule_id}/holidays"
        wanted = {_holiday_key(h): h for h in body["holidays"]}
        kept: set[tuple[str, str, str]] = set()
        for holiday in listed:
            found = _holiday_key(holiday)
            if found in wanted and found not in kept:
                kept.add(found)
            else:
                self.client._request("delete_holiday", "DELETE", f"{path}/{holiday['id']}")
        for found, holiday in wanted.items():
            if found not in kept:
                self.client._json("create_holiday", "POST", path, json={"holiday": dict(holiday)})


def _ahead(foreign: list[dict[str, Any]], ours: Mapping[str, Any] | None) -> str:
    """Zendesk applies the first SLA policy (by position) whose filter matches a ticket: the
    account's own policies placed before ours may take our tickets. Reordering would move the
    account's policies too, so the plan says so and leaves it to the admin
    (https://developer.zendesk.com/api-reference/ticketing/business-rules/sla_policies/#reorder-sla-policies)."""
    mine = int(ours.get("position") or 0) if ours is not None else None
    first = [str(p.get("title")) for p in foreign
             if mine is None or int(p.get("position") or 0) < mine]
    if not first:
        return ""
    return (f"comes after the account's own {', '.join(repr(t) for t in sorted(first))}: a "
            "ticket one of those matches is not under this policy")


def _holiday_key(holiday: Mapping[str, Any]) -> tuple[str, str, str]:
    return (str(holiday.get("name")), str(holiday.get("start_date"))[:10],
            str(holiday.get("end_date"))[:10])


def _uncategorized(trigger: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in trigger.items() if k != "category_id"}


def _unique(objects: Iterable[tuple[str, str, Any]]) -> None:
    """Two desired objects of a kind with one title cannot both be owned by title."""
    seen: set[tuple[str, str]] = set()
    for kind, title, _ in objects:
        if (kind, title) in seen:
            raise ConfigurationError(
                f"policy plan: two Zendesk {kind}s would be called {title!r}: give the "
                "scenarios / scripts different titles",
                errors={"scenarios" if kind != MACRO else "scripts": f"duplicate title {title!r}"})
        seen.add((kind, title))
