"""The policy pack: the shipped default, validation errors that name the key, rendering, lint."""

from __future__ import annotations

import copy
import subprocess
import sys
import tomllib
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connector.errors import ConfigurationError
from mappings.policy import (
    format_duration,
    gsm7_septets,
    is_gsm7,
    lint,
    load_policy,
    policy_from_dict,
)


@pytest.fixture(scope="module")
def raw_default() -> dict[str, Any]:
    with resources.files("mappings").joinpath("default_policy.toml").open("rb") as fh:
        return tomllib.load(fh)


@pytest.fixture
def raw(raw_default: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(raw_default)


def error_of(raw: dict[str, Any]) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as info:
        policy_from_dict(raw)
    return info.value


# --- the default pack ------------------------------------------------------------------------


def test_default_pack_has_the_five_scenarios_in_order() -> None:
    policy = load_policy()
    ids = [s.id for s in policy.scenarios]
    assert ids == ["general", "order", "technical", "billing", "outage"]
    assert policy.default_scenario.id == "general"
    assert policy.source.endswith("default_policy.toml")


@pytest.mark.parametrize(
    ("scenario", "tier", "zendesk", "freshdesk", "minutes", "business_hours"),
    [
        ("general", "P3", "normal", 2, 10, True),
        ("order", "P3", "normal", 2, 10, False),
        ("technical", "P2", "high", 3, 15, False),
        ("billing", "P2", "high", 3, 20, False),
        ("outage", "P1", "urgent", 4, 5, False),
    ],
)
def test_default_targets_follow_issue_4(
    scenario: str, tier: str, zendesk: str, freshdesk: int, minutes: int, business_hours: bool
) -> None:
    policy = load_policy()
    s = policy.scenario(scenario)
    assert (s.tier, s.first_response, s.business_hours) == (tier, minutes * 60, business_hours)
    assert s.first_response_minutes == minutes  # old callers
    assert s.targets.first_response == minutes * 60
    assert policy.priority_for(s.tier, "zendesk") == zendesk
    assert policy.priority_for(s.tier, "freshdesk") == freshdesk


def test_default_escalation_rules_are_data() -> None:
    policy = load_policy()
    general = policy.scenario("general").escalation
    assert (general.trigger, general.after) == ("no_customer_response", 24 * 3600)
    assert general.after_minutes == 24 * 60  # old callers
    order = policy.scenario("order").escalation
    assert (order.trigger, order.after) == ("status_unknown", 30 * 60)
    technical = policy.scenario("technical").escalation
    assert (technical.trigger, technical.max_loops) == ("diagnostic_loops", 2)
    billing = policy.scenario("billing").escalation
    assert billing.trigger == "flags" and set(billing.flags) == {"dispute", "high_value"}
    outage = policy.scenario("outage").escalation
    assert (outage.trigger, outage.distinct_numbers, outage.window) == (
        "multiple_customers",
        3,
        15 * 60,
    )
    assert outage.window_minutes == 15
    assert {f.id for f in policy.flags} >= {"dispute", "outage_report", "high_value"}


@pytest.mark.parametrize("scenario", ["general", "order", "technical", "billing", "outage"])
def test_default_acks_render_to_one_gsm7_segment(scenario: str) -> None:
    policy = load_policy()
    text = policy.render_ack(scenario)
    assert "{" not in text and "}" not in text
    assert policy.brand in text
    assert format_duration(policy.scenario(scenario).first_response) in text
    assert is_gsm7(text) and gsm7_septets(text) <= 160


def test_outage_ack_gives_a_fallback() -> None:
    policy = load_policy()
    assert policy.status_url and policy.status_url in policy.render_ack("outage")


def test_stop_and_help_texts_say_what_ctia_asks() -> None:
    policy = load_policy()
    stop = policy.render_stop_confirmation()
    assert policy.brand in stop and "no further messages" in stop and "START" in stop
    help_text = policy.render_help()
    assert policy.brand in help_text and policy.support_contact in help_text
    assert "STOP" in help_text


def test_default_pack_lints_clean() -> None:
    assert lint(load_policy()) == []


def test_business_hours() -> None:
    hours = load_policy().business_hours
    # 2024-06-03 is a Monday; New York is UTC-4 in June.
    assert hours.is_open(datetime(2024, 6, 3, 14, 0, tzinfo=UTC))  # 10:00
    assert not hours.is_open(datetime(2024, 6, 3, 12, 0, tzinfo=UTC))  # 08:00
    assert not hours.is_open(datetime(2024, 6, 1, 14, 0, tzinfo=UTC))  # Saturday


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1, "1 second"),
        (90, "90 seconds"),
        (60, "1 minute"),
        (300, "5 minutes"),
        (600, "10 minutes"),
        (3600, "1 hour"),
        (5400, "90 minutes"),
        (7200, "2 hours"),
        (86400, "24 hours"),
        (3 * 86400, "3 days"),
    ],
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


