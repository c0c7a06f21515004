"""Job handlers, one module per flow; ``build_handlers`` is the explicit registry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.runtime import Runtime


def build_handlers(runtime: Runtime) -> dict[str, Any]:
    return {}
