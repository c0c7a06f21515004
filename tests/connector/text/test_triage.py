"""Triage: the labelled corpus (>= 90 % per scenario), normalisation, tags, flags, speed."""

from __future__ import annotations

import copy
import time
import tomllib
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from connector.text.triage import (
    Evaluation,
    evaluate,
    load_samples,
    normalise,
    scores,
    triage,
    with_flags,
)
from mappings.policy import Policy, load_policy, policy_from_dict

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "triage"
SCENARIOS = ("general", "order", "technical", "billing", "outage")


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def report(name: str, result: Evaluation) -> None:
    # Shown with -s, and by pytest on failure: the matrix says where a regression went.
    print(f"\n{name}: {result.accuracy():.1%}\n{result.markdown()}")
    for sample, got in result.misses:
        print(f"  miss: {sample.text!r} expected {sample.label}, got {got.category}")


# --- the corpus ------------------------------------------------------------------------------


def test_corpus_is_large_enough_and_balanced() -> None:
    counts = Counter(s.label for s in load_samples(FIXTURES / "corpus.toml"))
    assert set(counts) == set(SCENARIOS)
    assert all(n >= 12 for n in counts.values()), counts
    held_out = Counter(s.label for s in load_samples(FIXTURES / "heldout.toml"))
    assert sum(held_out.values()) >= 20 and set(held_out) == set(SCENARIOS)


def test_corpus_accuracy_per_scenario(policy: Policy) -> None:
    result = evaluate(load_samples(FIXTURES / "corpus.toml"), policy)
    report("corpus", result)
    for label in SCENARIOS:
        assert result.accuracy(label) >= 0.9, (label, result.markdown())


def test_held_out_accuracy(policy: Policy) -> None:
    # Never tuned on (see heldout.toml); a floor against regressions, not a target to tune to.
    result = evaluate(load_samples(FIXTURES / "heldout.toml"), policy)
    report("held-out", result)
    assert result.accuracy() >= 0.8, result.markdown()


def test_labelled_dispute_flags_are_raised(policy: Policy) -> None:
    for path in (FIXTURES / "corpus.toml", FIXTURES / "heldout.toml"):
        for sample in load_samples(path):
            if "dispute" in sample.flags:
                assert "dispute" in triage(sample.text, policy).flags, sample.text


def test_outage_reports_are_flagged_whenever_outage_is_found(policy: Policy) -> None:
    result = evaluate(load_samples(FIXTURES / "corpus.toml"), policy)
    for sample, got in result.flag_misses:
        # The only acceptable flag miss is a text whose category was missed as well.
        assert got.category != sample.label, sample.text


# --- normalisation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Pls check ur acct", "please check your account"),
        ("my pymt wont go thru", "my payment will not go through"),
        ("refnd for ordr #1234 pkg", "refund for order 1234 package"),
        ("internt down lol", "internet down"),
        ("I can't log in", "i cannot log in"),
        ("I can’t log in", "i cannot log in"),  # curly apostrophe
        ("sooo slowwww", "so slow"),
        ("CAFÉ déjà vu", "cafe deja vu"),
        ("Wi-Fi is off", "wifi is off"),
        ("😡😡 WHERE IS IT", "where is it"),
        ("??", ""),
    ],
)
def test_normalise(policy: Policy, text: str, words: str) -> None:
    assert normalise(text, policy) == words


def test_stretched_letters_keep_a_known_double_letter(policy: Policy) -> None:
    # "still" is no signal word, but "router" is; "modemmm" must become "modem".
    assert normalise("my modemmm", policy) == "my modem"


def test_pack_replacements_extend_the_built_in_table() -> None:
    raw = _raw_default()
    raw["triage"]["replacements"]["gizmo"] = "router"
    policy = policy_from_dict(raw)
    assert normalise("my gizmo is blinking", policy) == "my router is blinking"
    assert triage("gizmo blinking red", policy).category == "technical"


# --- results ---------------------------------------------------------------------------------


