"""End-to-end plumbing: see connector/sandbox/stack.py (shared with the demo and benchmarks)."""

import requests
from sqlalchemy import func, select

from connector.sandbox.stack import Stack, wait_for
from connector.sandbox.stack import connector_process as connector_stack
from connector.store import jobs, make_engine, metadata, reading, schema

__all__ = ["Stack", "clean_postgres", "connector_stack", "idle", "settled", "wait_for"]


def idle(stack: Stack) -> bool:
    """No job of the connector ready or running."""
    with reading(stack.engine) as conn:
        busy = conn.execute(select(func.count()).select_from(jobs)
                            .where(jobs.c.status.in_(("ready", "running")))).scalar_one()
    return busy == 0


def settled(stack: Stack) -> bool:
    """No job waiting, no helpdesk webhook or Twilio callback still on its way."""
    requests.post(stack.sandbox.helpdesk_url + "/_sandbox/flush", json={}, timeout=15)
    requests.post(stack.sandbox.twilio_url + "/_sandbox/flush", json={}, timeout=15)
    return idle(stack)


def clean_postgres(url: str) -> str:
    """The test schema migrated and emptied, for a connector process to run on."""
    engine = make_engine(url)
    schema.upgrade(engine)
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    engine.dispose()
    return url
