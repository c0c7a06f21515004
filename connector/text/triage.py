"""SMS text → support scenario, severity tier, tags and flags, driven by the policy pack.

Deterministic keyword scoring, no ML: a support lead must be able to read why a text went where it
did and change it by editing ``mappings/default_policy.toml``, and triage runs in the worker for
every inbound text (well under a millisecond each).

How a text is read:

1. ``normalise``: accents stripped (NFKD), case-folded, apostrophes dropped inside words
   ("can't" → "cant"), letters stretched for emphasis collapsed ("sooo" → "so"), then SMS slang
   and common typos expanded ("pls" → "please", "cant" → "cannot", "pkg" → "package") from the
   built-in table below plus the pack's ``[triage.replacements]``.
2. Every scenario's ``terms`` are matched on whole words of the normalised text (a trailing ``*``
   matches a word prefix) and its ``patterns`` on the case-folded text with punctuation kept
   (order numbers such as ``#48213``). Each matching term counts once, with its weight.
3. Flags (``dispute`` …) are raised from their own terms; a raised flag may ``boost`` a scenario.
   A flag tied to scenarios (``outage_report`` to outage) is not raised from its terms when those
   scenarios' signals add up to less than zero: a negative weight there ("power outage", "the
   outage last week") says "not this scenario", and so not its flag either.
4. The highest score wins; ties go to the more severe tier (under-prioritising an outage costs
   more than over-prioritising a question). Below the pack's ``min_score`` the default scenario
   (general) is used. Flags tied to the chosen scenario (``outage_report`` for outage) are added.

``high_value`` is never inferred from the text: it is account data, raised by the pipeline with
:func:`with_flags` once the requester's organisation is known.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from connector.model import Triage
from mappings.policy import Policy, Signals

__all__ = [
    "Evaluation",
    "Sample",
    "evaluate",
    "load_samples",
    "normalise",
    "scores",
    "triage",
    "with_flags",
]

# SMS spellings and typos → the words the pack's signals use. Values may be several words, or
# empty to drop filler ("lol"). Apostrophes are already gone: "won't" arrives here as "wont".
# fmt: off
_BUILTIN_REPLACEMENTS: dict[str, str] = {
    "pls": "please", "plz": "please", "plez": "please", "pleez": "please",
    "u": "you", "ur": "your", "r": "are", "ya": "you", "y": "why",
    "wont": "will not", "cant": "cannot", "dont": "do not", "didnt": "did not",
    "doesnt": "does not", "isnt": "is not", "wasnt": "was not", "arent": "are not",
    "hasnt": "has not", "havent": "have not", "hadnt": "had not", "couldnt": "could not",
    "shouldnt": "should not", "wouldnt": "would not", "aint": "is not",
    "im": "i am", "ive": "i have", "theres": "there is", "whats": "what is",
    "acct": "account", "acc": "account", "accnt": "account",
    "pymt": "payment", "pmt": "payment", "pmnt": "payment", "paymnt": "payment",
    "refnd": "refund", "refud": "refund", "chrg": "charge", "chrged": "charged",
    "ordr": "order", "oder": "order",
    "pkg": "package", "pckg": "package", "pakage": "package", "packge": "package",
    "deliverd": "delivered", "delivred": "delivered", "delivary": "delivery",
    "internt": "internet", "interent": "internet", "intenet": "internet",
    "wify": "wifi",
    "pw": "password", "pwd": "password", "passwd": "password", "pswd": "password",
    "msg": "message", "txt": "text", "svc": "service", "addy": "address",
    "amt": "amount", "ppl": "people", "bc": "because", "cuz": "because", "coz": "because",
    "tho": "though", "thru": "through", "b4": "before", "rn": "right now",
    "2day": "today", "tmrw": "tomorrow", "2morrow": "tomorrow",
    "thx": "thanks", "thnx": "thanks", "ty": "thank you", "idk": "i do not know",
    "lol": "", "lmao": "", "smh": "", "omg": "", "ugh": "",
}
# fmt: on

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'"})
_INNER_APOSTROPHE = re.compile(r"(?<=[a-z])'(?=[a-z])")
_WORD = re.compile(r"[a-z0-9]+")
_STRETCHED = re.compile(r"([a-z])\1{2,}")
_WITH = re.compile(r"\bw/")


def _fold(text: str) -> str:
    """Case-folded, accents stripped, apostrophes inside words dropped; punctuation kept."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = stripped.casefold().translate(_APOSTROPHES)
    return _WITH.sub("with ", _INNER_APOSTROPHE.sub("", folded))