def test_tags_priority_and_targets(policy: Policy) -> None:
    result = triage("where is my order #48213", policy)
    assert result.category == "order"
    assert result.tier == "P3" and result.priority == "normal"
    assert result.tags[:3] == ("sms", "sms_order", "sms_p3")
    assert result.first_response_minutes == 10
    assert result.score > 0


def test_outage_is_p1_urgent_with_report_flag(policy: Policy) -> None:
    result = triage("is your site down?? nothing loads", policy)
    assert (result.category, result.tier, result.priority) == ("outage", "P1", "urgent")
    assert "outage_report" in result.flags and "sms_outage_report" in result.tags


def test_dispute_language_flags_and_routes_to_billing(policy: Policy) -> None:
    result = triage("I'm calling my bank to do a chargeback", policy)
    assert result.category == "billing"
    assert result.flags == ("dispute",)
    assert result.tags == ("sms", "sms_billing", "sms_p2", "sms_dispute")


def test_a_refund_request_is_not_dispute_language(policy: Policy) -> None:
    result = triage("can I get a refund for last month", policy)
    assert result.category == "billing" and "dispute" not in result.flags


def test_mixed_signals_go_to_the_more_urgent_queue(policy: Policy) -> None:
    # A support lead handles the outage first; the refund follows from it.
    assert triage("wifi down and i want a refund", policy).category == "outage"


@pytest.mark.parametrize("text", ["", "   ", "??", "hello", "ok", "👍"])
def test_nothing_recognisable_is_general(policy: Policy, text: str) -> None:
    result = triage(text, policy)
    assert result.category == "general"
    assert result.tags == ("sms", "sms_general", "sms_p3")
    assert result.flags == ()


def test_ties_go_to_the_more_severe_tier() -> None:
    raw = _raw_default()
    for scenario in raw["scenarios"]:
        scenario["signals"] = {"terms": {"zap": 2.0}}
    assert triage("zap", policy_from_dict(raw)).category == "outage"


def test_below_min_score_is_the_default() -> None:
    raw = _raw_default()
    raw["triage"]["min_score"] = 10.0
    assert triage("where is my order", policy_from_dict(raw)).category == "general"


def test_scenario_tags_and_group_come_from_the_pack() -> None:
    raw = _raw_default()
    raw["scenarios"][3]["tags"] = ["finance"]
    raw["scenarios"][3]["group"] = "Billing"
    result = triage("why was I charged twice", policy_from_dict(raw))
    assert result.group == "Billing"
    assert result.tags == ("sms", "sms_billing", "sms_p2", "finance")


def test_with_flags_adds_account_facts(policy: Policy) -> None:
    result = with_flags(triage("question about my invoice", policy), policy, "high_value")
    assert "high_value" in result.flags and result.tags[-1] == "sms_high_value"
    again = with_flags(result, policy, "high_value")
    assert again == result


def test_scores_lists_every_scenario(policy: Policy) -> None:
    assert set(scores("my pkg", policy)) == set(SCENARIOS)


def test_deterministic_and_fast(policy: Policy) -> None:
    texts = [s.text for s in load_samples(FIXTURES / "corpus.toml")]
    first = [triage(t, policy) for t in texts]
    started = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        assert [triage(t, policy) for t in texts] == first
    per_text = (time.perf_counter() - started) / (rounds * len(texts))
    assert per_text < 0.001, f"{per_text * 1e6:.0f} µs per text"


def test_triage_of_a_new_policy_object_is_not_served_from_an_old_cache() -> None:
    raw = _raw_default()
    a = policy_from_dict(raw)
    raw["scenarios"][1]["signals"]["terms"]["zorb"] = 5.0
    b = policy_from_dict(raw)
    assert triage("zorb", a).category == "general"
    assert triage("zorb", b).category == "order"


def _raw_default() -> dict[str, Any]:
    with resources.files("mappings").joinpath("default_policy.toml").open("rb") as fh:
        return copy.deepcopy(tomllib.load(fh))