def test_gsm7_check() -> None:
    assert is_gsm7("Hello @ £5 {ok} €")
    assert not is_gsm7("it’s")  # curly apostrophe
    assert not is_gsm7("ça")  # only the capital Ç is GSM-7
    assert gsm7_septets("[]") == 4


def test_helpers_refuse_unknown_names() -> None:
    policy = load_policy()
    with pytest.raises(KeyError):
        policy.scenario("nope")
    with pytest.raises(KeyError):
        policy.priority_for("P9", "zendesk")
    with pytest.raises(ValueError, match="unknown helpdesk"):
        policy.priority_for("P1", "servicenow")


def test_policy_module_imports_no_flask() -> None:
    code = "import sys, mappings.policy; assert 'flask' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- errors name the key ---------------------------------------------------------------------


def test_unknown_tier(raw: dict[str, Any]) -> None:
    raw["scenarios"][2]["tier"] = "P9"
    err = error_of(raw)
    assert "scenarios[2].tier: unknown tier 'P9'" in str(err)
    assert err.errors == {"scenarios[2].tier": "unknown tier 'P9'"}


def test_several_errors_are_reported_together(raw: dict[str, Any]) -> None:
    raw["scenarios"][2]["tier"] = "P9"
    raw["scenarios"][4]["escalation"]["to_tier"] = "P0"
    err = error_of(raw)
    assert set(err.errors) == {"scenarios[2].tier", "scenarios[4].escalation.to_tier"}


def test_misspelt_key(raw: dict[str, Any]) -> None:
    raw["scenarios"][0]["first_reponse"] = "5m"
    assert "scenarios[0].first_reponse: Unknown field." in str(error_of(raw))


def test_missing_key(raw: dict[str, Any]) -> None:
    del raw["scenarios"][3]["ack"]
    assert "scenarios[3].ack: Missing data for required field." in str(error_of(raw))


def test_wrong_type(raw: dict[str, Any]) -> None:
    raw["scenarios"][2]["first_response"] = "ten"
    err = error_of(raw)
    assert "scenarios[2].first_response: not a duration: 'ten'" in str(err)


def test_bad_term_weight(raw: dict[str, Any]) -> None:
    raw["scenarios"][0]["signals"]["terms"]["hours"] = "lots"
    assert "scenarios[0].signals.terms.hours: Not a valid number." in str(error_of(raw))


def test_bad_regex(raw: dict[str, Any]) -> None:
    raw["scenarios"][1]["signals"]["patterns"]["(order"] = 1.0
    err = error_of(raw)
    assert "scenarios[1].signals.patterns['(order']" in err.errors
    assert "invalid regular expression" in str(err)


def test_ack_not_gsm7(raw: dict[str, Any]) -> None:
    raw["scenarios"][0]["ack"] = "{brand}: we’ll reply within {first_response}."
    assert "scenarios[0].ack: not GSM-7" in str(error_of(raw))


def test_ack_longer_than_one_segment_after_rendering(raw: dict[str, Any]) -> None:
    raw["scenarios"][1]["ack"] = "{brand}: " + "x" * 140 + " {first_response}"
    assert "scenarios[1].ack: renders to" in str(error_of(raw))


def test_long_brand_pushes_an_ack_over_one_segment(raw: dict[str, Any]) -> None:
    raw["brand"] = "A Very Long Brand Name Incorporated Customer Care"
    err = error_of(raw)
    assert any(key.endswith(".ack") for key in err.errors)


