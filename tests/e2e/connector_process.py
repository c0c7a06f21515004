"""End-to-end plumbing: see connector/sandbox/stack.py (shared with the demo and benchmarks)."""

from connector.sandbox.stack import Stack, wait_for
from connector.sandbox.stack import connector_process as connector_stack
from connector.store import make_engine, metadata, schema

__all__ = ["Stack", "clean_postgres", "connector_stack", "wait_for"]


def clean_postgres(url: str) -> str:
    """The test schema migrated and emptied, for a connector process to run on."""
    engine = make_engine(url)
    schema.upgrade(engine)
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    engine.dispose()
    return url
