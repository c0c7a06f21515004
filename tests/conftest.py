"""Shared fixtures.

``database_url`` runs a test on SQLite and — when ``SMS_CONNECTOR_TEST_DATABASE_URL`` names a
PostgreSQL server (``.ci/run`` sets it) — again on PostgreSQL, in a schema of its own so nothing
else in that database is touched. Without the variable the PostgreSQL run skips with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from connector.store import make_engine, schema
from tests.browser.chromium import launch as browser_launch
from tests.browser.chromium import unavailable as browser_unavailable

PG_ENV = "SMS_CONNECTOR_TEST_DATABASE_URL"
REPO = Path(__file__).resolve().parents[1]


def _pg_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped at the end."""
    base = _pg_url()
    if not base:
        pytest.skip(f"PostgreSQL run skipped: set {PG_ENV} (e.g. "
                    "postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    name = f"smsc_test_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{name}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'connector.db'}"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    schema.upgrade(eng)
    with eng.begin() as conn:  # a clean slate for each test on the shared PostgreSQL schema
        from connector.store import metadata

        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    yield eng
    eng.dispose()


# Browser fixtures (tests/browser/chromium.py): one Chromium per test session for every test
# that needs one (playwright's sync API allows one running instance per thread, so a second
# launch beside the session's fails), and a fresh context and page per test. Skipped with the
# reason when no system Chromium or no playwright package is there.
@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    reason = browser_unavailable()
    if reason:
        pytest.skip(f"browser test skipped: {reason}")
    with browser_launch() as browser:
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