def test_unknown_placeholder(raw: dict[str, Any]) -> None:
    raw["scenarios"][0]["ack"] = "{brand}: hi {name}, within {first_response}."
    assert "scenarios[0].ack: unknown placeholder {name}" in str(error_of(raw))


def test_status_url_needed_when_used(raw: dict[str, Any]) -> None:
    del raw["status_url"]
    assert "scenarios[4].ack: uses {status_url} but status_url is not set" in str(error_of(raw))


@pytest.mark.parametrize("defaults", [(), (0, 1)])
def test_exactly_one_default_scenario(raw: dict[str, Any], defaults: tuple[int, ...]) -> None:
    for i, scenario in enumerate(raw["scenarios"]):
        scenario["default"] = i in defaults
    assert "scenarios: exactly one scenario needs default = true" in str(error_of(raw))


def test_duplicate_scenario(raw: dict[str, Any]) -> None:
    raw["scenarios"][3]["id"] = "order"
    assert "scenarios[3].id: duplicate scenario 'order'" in str(error_of(raw))


def test_trigger_needs_its_parameters(raw: dict[str, Any]) -> None:
    del raw["scenarios"][1]["escalation"]["after"]
    assert "scenarios[1].escalation.after: required for trigger 'status_unknown'" in str(
        error_of(raw)
    )


def test_unknown_trigger(raw: dict[str, Any]) -> None:
    raw["scenarios"][1]["escalation"]["trigger"] = "whenever"
    assert "scenarios[1].escalation.trigger: Must be one of" in str(error_of(raw))


def test_escalation_flag_must_exist(raw: dict[str, Any]) -> None:
    raw["scenarios"][3]["escalation"]["flags"] = ["angry"]
    assert "scenarios[3].escalation.flags: unknown flag 'angry'" in str(error_of(raw))


def test_flag_boost_must_name_a_scenario(raw: dict[str, Any]) -> None:
    raw["flags"]["dispute"]["boost"] = {"finance": 2.0}
    assert "flags.dispute.boost: unknown scenario 'finance'" in str(error_of(raw))


def test_tier_priorities(raw: dict[str, Any]) -> None:
    raw["tiers"][0]["zendesk_priority"] = "critical"
    raw["tiers"][1]["freshdesk_priority"] = 7
    err = error_of(raw)
    assert "tiers[0].zendesk_priority" in err.errors and "tiers[1].freshdesk_priority" in err.errors


def test_business_hours_errors(raw: dict[str, Any]) -> None:
    raw["business_hours"]["timezone"] = "Mars/Olympus_Mons"
    raw["business_hours"]["intervals"][0]["start"] = "19:00"
    err = error_of(raw)
    assert err.errors["business_hours.timezone"] == "unknown time zone 'Mars/Olympus_Mons'"
    assert "business_hours.intervals[0].end" in err.errors


