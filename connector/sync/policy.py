"""Policy sync as the CLI and the web layer use it: the policy pack pushed into the helpdesk's
own automation through the kind's :class:`~connector.sync.port.HelpdeskAutomation`, and the
webhook signing secret that apply brings back.

The secret lives in the connector's ``kv`` table under ``<kind>.webhook.signing_secret`` (and
the webhook's id under ``<kind>.webhook.id``), where the "an agent replied" route finds it; the
helpdesk section's ``webhook_secret`` in the config, when set, wins over it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine

from adapters.helpdesk.automation import AUTOMATIONS
from connector.config import HelpdeskSettings, Settings
from connector.errors import ConfigurationError
from connector.store import reading
from connector.store.kv import kv_add, kv_get, kv_set
from connector.sync.plan import ApplyResult, Change, Plan
from connector.sync.port import HelpdeskAutomation
from mappings.policy import Policy

if TYPE_CHECKING:
    from connector.runtime import Runtime

__all__ = [
    "WEBHOOK_ID_KEY",
    "WEBHOOK_SECRET_KEY",
    "ApplyResult",
    "Change",
    "Plan",
    "apply",
    "automation_for",
    "kv_add",
    "kv_get",
    "kv_set",
    "make_plan",
    "secret_key",
    "stored_secret",
    "webhook_id_key",
    "webhook_secret",
]

DEFAULT_KIND = HelpdeskSettings.kind


def secret_key(kind: str) -> str:
    return f"{kind}.webhook.signing_secret"


def webhook_id_key(kind: str) -> str:
    return f"{kind}.webhook.id"


# The keys of the default helpdesk, for callers written before there were kinds.
WEBHOOK_SECRET_KEY = secret_key(DEFAULT_KIND)
WEBHOOK_ID_KEY = webhook_id_key(DEFAULT_KIND)


def automation_for(runtime: Runtime) -> HelpdeskAutomation:
    """The automation of the runtime's helpdesk; a config error when its kind has none."""
    kind = runtime.settings.helpdesk.kind
    automation = AUTOMATIONS.get(kind)
    if automation is None:
        raise ConfigurationError(
            f"helpdesk.kind: {kind!r} has no policy automation (plan / apply)",
            errors={"helpdesk.kind": "no policy automation"},
        )
    return automation.for_helpdesk(runtime.helpdesk)


def make_plan(runtime: Runtime, policy: Policy) -> Plan:
    """What apply would change; reads the helpdesk, writes nothing."""
    return automation_for(runtime).plan(policy, runtime.settings.server.public_url)


def apply(runtime: Runtime, policy: Policy, *,
          progress: Callable[[Change], None] | None = None) -> ApplyResult:
    """Make the helpdesk match ``policy`` (``progress`` is told each change once written); then
    keep the signing secret it answers with."""
    kind = runtime.settings.helpdesk.kind
    result = automation_for(runtime).apply(policy, runtime.settings.server.public_url,
                                           progress=progress)
    if result.secret is None:
        return result
    with runtime.engine.begin() as conn:
        stored = kv_set(conn, secret_key(kind), result.secret)
        if result.webhook_id is not None:
            kv_set(conn, webhook_id_key(kind), result.webhook_id)
    return replace(result, secret_stored=stored)


def webhook_secret(conn: Connection, settings: Settings) -> str:
    """The secret the helpdesk signs webhook deliveries with: the config's, else the stored one
    ("" when neither: every delivery is refused)."""
    kind = settings.helpdesk.kind
    configured = str(getattr(settings.section(kind), "webhook_secret", "") or "")
    return configured or kv_get(conn, secret_key(kind)) or ""


def stored_secret(engine: Engine, kind: str = DEFAULT_KIND) -> str | None:
    """The secret the last apply stored for ``kind``."""
    with reading(engine) as conn:
        return kv_get(conn, secret_key(kind))
