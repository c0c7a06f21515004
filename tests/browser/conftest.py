"""Browser fixtures (see chromium.py): ``chromium`` (one browser per test session) and
``browser_page`` (a fresh context and page per test). Skipped with the reason when no system
Chromium or no playwright package is there."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.chromium import launch, unavailable


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    reason = unavailable()
    if reason:
        pytest.skip(f"browser test skipped: {reason}")
    with launch() as browser:
        yield browser


@pytest.fixture
def browser_page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)  # a missing element fails in seconds, not 30
        yield page
    finally:
        context.close()
