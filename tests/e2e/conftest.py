from __future__ import annotations

import pytest

from .connector_process import clean_postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def stack_database(request: pytest.FixtureRequest) -> str | None:
    """Where the connector process keeps its store: its embedded SQLite file (None), and again
    PostgreSQL (scale-out), migrated and emptied."""
    if request.param == "postgresql":
        return clean_postgres(request.getfixturevalue("pg_schema_url"))
    return None