@dataclass(frozen=True)
class _Term:
    weight: float
    words: str  # the term after normalisation, without its "*"
    word: str | None  # a single whole word: checked by set membership, the fast path
    regex: re.Pattern[str] | None  # phrases and prefixes


@dataclass(frozen=True)
class _Compiled:
    """A policy's signals prepared for matching; built once per Policy object."""

    single: dict[str, str]
    multi: tuple[tuple[re.Pattern[str], str], ...]
    vocabulary: frozenset[str]
    scenarios: tuple[tuple[str, tuple[_Term, ...], Signals], ...]
    flags: tuple[tuple[str, tuple[_Term, ...], Signals], ...]


def _collapse(token: str, vocabulary: frozenset[str]) -> str:
    """ "sooo" → "so", "pleaseee" → "please", "stilll" → "still" when "still" is a known word."""
    if token in vocabulary or not _STRETCHED.search(token):
        return token
    two = _STRETCHED.sub(r"\1\1", token)
    one = _STRETCHED.sub(r"\1", token)
    if one not in vocabulary and two in vocabulary:
        return two
    return one


def _words(
    folded: str,
    single: dict[str, str],
    multi: Iterable[tuple[re.Pattern[str], str]],
    vocabulary: frozenset[str],
) -> str:
    out = []
    for token in _WORD.findall(folded):
        token = _collapse(token, vocabulary)
        out.append(single.get(token, token))
    joined = " ".join(w for w in out if w)
    for pattern, replacement in multi:
        joined = pattern.sub(replacement, joined)
    return joined


def _boundary(words: str, prefix: bool) -> re.Pattern[str]:
    body = re.escape(words).replace(r"\ ", " ")
    return re.compile(r"(?<![a-z0-9])" + body + (r"[a-z0-9]*" if prefix else r"(?![a-z0-9])"))


def _replacement_tables(
    extra: Sequence[tuple[str, str]],
) -> tuple[dict[str, str], tuple[tuple[re.Pattern[str], str], ...]]:
    single = dict(_BUILTIN_REPLACEMENTS)
    multi = []
    for key, value in extra:
        key_words = " ".join(_WORD.findall(_fold(key)))
        if " " in key_words:
            multi.append((_boundary(key_words, prefix=False), value))
        elif key_words:
            single[key_words] = value
    return single, tuple(multi)


def _compile(policy: Policy) -> _Compiled:
    single, multi = _replacement_tables(policy.replacements)
    base_vocabulary = frozenset(single) | {w for v in single.values() for w in v.split()}

    def terms(signals: Signals) -> tuple[_Term, ...]:
        compiled = []
        for term, weight in signals.terms:
            prefix = term.endswith("*")
            # Terms go through the same normalisation as texts, so "can't log in" in the pack
            # matches "cant log in" and "can not log in" alike.
            words = _words(_fold(term.rstrip("*")), single, multi, base_vocabulary)
            if not words:
                continue
            if " " in words or prefix:
                compiled.append(_Term(weight, words, None, _boundary(words, prefix)))
            else:
                compiled.append(_Term(weight, words, words, None))
        return tuple(compiled)

    scenarios = tuple((s.id, terms(s.signals), s.signals) for s in policy.scenarios)
    flags = tuple((f.id, terms(f.signals), f.signals) for f in policy.flags)
    vocabulary = base_vocabulary | {
        word
        for _, compiled, _ in scenarios + flags
        for term in compiled
        for word in term.words.split()
    }
    return _Compiled(single, multi, frozenset(vocabulary), scenarios, flags)