def test_bad_time_format(raw: dict[str, Any]) -> None:
    raw["business_hours"]["intervals"][0]["start"] = "9am"
    assert "business_hours.intervals[0].start: expected HH:MM" in str(error_of(raw))


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="file not found"):
        load_policy(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("brand = \n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"bad\.toml: invalid TOML"):
        load_policy(bad)


def test_load_from_a_file(tmp_path: Path) -> None:
    text = resources.files("mappings").joinpath("default_policy.toml").read_text("utf-8")
    pack = tmp_path / "ours.toml"
    pack.write_text(text.replace('brand = "Acme Support"', 'brand = "Globex"'), "utf-8")
    policy = load_policy(str(pack))
    assert policy.render_ack("general").startswith("Globex:")


# --- lint ------------------------------------------------------------------------------------


def test_lint_warnings(raw: dict[str, Any]) -> None:
    raw["keywords"]["help"] = "{brand}: " + "call us any time. " * 10
    raw["keywords"]["stop_confirmation"] = "{brand}: done, no further messages."
    raw["tiers"].append({"id": "P4", "zendesk_priority": "low", "freshdesk_priority": 1})
    raw["scenarios"][0]["ack"] = "{brand}: thanks, we got it."
    warnings = lint(policy_from_dict(raw))
    joined = "\n".join(warnings)
    assert "keywords.help: " in joined and "SMS segments" in joined
    assert "keywords.help: does not say how to opt out (STOP)" in warnings
    assert "keywords.stop_confirmation: does not say how to resubscribe (START)" in warnings
    assert "tiers[3]: tier 'P4' is used by no scenario" in warnings
    assert "scenarios[0].ack: does not tell the customer when to expect an answer" in warnings


def test_lint_scenario_without_signals(raw: dict[str, Any]) -> None:
    raw["scenarios"][2]["signals"] = {}
    assert "scenarios[2].signals: no signals, so triage never picks 'technical'" in lint(
        policy_from_dict(raw)
    )


# --- durations, targets, business hours, scripts (issue 12) ------------------------------------


def test_old_spellings_still_load(raw: dict[str, Any]) -> None:
    """A pack written before durations: minutes keys and one days / start / end."""
    raw["business_hours"] = {
        "timezone": "America/New_York",
        "days": ["mon", "tue"],
        "start": "08:00",
        "end": "17:00",
    }
    raw["scenarios"][1]["first_response_minutes"] = 12
    del raw["scenarios"][1]["first_response"]
    raw["scenarios"][1]["escalation"] = {"trigger": "status_unknown", "after_minutes": 45}
    raw["scenarios"][4]["escalation"] = {
        "trigger": "multiple_customers",
        "distinct_numbers": 3,
        "window_minutes": 20,
    }
    policy = policy_from_dict(raw)
    order = policy.scenario("order")
    assert (order.first_response, order.first_response_minutes) == (720, 12)
    assert (order.escalation.after, order.escalation.after_minutes) == (2700, 45)
    assert policy.scenario("outage").escalation.window == 1200
    hours = policy.business_hours
    assert (hours.days, hours.start.hour, hours.end.hour) == (("mon", "tue"), 8, 17)
    assert len(hours.intervals) == 1 and hours.holidays == ()


def test_old_business_hours_errors_keep_their_keys(raw: dict[str, Any]) -> None:
    raw["business_hours"] = {"timezone": "UTC", "days": ["mon"], "start": "19:00", "end": "18:00"}
    assert "business_hours.end" in error_of(raw).errors
    raw["business_hours"] = {"timezone": "UTC", "days": ["mon"], "start": "9am", "end": "18:00"}
    assert "business_hours.start: expected HH:MM" in str(error_of(raw))


def test_new_and_old_spelling_together_is_an_error(raw: dict[str, Any]) -> None:
    raw["scenarios"][0]["first_response_minutes"] = 10
    raw["scenarios"][3]["escalation"]["after"] = "1h"
    raw["scenarios"][3]["escalation"]["after_minutes"] = 60
    raw["business_hours"]["days"] = ["mon"]
    err = error_of(raw)
    assert "or first_response_minutes (old), not both" in err.errors["scenarios[0].first_response"]
    assert "scenarios[3].escalation.after" in err.errors
    assert "business_hours.days" in err.errors


def test_first_response_is_required(raw: dict[str, Any]) -> None:
    del raw["scenarios"][0]["first_response"]
    assert "scenarios[0].first_response: Missing data for required field." in str(error_of(raw))


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("90s", 90), ("10m", 600), ("24h", 86400), ("3d", 259200), (45, 45), ("1.5h", 5400)],
)
def test_durations(raw: dict[str, Any], written: Any, seconds: int) -> None:
    raw["scenarios"][2]["resolution"] = written
    raw["scenarios"][2]["escalation"] = {"trigger": "status_unknown", "after": written}
    technical = policy_from_dict(raw).scenario("technical")
    assert technical.targets.resolution == seconds
    assert technical.escalation.after == seconds


@pytest.mark.parametrize("written", ["ten", "10 minutes", "-5m", "0s", True])
def test_bad_durations_name_the_key(raw: dict[str, Any], written: Any) -> None:
    raw["scenarios"][2]["first_response"] = written
    raw["tiers"][0]["targets"]["resolution"] = written
    raw["scenarios"][4]["escalation"]["window"] = written
    err = error_of(raw)
    assert {
        "scenarios[2].first_response",
        "tiers[0].targets.resolution",
        "scenarios[4].escalation.window",
    } <= set(err.errors)


