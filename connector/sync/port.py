"""The port policy sync drives: a helpdesk's own automation (webhooks, rules, SLA policies …)
made to match the policy pack, like an infrastructure tool.

An adapter (registered per ``helpdesk.kind`` in ``adapters/helpdesk/automation.py``) maps the
pack to the helpdesk's native objects, lists the ones it owns — marked by the ``[sms-connector]``
title prefix, an external id or a tag, whatever the helpdesk offers — and never reads further
than those: an object it does not own is neither updated nor deleted. The core sees only the
values of connector/sync/plan.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, Self, runtime_checkable

from connector.ports import Helpdesk
from connector.sync.plan import ApplyResult, Change, DesiredObject, Plan
from mappings.policy import Policy

__all__ = ["HelpdeskAutomation"]


@runtime_checkable
class HelpdeskAutomation(Protocol):
    """Plan / apply / drift for one helpdesk account."""

    @classmethod
    def for_helpdesk(cls, helpdesk: Helpdesk) -> Self:
        """The automation of the account ``helpdesk`` (the runtime's adapter) talks to; it makes
        its calls through that adapter, so they spend the same rate budget."""
        ...

    def desired(self, policy: Policy, public_url: str) -> tuple[DesiredObject, ...]:
        """The objects ``policy`` asks for, as the helpdesk's API takes them (no I/O); the
        helpdesk's webhooks call ``public_url``."""
        ...

    def plan(self, policy: Policy, public_url: str) -> Plan:
        """Read the owned objects and compare: one change per desired object (create / update /
        keep), a delete per owned object nothing asks for (a duplicate, an old name). Writes
        nothing. ``plan.drift`` is what differs; empty when the helpdesk matches."""
        ...

    def apply(self, policy: Policy, public_url: str, *,
              progress: Callable[[Change], None] | None = None) -> ApplyResult:
        """Carry out a fresh plan, idempotently: a second run finds only keeps and writes
        nothing; ``progress`` is told each change once it is written. The result carries the
        webhook signing secret the helpdesk holds now (read back, so a rotated secret is picked
        up), or ``None`` when the helpdesk signs nothing."""
        ...
