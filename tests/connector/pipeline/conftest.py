from __future__ import annotations

import time

import pytest
from sqlalchemy import insert

from connector.config import settings_from_dict
from connector.runtime import Runtime
from connector.sandbox.runner import start_sandbox
from connector.sandbox.stack import SUPPORT_NUMBER, sandbox_config
from connector.store import conversations

CUSTOMER = "+12025550142"


@pytest.fixture
def world(tmp_path):
    """A runtime wired to the in-process sandbox (no web, no worker thread)."""
    sandbox = start_sandbox(zendesk_port=0, twilio_port=0)
    data = sandbox_config(sandbox, connector_url="http://127.0.0.1:9",
                          database_url=f"sqlite:///{tmp_path / 'c.db'}")
    runtime = Runtime(settings_from_dict(data))
    runtime.prepare_schema()
    yield runtime, sandbox
    runtime.close()
    sandbox.stop()


@pytest.fixture
def conversation(world) -> int:
    runtime, _ = world
    now = time.time()
    with runtime.engine.begin() as conn:
        conn.execute(insert(conversations).values(
            id=1, customer_phone=CUSTOMER, channel_key=SUPPORT_NUMBER, helpdesk="zendesk",
            created_at=now, updated_at=now))
    return 1
