"""Packs for tests of what the helpdesk enforces natively: the shipped pack without its
no-customer-response reminder text, so that rule is a helpdesk time rule again (with the text,
the connector keeps it: mappings/coverage.py)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from mappings.policy import Policy, load_policy

DEFAULT_PACK = Path(__file__).resolve().parents[1] / "mappings" / "default_policy.toml"


def without_reminders(policy: Policy | None = None) -> Policy:
    policy = policy or load_policy()
    return dataclasses.replace(policy, scenarios=tuple(
        dataclasses.replace(s, escalation=dataclasses.replace(s.escalation, reminder=None))
        for s in policy.scenarios))


def raw_without_reminders(raw: dict[str, Any]) -> dict[str, Any]:
    for scenario in raw.get("scenarios", []):
        scenario.get("escalation", {}).pop("reminder", None)
    return raw


def pack_text_without_reminders(text: str | None = None) -> str:
    text = DEFAULT_PACK.read_text() if text is None else text
    return re.sub(r'(?m)^reminder = ".*"\n', "", text)
