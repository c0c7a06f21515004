"""The coverage table of the default pack on both helpdesks: who enforces each rule, and why."""

from __future__ import annotations

import dataclasses
import types

import pytest

from mappings import coverage as cov
from mappings.coverage import Coverage, connector_rules, coverage
from mappings.policy import Policy, load_policy
from tests.packs import without_reminders

# The owner groups the default pack names (issue 12's support table); set here too so the table
# is the same whether or not the shipped pack carries them yet.
GROUPS = {
    "general": "Support",
    "order": "Orders",
    "technical": "Tech Support",
    "billing": "Billing",
    "outage": "Incident Response",
}


@pytest.fixture(scope="module")
def pack() -> Policy:
    policy = without_reminders()  # no_customer_response as a time rule the helpdesk can hold
    return dataclasses.replace(
        policy,
        scenarios=tuple(
            dataclasses.replace(s, group=s.group or GROUPS[s.id]) for s in policy.scenarios
        ),
    )


def table(rows: tuple[Coverage, ...]) -> list[tuple[str, str, float | None, str]]:
    return [(r.scenario, r.rule, r.target, r.enforced_by) for r in rows]


H, C = "helpdesk", "connector"


@pytest.mark.parametrize("facts", ["module", "fallback"])
def test_zendesk_holds_every_target_and_the_hourly_automation(
    pack: Policy, facts: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if facts == "fallback":
        monkeypatch.setattr(cov.importlib, "import_module", lambda name: types.ModuleType("x"))
    assert table(coverage(pack, "zendesk")) == [
        ("general", "first_response", 600, H),
        ("general", "next_response", 4 * 3600, H),
        ("general", "resolution", 3 * 86400, H),
        ("general", "no_customer_response", 86400, H),
        ("order", "first_response", 600, H),
        ("order", "next_response", 4 * 3600, H),
        ("order", "resolution", 3 * 86400, H),
        ("order", "status_unknown", 1800, C),
        ("technical", "first_response", 900, H),
        ("technical", "next_response", 3600, H),
        ("technical", "resolution", 86400, H),
        ("technical", "diagnostic_loops", None, C),
        ("billing", "first_response", 1200, H),
        ("billing", "next_response", 3600, H),
        ("billing", "resolution", 86400, H),
        ("billing", "flags", None, C),
        ("outage", "first_response", 300, H),
        ("outage", "next_response", 1800, H),
        ("outage", "resolution", 4 * 3600, H),
        ("outage", "multiple_customers", 900, C),
    ]
    why = {(r.scenario, r.rule): r.why for r in coverage(pack, "zendesk")}
    assert "hourly" in why["order", "status_unknown"]
    assert "SLA policy" in why["general", "first_response"]


@pytest.mark.parametrize("facts", ["module", "fallback"])
def test_freshdesk_leaves_the_short_first_responses_to_the_connector(
    pack: Policy, facts: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if facts == "fallback":
        monkeypatch.setattr(cov.importlib, "import_module", lambda name: types.ModuleType("x"))
    rows = coverage(pack, "freshdesk")
    assert table(rows) == [
        ("general", "first_response", 600, C),
        ("general", "next_response", 4 * 3600, H),
        ("general", "resolution", 3 * 86400, H),
        ("general", "no_customer_response", 86400, H),
        ("order", "first_response", 600, C),
        ("order", "next_response", 4 * 3600, H),
        ("order", "resolution", 3 * 86400, H),
        ("order", "status_unknown", 1800, C),
        ("technical", "first_response", 900, H),
        ("technical", "next_response", 3600, H),
        ("technical", "resolution", 86400, H),
        ("technical", "diagnostic_loops", None, C),
        ("billing", "first_response", 1200, H),
        ("billing", "next_response", 3600, H),
        ("billing", "resolution", 86400, H),
        ("billing", "flags", None, C),
        ("outage", "first_response", 300, C),
        ("outage", "next_response", 1800, H),
        ("outage", "resolution", 4 * 3600, H),
        ("outage", "multiple_customers", 900, C),
    ]
    why = {(r.scenario, r.rule): r.why for r in rows}
    for scenario in ("general", "order", "outage"):
        assert why[scenario, "first_response"] == "Freshdesk SLA targets start at 15 minutes"


@pytest.mark.parametrize("kind", ["zendesk", "freshdesk"])
def test_every_rule_of_the_pack_has_one_row(pack: Policy, kind: str) -> None:
    rows = coverage(pack, kind)
    assert len({(r.scenario, r.rule) for r in rows}) == len(rows) == 4 * len(pack.scenarios)
    assert all(r.enforced_by in ("helpdesk", "connector", "both") and r.why for r in rows)
    # The escalation engine's list: what the connector keeps.
    assert connector_rules(pack, kind) == tuple(r for r in rows if r.enforced_by != H)
    for trigger in ("diagnostic_loops", "flags", "multiple_customers"):
        assert any(r.rule == trigger for r in connector_rules(pack, kind))


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown helpdesk 'servicenow'"):
        coverage(load_policy(), "servicenow")


def test_the_fallback_limits_when_a_mapping_module_says_nothing(
    pack: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mapping module without ``enforcement`` / ``native_limits``: the documented limits."""
    bare = types.ModuleType("bare")
    monkeypatch.setattr(cov.importlib, "import_module", lambda name: bare)
    zendesk = {(r.scenario, r.rule): (r.enforced_by, r.why) for r in coverage(pack, "zendesk")}
    assert zendesk["outage", "first_response"] == (H, "Zendesk SLA policy (calendar hours)")
    assert zendesk["general", "first_response"] == (H, "Zendesk SLA policy (business hours)")
    assert zendesk["general", "no_customer_response"] == (H, "Zendesk automation (runs hourly)")
    assert zendesk["order", "status_unknown"] == (
        C,
        "Zendesk automations run hourly: nothing under 1 hour",
    )
    freshdesk = {(r.scenario, r.rule): (r.enforced_by, r.why) for r in coverage(pack, "freshdesk")}
    assert freshdesk["outage", "first_response"] == (C, "Freshdesk SLA targets start at 15 minutes")
    assert freshdesk["technical", "first_response"][0] == H
    assert freshdesk["general", "no_customer_response"][0] == H


def test_a_target_in_seconds_is_the_connector_s(pack: Policy) -> None:
    outage = pack.scenario("outage")
    odd = dataclasses.replace(
        outage, targets=dataclasses.replace(outage.targets, resolution=4 * 3600 + 30)
    )
    policy = dataclasses.replace(pack, scenarios=(*pack.scenarios[:4], odd))
    [row] = [
        r for r in coverage(policy, "zendesk") if (r.scenario, r.rule) == ("outage", "resolution")
    ]
    assert row.enforced_by == C and "whole minutes" in row.why


@pytest.mark.parametrize("kind", ["zendesk", "freshdesk"])
def test_a_reminder_that_texts_the_customer_is_always_the_connectors(kind: str) -> None:
    """The shipped pack's no-response rule texts a reminder: no helpdesk rule sends an SMS, so
    whatever the helpdesk could time, the connector keeps it (and no automation is written)."""
    rows = {(r.scenario, r.rule): r for r in coverage(load_policy(), kind)}
    row = rows["general", "no_customer_response"]
    assert row.enforced_by == C and row.why == cov.REMINDER_WHY
    from mappings import freshdesk, zendesk

    shipped = load_policy()
    assert zendesk.automation(shipped, shipped.scenario("general"), {}) is None
    assert freshdesk.time_rule(shipped, shipped.scenario("general"),
                               freshdesk.Account()) is None