# One compiled form per Policy object. Keyed by id() but holding the policy itself, so an id can
# never be reused by another object while its entry exists; a process loads a handful of packs.
_CACHE: dict[int, tuple[Policy, _Compiled]] = {}
_CACHE_SIZE = 8


def _compiled(policy: Policy) -> _Compiled:
    entry = _CACHE.get(id(policy))
    if entry is not None and entry[0] is policy:
        return entry[1]
    compiled = _compile(policy)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[id(policy)] = (policy, compiled)
    return compiled


def normalise(text: str, policy: Policy) -> str:
    """The text as the signals see it: ``"Pls, my pkg wont arrive!!"`` → ``"please my package
    will not arrive"``."""
    c = _compiled(policy)
    return _words(_fold(text), c.single, c.multi, c.vocabulary)


def _score(
    terms: tuple[_Term, ...], signals: Signals, words: str, tokens: set[str], folded: str
) -> float:
    total = 0.0
    for term in terms:
        if term.word is not None:
            if term.word in tokens:
                total += term.weight
        elif term.regex is not None and term.regex.search(words):
            total += term.weight
    for pattern, weight in signals.patterns:
        if pattern.search(folded):
            total += weight
    return total


def _vetoed(scenarios: Sequence[str], totals: dict[str, float]) -> bool:
    """A flag tied to ``scenarios`` whose signals all add up to less than zero is not raised."""
    return bool(scenarios) and all(totals[s] < 0 for s in scenarios)


def _evaluate(text: str, policy: Policy) -> tuple[dict[str, float], list[str]]:
    c = _compiled(policy)
    folded = _fold(text)
    words = _words(folded, c.single, c.multi, c.vocabulary)
    tokens = set(words.split())
    totals = {
        scenario_id: _score(terms, signals, words, tokens, folded)
        for scenario_id, terms, signals in c.scenarios
    }
    flags = [
        flag_id
        for flag_id, terms, signals in c.flags
        if _score(terms, signals, words, tokens, folded) > 0
        and not _vetoed(policy.flag(flag_id).scenarios, totals)
    ]
    for flag_id in flags:
        for scenario_id, boost in policy.flag(flag_id).boost:
            totals[scenario_id] += boost
    return totals, flags


def scores(text: str, policy: Policy) -> dict[str, float]:
    """Every scenario's score for ``text`` (what ``triage`` chose from), for lint and debugging."""
    return _evaluate(text, policy)[0]


def triage(text: str, policy: Policy) -> Triage:
    """Classify one customer text with the policy pack."""
    totals, flags = _evaluate(text, policy)
    severity = {tier.id: i for i, tier in enumerate(policy.tiers)}
    order = {s.id: i for i, s in enumerate(policy.scenarios)}
    best = min(
        policy.scenarios,
        key=lambda s: (-totals[s.id], severity[s.tier], order[s.id]),
    )
    if totals[best.id] < policy.min_score:
        best = policy.default_scenario
    for rule in policy.flags:
        if best.id in rule.scenarios and rule.id not in flags:
            flags.append(rule.id)
    result = Triage(
        category=best.id,
        tier=best.tier,
        # Zendesk's priority name; a Freshdesk adapter asks policy.priority_for(tier, "freshdesk").
        priority=str(policy.priority_for(best.tier, "zendesk")),
        tags=(),
        group=best.group,
        first_response_minutes=best.first_response_minutes,
        flags=(),
        score=totals[best.id],
    )
    return with_flags(result, policy, *flags)


def _tags(result: Triage, policy: Policy) -> tuple[str, ...]:
    scenario = policy.scenario(result.category)
    tags = ["sms", f"sms_{result.category}", f"sms_{result.tier.lower()}", *scenario.tags]
    for flag in result.flags:
        try:
            tags.append(policy.flag(flag).tag)
        except KeyError:
            tags.append(f"sms_{flag}")
    return tuple(dict.fromkeys(tags))


def with_flags(result: Triage, policy: Policy, *flags: str) -> Triage:
    """``result`` with ``flags`` added (e.g. ``high_value`` from account data) and tags to match."""
    merged = tuple(dict.fromkeys((*result.flags, *flags)))
    updated = dataclasses.replace(result, flags=merged)
    return dataclasses.replace(updated, tags=_tags(updated, policy))


