"""connector.sync.policy: the vendor-free surface over the kind's automation (a scripted one
here; the real ones keep tests/contracts/helpdesk_automation.py), the stored signing secret and
the kv helpers, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Self

import pytest

from adapters.helpdesk import HELPDESKS
from adapters.helpdesk.automation import AUTOMATIONS
from connector.config import settings_from_dict
from connector.errors import ConfigurationError
from connector.ports import Helpdesk
from connector.runtime import Runtime
from connector.store import reading
from connector.store.kv import kv_add, kv_get, kv_set, table
from connector.sync import policy as sync
from connector.sync.plan import CREATE, KEEP, ApplyResult, Change, DesiredObject, Plan
from connector.sync.port import HelpdeskAutomation
from mappings.policy import Policy, load_policy

PUBLIC = "https://sms.example.com"
KIND = "zendesk"  # a registered kind whose automation the tests swap for Scripted


class Scripted:
    """An automation that answers what the test set, and remembers how it was called."""

    secret: str | None = "s3cret"
    made: ClassVar[list[Scripted]] = []

    def __init__(self, helpdesk: Helpdesk) -> None:
        self.helpdesk = helpdesk
        self.calls: list[tuple[str, str]] = []
        Scripted.made.append(self)

    @classmethod
    def for_helpdesk(cls, helpdesk: Helpdesk) -> Self:
        return cls(helpdesk)

    def desired(self, policy: Policy, public_url: str) -> tuple[DesiredObject, ...]:
        return (DesiredObject("rule", "[sms-connector] rule", {"url": public_url}),)

    def plan(self, policy: Policy, public_url: str) -> Plan:
        self.calls.append(("plan", public_url))
        return Plan((Change(KEEP, "rule", "[sms-connector] rule", "7"),))

    def apply(self, policy: Policy, public_url: str, *,
              progress: Callable[[Change], None] | None = None) -> ApplyResult:
        self.calls.append(("apply", public_url))
        plan = Plan((Change(CREATE, "rule", "[sms-connector] rule"),))
        if progress is not None:
            progress(plan.changes[0])
        return ApplyResult(plan, secret=Scripted.secret,
                           webhook_id="42" if Scripted.secret else None)


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> type[Scripted]:
    monkeypatch.setitem(AUTOMATIONS, KIND, Scripted)
    monkeypatch.setattr(Scripted, "secret", "s3cret")
    monkeypatch.setattr(Scripted, "made", [])
    return Scripted


def make_runtime(database_url: str, **section: Any) -> Runtime:
    runtime = Runtime(settings_from_dict({
        "server": {"public_url": PUBLIC}, "database": {"url": database_url},
        "helpdesk": {"kind": KIND},
        KIND: {"subdomain": "acme", "email": "a@example.com", "api_token": "t", **section},
    }))
    runtime.prepare_schema()
    return runtime


@pytest.fixture
def runtime(engine, database_url: str):
    runtime = make_runtime(database_url)
    yield runtime
    runtime.close()


def test_every_registered_automation_is_the_port_of_a_registered_helpdesk():
    assert set(AUTOMATIONS) <= set(HELPDESKS)
    for cls in AUTOMATIONS.values():
        assert callable(cls.for_helpdesk)
        assert all(hasattr(cls, name) for name in ("desired", "plan", "apply"))


def test_automation_for_wraps_the_runtimes_helpdesk(scripted, runtime):
    automation = sync.automation_for(runtime)
    assert isinstance(automation, Scripted) and isinstance(automation, HelpdeskAutomation)
    assert automation.helpdesk is runtime.helpdesk


def test_a_kind_without_automation_is_a_config_error_naming_the_key(monkeypatch, runtime):
    monkeypatch.delitem(AUTOMATIONS, KIND)
    with pytest.raises(ConfigurationError) as info:
        sync.automation_for(runtime)
    assert "helpdesk.kind" in str(info.value) and KIND in str(info.value)


def test_plan_passes_the_public_url_and_writes_nothing(scripted, runtime):
    plan = sync.make_plan(runtime, load_policy())
    assert plan.drift == () and scripted.made[-1].calls == [("plan", PUBLIC)]
    assert sync.stored_secret(runtime.engine, KIND) is None


def test_apply_stores_the_secret_under_the_kinds_key_once(scripted, runtime):
    first = sync.apply(runtime, load_policy())
    assert first.secret_stored and scripted.made[-1].calls == [("apply", PUBLIC)]
    assert first.lines()[-1] == "stored the signing secret of webhook 42"
    with reading(runtime.engine) as conn:
        assert sync.kv_get(conn, f"{KIND}.webhook.signing_secret") == "s3cret"
        assert sync.kv_get(conn, f"{KIND}.webhook.id") == "42"
    again = sync.apply(runtime, load_policy())
    assert not again.secret_stored and "stored" not in "\n".join(again.lines())
    scripted.secret = "rotated"
    assert sync.apply(runtime, load_policy()).secret_stored
    assert sync.stored_secret(runtime.engine, KIND) == "rotated"


def test_a_helpdesk_that_signs_nothing_stores_nothing(scripted, runtime):
    scripted.secret = None
    result = sync.apply(runtime, load_policy())
    assert not result.secret_stored and result.secret is None
    assert sync.stored_secret(runtime.engine, KIND) is None


def test_the_config_secret_wins_over_the_stored_one(engine, database_url):
    with engine.begin() as conn:
        sync.kv_set(conn, sync.secret_key(KIND), "stored")
    stored = make_runtime(database_url)
    configured = make_runtime(database_url, webhook_secret="mine")
    with reading(engine) as conn:
        assert sync.webhook_secret(conn, stored.settings) == "stored"
        assert sync.webhook_secret(conn, configured.settings) == "mine"
        conn.execute(table.delete())
        assert sync.webhook_secret(conn, stored.settings) == ""
    stored.close()
    configured.close()


def test_keys_of_the_default_kind_are_todays():
    # Stores written before there were kinds keep their secret.
    assert sync.WEBHOOK_SECRET_KEY == "zendesk.webhook.signing_secret"
    assert sync.WEBHOOK_ID_KEY == "zendesk.webhook.id"
    assert sync.secret_key("freshdesk") == "freshdesk.webhook.signing_secret"


def test_kv_helpers_are_the_stores_re_exported():
    assert (sync.kv_get, sync.kv_set, sync.kv_add) == (kv_get, kv_set, kv_add)


def test_kv_set_reports_changes(engine):
    with engine.begin() as conn:
        assert kv_set(conn, "a", "1", now=1.0) is True
        assert kv_set(conn, "a", "1", now=2.0) is False
        assert kv_set(conn, "a", "2", now=3.0) is True
        assert kv_get(conn, "a") == "2" and kv_get(conn, "b") is None
        assert kv_add(conn, "a", "3") is False and kv_get(conn, "a") == "2"
        assert kv_add(conn, "b", "1") is True