def test_a_short_first_response_renders_in_seconds(raw: dict[str, Any]) -> None:
    raw["scenarios"][4]["first_response"] = "90s"
    assert "within 90 seconds" in policy_from_dict(raw).render_ack("outage")


def test_targets_fall_back_to_the_tier(raw: dict[str, Any]) -> None:
    raw["scenarios"][3]["next_response"] = "45m"
    policy = policy_from_dict(raw)
    billing, technical = policy.scenario("billing"), policy.scenario("technical")
    assert billing.targets.next_response == 45 * 60  # its own
    assert billing.targets.resolution == policy.tier("P2").targets.resolution == 86400
    assert technical.targets.next_response == policy.tier("P2").targets.next_response == 3600


def test_default_tier_targets() -> None:
    policy = load_policy()
    got = {t.id: (t.targets.next_response, t.targets.resolution) for t in policy.tiers}
    assert got == {"P1": (1800, 4 * 3600), "P2": (3600, 86400), "P3": (4 * 3600, 3 * 86400)}


def test_holidays_are_closed() -> None:
    hours = load_policy().business_hours
    assert hours.name == "Support hours"
    # 2026-12-25 (Christmas) is a Friday; 15:00 UTC is 10:00 in New York.
    assert not hours.is_open(datetime(2026, 12, 25, 15, 0, tzinfo=UTC))
    assert hours.is_open(datetime(2026, 12, 28, 15, 0, tzinfo=UTC))  # the Monday after
    names = {h.name for h in hours.holidays}
    assert {"Thanksgiving Day", "Juneteenth", "Christmas Day"} <= names
    assert all(h.start.year in (2026, 2027) for h in hours.holidays)


