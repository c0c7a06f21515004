"""What policy sync says about a helpdesk, in the core's words: the desired objects, the plan of
create / update / delete / keep per owned object, and what an apply did.

An automation adapter (connector/sync/port.py) fills these in; the CLI prints them. ``kind`` is
the helpdesk's own name for an object ("trigger", "automation rule" …): shown, never compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ACTIONS", "CREATE", "DELETE", "KEEP", "UPDATE", "ApplyResult", "Change",
           "DesiredObject", "FieldChange", "Plan"]

CREATE, UPDATE, DELETE, KEEP = "create", "update", "delete", "keep"
ACTIONS = (CREATE, UPDATE, DELETE, KEEP)


@dataclass(frozen=True)
class DesiredObject:
    """One object as the helpdesk's API takes it; ids of objects not made yet are placeholders."""

    kind: str
    title: str
    body: Mapping[str, Any]


@dataclass(frozen=True)
class FieldChange:
    """One field of an update: what the helpdesk holds now and what the policy asks for (both as
    the helpdesk's API writes them; secrets are shown as a placeholder, never their value)."""

    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Change:
    action: str  # create | update | delete | keep
    kind: str
    title: str
    object_id: str | None = None
    fields: tuple[str, ...] = ()  # what differs, for an update
    details: tuple[FieldChange, ...] = ()  # the same fields with their values, when known
    note: str = ""  # why, when the action needs saying (a delete the helpdesk cannot do …)

    def as_json(self) -> dict[str, Any]:
        """``{"kind", "name", "action", "changes"}`` for ``policy plan --json`` (keep → noop)."""
        changes: dict[str, Any] = {d.field: {"from": d.before, "to": d.after}
                                   for d in self.details}
        for name in self.fields:
            changes.setdefault(name, {})
        data: dict[str, Any] = {"kind": self.kind, "name": self.title,
                                "action": "noop" if self.action == KEEP else self.action,
                                "changes": changes}
        if self.object_id:
            data["id"] = self.object_id
        if self.note:
            data["note"] = self.note
        return data

    def line(self) -> str:
        where = f" #{self.object_id}" if self.object_id else ""
        what = f" ({', '.join(self.fields)})" if self.fields else ""
        why = f" - {self.note}" if self.note else ""
        return f"{self.action:<7} {self.kind} {self.title!r}{where}{what}{why}"


@dataclass(frozen=True)
class Plan:
    """One change per desired object, plus a delete per owned object no longer wanted."""

    changes: tuple[Change, ...]

    @property
    def drift(self) -> tuple[Change, ...]:
        """What differs from the desired state: every change that is not a keep."""
        return tuple(c for c in self.changes if c.action != KEEP)

    @property
    def changed(self) -> bool:
        return bool(self.drift)

    def counts(self) -> dict[str, int]:
        """Changes per action, every action named (in ``ACTIONS`` order)."""
        return {a: sum(1 for c in self.changes if c.action == a) for a in ACTIONS}

    def lines(self) -> list[str]:
        return [c.line() for c in self.changes]


@dataclass(frozen=True)
class ApplyResult:
    """The plan an apply carried out and the webhook signing secret the helpdesk holds now
    (``None`` when it signs nothing). ``secret_stored``: the connector's copy was missing or
    different and has been replaced (set by whoever stores it)."""

    plan: Plan
    secret: str | None = field(default=None, repr=False)
    webhook_id: str | None = None
    secret_stored: bool = False

    def lines(self) -> list[str]:
        lines = [c.line() for c in self.plan.drift]
        if not lines:
            lines.append("nothing to change: the helpdesk matches the policy")
        if self.secret_stored:
            lines.append(f"stored the signing secret of webhook {self.webhook_id}"
                         if self.webhook_id else
                         "stored the secret the helpdesk's rules now send with each webhook")
        return lines
