"""What every helpdesk adapter shares (django-anymail's ``backends/base.py`` is the model).

A helpdesk adapter subclasses :class:`HelpdeskAdapter` and gives its ``kind`` (registry key, URL
segment of ``/webhooks/helpdesk/<kind>``, config section ``[<kind>]``), its ``settings_schema``,
the rate limits its vendor counts (:meth:`rate_limits`, enforced through the database by the
runtime's shared budget), how its "an agent replied" webhook is verified and read, and the
ticket operations of :class:`connector.ports.Helpdesk` in the core's words.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from connector.config_fields import Section
from connector.ports import Limit, RateBudget
from connector.webhooks import WebhookRequest

__all__ = ["HelpdeskAdapter"]


class HelpdeskAdapter(ABC):
    kind: ClassVar[str]
    settings_schema: ClassVar[type[Section]]
    # Keys of the helpdesk's section never printed (check-config) nor logged.
    secret_keys: ClassVar[frozenset[str]] = frozenset()
    # Keys that must be set before the helpdesk's API is called.
    required_for_api: ClassVar[tuple[str, ...]] = ()

    # -- config (class level: checked at start) -------------------------------------------------

    @classmethod
    def check_settings(cls, settings: Any) -> dict[str, str]:
        """Errors of the helpdesk's section as ``{key: message}`` (when it is the one in use)."""
        return {}

    @classmethod
    def rate_limits(cls, settings: Any) -> tuple[str, dict[str, Limit], dict[str, Limit]]:
        """``(account id, limits per endpoint class, limits per endpoint class and key)``."""
        return "", {}, {}

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Any, *, budget: RateBudget | None = None) -> Any:
        """The adapter for this section, asking ``budget`` before each call."""

    # -- the "an agent replied" webhook (no network, no instance) -------------------------------

    @classmethod
    def webhook_secret_setting(cls, settings: Any) -> str:
        """The signing secret set in the config (wins over the one ``policy apply`` stored)."""
        return str(getattr(settings, "webhook_secret", "") or "")

    @classmethod
    @abstractmethod
    def verify_webhook(cls, request: WebhookRequest, secret: str) -> bool:
        """True when the delivery is genuine (constant-time compare, freshness checked)."""

    @classmethod
    @abstractmethod
    def webhook_ticket_id(cls, request: WebhookRequest) -> int:
        """The ticket the delivery is about; WebhookRejected(400) when it names none."""

    @classmethod
    def webhook_headers(cls) -> Mapping[str, str]:
        return {}
