"""Triage accuracy and speed on the labelled corpus; writes benchmarks/results/triage.md.

    .venv/bin/python benchmarks/bench_triage.py [--policy PATH]

The development corpus (tests/fixtures/triage/corpus.toml) is what the default pack's signals were
tuned on; the held-out set (heldout.toml) was written at the same time and never tuned on, so its
number is the honest estimate. Each set reports its accuracy per scenario (the matrix) and the
outage_report flag's precision and recall: the flag feeds outage clustering, so a "down payment"
raising it would count a billing text as one more customer reporting an outage.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

from connector.text.triage import Evaluation, evaluate, load_samples, triage
from mappings.policy import Policy, load_policy

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "triage"
RESULTS = ROOT / "benchmarks" / "results" / "triage.md"
FLAG = "outage_report"


def section(title: str, result: Evaluation) -> str:
    misses = (
        "\n".join(
            f"- `{sample.text}`: expected {sample.label}, got {got.category} (score {got.score:g})"
            for sample, got in result.misses
        )
        or "- none"
    )
    right = sum(result.confusion[label][label] for label in result.labels)
    total = sum(result.total(label) for label in result.labels)
    per_scenario = ", ".join(f"{label} {result.accuracy(label):.0%}" for label in result.labels)
    return (
        f"## {title}: {result.accuracy():.1%} ({right}/{total})\n\n"
        f"Per scenario: {per_scenario}.\n\n"
        f"Rows: expected scenario; columns: what triage chose.\n\n{result.markdown()}\n\n"
        f"Misses:\n\n{misses}\n\n{flag_section(result)}"
    )


def flag_section(result: Evaluation) -> str:
    tp, fp, fn = result.flag_counts(FLAG)
    wrong = [
        f"- raised, not labelled: `{sample.text}` ({sample.label}, triaged {got.category})"
        for sample, got in result.false_flags(FLAG)
    ] + [
        f"- labelled, not raised: `{sample.text}` (triaged {got.category})"
        for sample, got in result.results
        if FLAG in sample.flags and FLAG not in got.flags
    ]
    return (
        f"`{FLAG}` flag: precision {result.flag_precision(FLAG):.1%} ({tp}/{tp + fp}), "
        f"recall {result.flag_recall(FLAG):.1%} ({tp}/{tp + fn}).\n\n"
        + ("\n".join(wrong) or "- no wrong flags")
        + "\n"
    )


def timing(policy: Policy, texts: list[str], rounds: int = 200) -> tuple[float, float]:
    for text in texts:  # compile the pack's signals once, outside the measurement
        triage(text, policy)
    samples = []
    for _ in range(rounds):
        for text in texts:
            started = time.perf_counter_ns()
            triage(text, policy)
            samples.append((time.perf_counter_ns() - started) / 1000)
    quantiles = statistics.quantiles(samples, n=100)
    return quantiles[49], quantiles[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", help="policy pack (default: the shipped pack)")
    args = parser.parse_args()
    policy = load_policy(args.policy)
    corpus = load_samples(FIXTURES / "corpus.toml")
    held_out = load_samples(FIXTURES / "heldout.toml")
    p50, p99 = timing(policy, [s.text for s in corpus + held_out])
    report = "\n".join(
        [
            "# Triage accuracy\n",
            "Command: `.venv/bin/python benchmarks/bench_triage.py`; policy pack: "
            f"`{Path(policy.source).name}`; Python {platform.python_version()}.\n",
            section("Development corpus (signals tuned on it)", evaluate(corpus, policy)),
            section("Held-out set (never tuned on)", evaluate(held_out, policy)),
            f"## Speed\n\nPer text: p50 {p50:.0f} µs, p99 {p99:.0f} µs "
            f"({len(corpus) + len(held_out)} texts x 200 rounds).\n",
        ]
    )
    print(report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report, encoding="utf-8")
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
