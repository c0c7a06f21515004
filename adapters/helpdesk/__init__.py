"""The helpdesks the connector can file tickets in: one explicit registry (no scanning).

``helpdesk.kind`` names one of these; its settings live in ``[<kind>]`` and its "an agent
replied" webhook arrives at ``/webhooks/helpdesk/<kind>``. Adding a helpdesk is one module beside
this file and one line here (ADDING_PROVIDERS.md).
"""

from __future__ import annotations

from adapters.helpdesk.base import HelpdeskAdapter
from adapters.helpdesk.freshdesk import FreshdeskClient
from adapters.helpdesk.zendesk import ZendeskClient

HELPDESKS: dict[str, type[HelpdeskAdapter]] = {
    "zendesk": ZendeskClient,
    "freshdesk": FreshdeskClient,
}

__all__ = ["HELPDESKS", "HelpdeskAdapter"]
