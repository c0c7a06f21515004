"""The helpdesks whose automation policy sync can manage: one explicit registry, keyed like
``adapters.helpdesk.HELPDESKS`` by ``helpdesk.kind``. Each class implements
``connector.sync.port.HelpdeskAutomation`` on top of that kind's helpdesk adapter.
"""

from __future__ import annotations

from adapters.helpdesk.freshdesk_automation import FreshdeskAutomation
from adapters.helpdesk.zendesk_automation import ZendeskAutomation
from connector.sync.port import HelpdeskAutomation

AUTOMATIONS: dict[str, type[HelpdeskAutomation]] = {
    "zendesk": ZendeskAutomation,
    "freshdesk": FreshdeskAutomation,
}

__all__ = ["AUTOMATIONS"]