# --------------------------------------------------------------------------------------------
# Measuring triage against a labelled corpus (tests/fixtures/triage/, benchmarks/bench_triage.py)


@dataclass(frozen=True)
class Sample:
    text: str
    label: str
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Evaluation:
    labels: tuple[str, ...]
    # confusion[expected][predicted] = count
    confusion: dict[str, dict[str, int]]
    misses: tuple[tuple[Sample, Triage], ...]
    flag_misses: tuple[tuple[Sample, Triage], ...]
    # Every sample with what triage made of it, in corpus order.
    results: tuple[tuple[Sample, Triage], ...] = ()

    def total(self, label: str) -> int:
        return sum(self.confusion[label].values())

    def accuracy(self, label: str | None = None) -> float:
        labels = self.labels if label is None else (label,)
        right = sum(self.confusion[lb][lb] for lb in labels)
        total = sum(self.total(lb) for lb in labels)
        return right / total if total else 0.0

    def flag_counts(self, flag: str) -> tuple[int, int, int]:
        """(true positives, false positives, false negatives) of ``flag``: a sample expects it
        when its ``flags`` list it, and expects it absent otherwise."""
        tp = fp = fn = 0
        for sample, got in self.results:
            expected, raised = flag in sample.flags, flag in got.flags
            tp += expected and raised
            fp += raised and not expected
            fn += expected and not raised
        return tp, fp, fn

    def flag_precision(self, flag: str) -> float:
        """Of the samples that raised ``flag``, the share labelled with it (1.0 when none did)."""
        tp, fp, _ = self.flag_counts(flag)
        return tp / (tp + fp) if tp + fp else 1.0

    def flag_recall(self, flag: str) -> float:
        """Of the samples labelled with ``flag``, the share that raised it (1.0 when none is)."""
        tp, _, fn = self.flag_counts(flag)
        return tp / (tp + fn) if tp + fn else 1.0

    def false_flags(self, flag: str) -> tuple[tuple[Sample, Triage], ...]:
        """Samples that raised ``flag`` without being labelled with it."""
        return tuple((s, g) for s, g in self.results if flag in g.flags and flag not in s.flags)

    def markdown(self) -> str:
        """Per-scenario accuracy and the confusion matrix (rows: expected, columns: predicted)."""
        lines = [
            "| expected \\ predicted | " + " | ".join(self.labels) + " | accuracy |",
            "|---" * (len(self.labels) + 2) + "|",
        ]
        for label in self.labels:
            row = " | ".join(str(self.confusion[label][p]) for p in self.labels)
            lines.append(
                f"| {label} | {row} | {self.accuracy(label):.0%} "
                f"({self.confusion[label][label]}/{self.total(label)}) |"
            )
        lines.append(f"| **all** | {' | '.join('' for _ in self.labels)} | {self.accuracy():.1%} |")
        return "\n".join(lines)


def load_samples(path: str | Path) -> list[Sample]:
    """Read a labelled corpus: TOML with ``[[sample]]`` tables of ``text``, ``label``, ``flags``."""
    with Path(path).open("rb") as fh:
        raw = tomllib.load(fh)
    return [Sample(s["text"], s["label"], tuple(s.get("flags", ()))) for s in raw.get("sample", [])]


def evaluate(samples: Sequence[Sample], policy: Policy) -> Evaluation:
    labels = tuple(s.id for s in policy.scenarios)
    confusion = {expected: dict.fromkeys(labels, 0) for expected in labels}
    misses, flag_misses, results = [], [], []
    for sample in samples:
        result = triage(sample.text, policy)
        results.append((sample, result))
        confusion[sample.label][result.category] += 1
        if result.category != sample.label:
            misses.append((sample, result))
        if not set(sample.flags) <= set(result.flags):
            flag_misses.append((sample, result))
    return Evaluation(labels, confusion, tuple(misses), tuple(flag_misses), tuple(results))