def test_several_intervals_and_a_multi_day_holiday(raw: dict[str, Any]) -> None:
    raw["business_hours"]["intervals"].append({"days": ["sat"], "start": "10:00", "end": "14:00"})
    raw["business_hours"]["holidays"] = [
        {"name": "Winter break", "start": "2026-12-24", "end": "2026-12-31"}
    ]
    hours = policy_from_dict(raw).business_hours
    assert hours.is_open(datetime(2026, 6, 6, 15, 0, tzinfo=UTC))  # Saturday 11:00
    assert not hours.is_open(datetime(2026, 6, 6, 19, 0, tzinfo=UTC))  # Saturday 15:00
    assert not hours.is_open(datetime(2026, 12, 30, 15, 0, tzinfo=UTC))
    assert hours.is_open(datetime(2027, 1, 4, 15, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("holiday", "key", "message"),
    [
        ({"name": "X", "date": "2026-13-01"}, "date", "not a date"),
        ({"name": "X"}, "date", "Missing data"),
        ({"name": "X", "date": "2026-01-01", "start": "2026-01-01"}, "date", "not both"),
        ({"name": "X", "start": "2026-01-05", "end": "2026-01-01"}, "end", "must not be before"),
        ({"date": "2026-01-01"}, "name", "Missing data"),
    ],
)
def test_holiday_errors_name_the_key(
    raw: dict[str, Any], holiday: dict[str, Any], key: str, message: str
) -> None:
    raw["business_hours"]["holidays"] = [{"name": "ok", "date": "2026-01-01"}, holiday]
    err = error_of(raw)
    assert message in err.errors[f"business_hours.holidays[1].{key}"]


def _script(**fields: Any) -> dict[str, Any]:
    return {"id": "x", "title": "X", "body": "{brand}: hello.", **fields}


def test_script_errors_name_the_key(raw: dict[str, Any]) -> None:
    raw["scripts"] = [
        _script(id="a", scenario="order"),
        _script(id="b", scenario="x"),
        _script(id="a", tier="P9"),
        _script(id="d", body="{brand}: hi {name}"),
    ]
    err = error_of(raw)
    assert err.errors["scripts[1].scenario"] == "unknown scenario 'x'"
    assert err.errors["scripts[2].id"] == "duplicate script 'a'"
    assert err.errors["scripts[2].tier"] == "unknown tier 'P9'"
    assert err.errors["scripts[3].body"].startswith("unknown placeholder {name}")
    raw["scripts"] = [_script(kind="poem"), _script(id="Bad id")]
    err = error_of(raw)
    assert set(err.errors) == {"scripts[0].kind", "scripts[1].id"}


def test_script_rendering_leaves_the_agent_s_placeholders(raw: dict[str, Any]) -> None:
    raw["scripts"] = [
        _script(id="upd", body="{brand}: order {order} ships in {eta}.", scenario="order"),
        _script(id="any", body="{brand}: anything else? {support_contact}"),
    ]
    policy = policy_from_dict(raw)
    assert policy.render_script("upd") == "Acme Support: order {order} ships in {eta}."
    assert policy.render_script("upd", eta="2 days", order="#1") == (
        "Acme Support: order #1 ships in 2 days."
    )
    assert [s.id for s in policy.scripts_for("order")] == ["upd", "any"]
    assert [s.id for s in policy.scripts_for("billing")] == ["any"]


def test_groups_collects_every_name(raw: dict[str, Any]) -> None:
    for scenario in raw["scenarios"]:
        scenario.pop("group", None)
    raw["scenarios"][0]["group"] = "Support"
    raw["scenarios"][3]["group"] = "Billing"
    raw["scenarios"][3]["escalation"]["to_group"] = "Finance"
    raw["groups"] = {"create_missing": True}
    policy = policy_from_dict(raw)
    assert policy.groups.names == ("Billing", "Finance", "Support")
    assert policy.groups.create_missing is True
    del raw["groups"]
    assert policy_from_dict(raw).groups.create_missing is False


# --- lint of acknowledgements and agent scripts --------------------------------------------------


def test_default_scripts_cover_every_scenario_and_kind() -> None:
    policy = load_policy()
    assert {s.kind for s in policy.scripts} >= {
        "status_update",
        "diagnostic_question",
        "billing_handoff",
        "outage_update",
        "closing",
    }
    for scenario in policy.scenarios:
        assert any(s.scenario == scenario.id for s in policy.scripts), scenario.id
    outage = policy.render_script("outage_update")
    assert "{eta}" in outage and policy.status_url and policy.status_url in outage
    assert policy.lint.max_segments == 2 and "escalate" in policy.lint.banned


def test_lint_checks_every_script(raw: dict[str, Any]) -> None:
    raw["scripts"] = [
        _script(id="curly", body="{brand}: we’ll be in touch."),
        _script(id="long", body="{brand}: " + "we are still on it. " * 20),
        _script(id="two", body="{brand}: is it on? Is the light green?"),
        _script(id="asks", body="{brand}: sorry. Reply with your order. Send a photo too."),
        _script(id="jargon", body="{brand}: we escalated your Ticket #123 to the P1 queue."),
        _script(id="fine", body="{brand}: order {order} arrives within {eta}."),
    ]
    warnings = lint(policy_from_dict(raw))
    joined = "\n".join(warnings)
    assert "scripts[0].body: not GSM-7 ('’')" in joined
    assert "scripts[1].body: 3 SMS segments, over the budget of 2 (lint.max_segments)" in warnings
    assert "scripts[2].body: asks the customer 2 things; one action per message" in warnings
    assert "scripts[3].body: asks the customer 2 things; one action per message" in warnings
    for term in ("escalated", "ticket #", "P1", "queue"):
        assert f"scripts[4].body: uses {term!r} (lint.banned): say it in the customer's words" in (
            warnings
        )
    assert not any(w.startswith("scripts[5]") for w in warnings)


def test_lint_budget_and_banned_words_are_the_pack_s(raw: dict[str, Any]) -> None:
    raw["scripts"] = [_script(body="{brand}: " + "we are still on it. " * 12)]
    assert any(
        w.startswith("scripts[0].body: 2 SMS segments")
        for w in lint(policy_from_dict({**raw, "lint": {"max_segments": 1}}))
    )
    assert not any(w.startswith("scripts[0]") for w in lint(policy_from_dict(raw)))
    raw["lint"] = {"banned": ["frontier"], "max_segments": 3}
    raw["scripts"] = [_script(body="{brand}: the tier frontier.")]
    warnings = lint(policy_from_dict(raw))
    assert [w for w in warnings if w.startswith("scripts")] == [
        "scripts[0].body: uses 'frontier' (lint.banned): say it in the customer's words"
    ]


def test_lint_checks_acks_too(raw: dict[str, Any]) -> None:
    raw["scenarios"][0]["ack"] = "{brand}: what happened? When? Reply within {first_response}."
    raw["lint"] = {"banned": ["reply within"]}
    warnings = lint(policy_from_dict(raw))
    assert "scenarios[0].ack: asks the customer 3 things; one action per message" in warnings
    assert any(w.startswith("scenarios[0].ack: uses 'reply within'") for w in warnings)


def test_lint_reports_a_placeholder_of_a_policy_built_in_code(raw: dict[str, Any]) -> None:
    import dataclasses

    from mappings.policy import Script

    policy = policy_from_dict(raw)
    policy = dataclasses.replace(policy, scripts=(Script("x", "X", "{brand}: hi {name}"),))
    assert "scripts[0].body: unknown placeholder {name}" in lint(policy)


def test_the_owner_groups_ready_to_uncomment(tmp_path: Path) -> None:
    """The shipped pack carries the support table's owners as comments: uncommented, they load."""
    text = resources.files("mappings").joinpath("default_policy.toml").read_text("utf-8")
    pack = tmp_path / "owners.toml"
    pack.write_text(text.replace('\n# group = "', '\ngroup = "'), "utf-8")
    policy = load_policy(pack)
    assert {s.id: s.group for s in policy.scenarios} == {
        "general": "Support",
        "order": "Orders",
        "technical": "Tech Support",
        "billing": "Billing",
        "outage": "Incident Response",
    }
    assert policy.groups.create_missing is False
    assert lint(policy) == []


# ---------------------------------------------------------------------- after hours

ET = ZoneInfo("America/New_York")


def ack_at(scenario: str, *when: int) -> str:
    return load_policy().render_ack(scenario, datetime(*when, tzinfo=ET))


def test_in_business_hours_the_ack_promises_minutes() -> None:
    text = ack_at("general", 2026, 12, 2, 10, 30)  # a Wednesday morning
    assert text.endswith("an agent will reply within 10 minutes.")


@pytest.mark.parametrize(
    ("when", "promise"),
    [
        ((2026, 12, 2, 18, 0), "by Thu 9:00 AM (EST)"),  # closing time: closed
        ((2026, 12, 2, 23, 45), "by Thu 9:00 AM (EST)"),  # evening
        ((2026, 12, 3, 7, 15), "by Thu 9:00 AM (EST)"),  # before opening, same day
        ((2026, 12, 5, 14, 0), "by Mon 9:00 AM (EST)"),  # Saturday
        ((2026, 11, 29, 3, 0), "by Mon 9:00 AM (EST)"),  # Sunday 3 a.m.
        ((2026, 12, 24, 19, 0), "by Mon 9:00 AM (EST)"),  # Christmas Day (Friday) is a holiday
        ((2026, 11, 25, 20, 0), "by Fri 9:00 AM (EST)"),  # Thanksgiving Thursday closed
    ],
)
def test_after_hours_the_ack_promises_the_next_opening(
    when: tuple[int, ...], promise: str
) -> None:
    text = ack_at("general", *when)
    assert text.endswith(f"an agent will reply {promise}.")
    assert "minutes" not in text


def test_the_zone_abbreviation_follows_dst() -> None:
    # US clocks go back on Sunday 2026-11-01: a Friday-evening text is promised Monday, EST.
    assert ack_at("general", 2026, 10, 30, 19, 0).endswith("by Mon 9:00 AM (EST).")
    # And forward on Sunday 2027-03-14: the text sent in EST is promised Monday in EDT.
    assert ack_at("general", 2027, 3, 12, 19, 0).endswith("by Mon 9:00 AM (EDT).")
    # The night the clocks go forward, 3:30 a.m. EDT (an hour after 1:30 EST).
    assert ack_at("general", 2027, 3, 14, 3, 30).endswith("by Mon 9:00 AM (EDT).")


def test_a_utc_instant_is_read_in_the_pack_s_zone() -> None:
    policy = load_policy()
    # 14:30 UTC on a Wednesday is 9:30 a.m. EST: open. 13:30 UTC is 8:30 EST: not yet.
    open_at = datetime(2026, 12, 2, 14, 30, tzinfo=UTC)
    assert "within 10 minutes" in policy.render_ack("general", open_at)
    assert "by Wed 9:00 AM (EST)" in policy.render_ack(
        "general", datetime(2026, 12, 2, 13, 30, tzinfo=UTC)
    )


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        load_policy().render_ack("general", datetime(2026, 12, 5, 3, 0))


@pytest.mark.parametrize("scenario", ["order", "technical", "billing", "outage"])
def test_around_the_clock_scenarios_keep_minutes_at_3am_on_sunday(scenario: str) -> None:
    policy = load_policy()
    assert not policy.scenario(scenario).business_hours
    minutes = format_duration(policy.scenario(scenario).first_response)
    assert f"within {minutes}" in ack_at(scenario, 2026, 11, 29, 3, 0)


def test_an_opening_a_week_or_more_away_names_the_date(raw: dict[str, Any]) -> None:
    raw["business_hours"]["holidays"] = [
        {"name": "Winter break", "start": date(2026, 12, 21), "end": date(2027, 1, 1)}
    ]
    policy = policy_from_dict(raw)
    text = policy.render_ack("general", datetime(2026, 12, 19, 10, 0, tzinfo=ET))
    assert text.endswith("by Jan 4 9:00 AM (EST).")


def test_an_old_pack_s_within_placeholder_reads_right_both_ways(raw: dict[str, Any]) -> None:
    raw["scenarios"][0]["ack"] = "{brand}: thanks! An agent will reply within {first_response}."
    policy = policy_from_dict(raw)
    assert policy.render_ack("general").endswith("reply within 10 minutes.")
    text = policy.render_ack("general", datetime(2026, 11, 29, 3, 0, tzinfo=ET))
    assert text.endswith("reply by Mon 9:00 AM (EST).")


@pytest.mark.parametrize("scenario", ["general", "order", "technical", "billing", "outage"])
@pytest.mark.parametrize(
    "when", [(2026, 12, 2, 10, 0), (2026, 11, 29, 3, 0), (2026, 12, 25, 12, 0)]
)
def test_every_default_ack_is_one_gsm7_segment_in_and_after_hours(
    scenario: str, when: tuple[int, ...]
) -> None:
    text = ack_at(scenario, *when)
    assert "{" not in text and is_gsm7(text) and gsm7_septets(text) <= 160


def test_every_default_ack_fits_after_hours_when_counted_in_business_hours(
    raw: dict[str, Any],
) -> None:
    for scenario in raw["scenarios"]:
        scenario["business_hours"] = True
    policy = policy_from_dict(raw)  # the load check measures the longest after-hours promise
    assert lint(policy) == []
    for scenario in policy.scenarios:
        text = policy.render_ack(scenario.id, datetime(2026, 11, 29, 3, 0, tzinfo=ET))
        assert "by Mon 9:00 AM (EST)" in text and gsm7_septets(text) <= 160


def test_an_ack_that_only_overflows_after_hours_fails_to_load(raw: dict[str, Any]) -> None:
    # 160 septets with "within 10 minutes"; the after-hours promise is longer.
    promise = "within 10 minutes"
    head = "{brand}: "
    filler = "x" * (160 - len("Acme Support: ") - len(promise) - 1)
    raw["scenarios"][0]["ack"] = head + filler + " {first_response}"
    raw["scenarios"][0]["business_hours"] = False
    policy_from_dict(raw)  # around the clock: only the minute promise, which fits
    raw["scenarios"][0]["business_hours"] = True
    message = str(error_of(raw))
    assert "scenarios[0].ack" in message and "one SMS segment" in message


def test_lint_measures_the_after_hours_ack_too(raw: dict[str, Any]) -> None:
    # The after-hours text is linted too: a word banned in it is reported under its own key.
    policy = policy_from_dict(raw)
    assert lint(policy) == []
    raw["lint"] = {"banned": ["EST"]}
    warnings = lint(policy_from_dict(raw))
    assert "scenarios[0].ack (after hours): uses 'EST' (lint.banned): say it in the customer's " \
        "words" in warnings
    assert not any(w.startswith("scenarios[0].ack: uses 'EST'") for w in warnings)
