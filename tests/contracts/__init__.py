"""One abstract suite per port (``sms``, ``helpdesk``, ``helpdesk_automation``); each adapter's
tests subclass it against the adapter's stand-in (model: huey's tests/test_storage.py and
anymail's tests/webhook_cases.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


class StandInSuite:
    """What every contract suite shares: a stand-in started for each test and stopped after it.

    Subclasses implement ``start`` (the returned world is handed to every other hook) and
    ``stop``.
    """

    def start(self) -> Any:
        """Start the stand-in; the returned world is handed to every other hook."""
        raise NotImplementedError

    def stop(self, world: Any) -> None:
        raise NotImplementedError

    @pytest.fixture
    def world(self) -> Iterator[Any]:
        world = self.start()
        try:
            yield world
        finally:
            self.stop(world)
