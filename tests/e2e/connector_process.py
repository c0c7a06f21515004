"""A connector in its own process (``sms-connector serve``) wired to an in-test sandbox.

Real HTTP between processes: the sandbox Twilio posts signed webhooks to the connector process,
whose worker calls the sandbox Zendesk and Twilio back over loopback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import Engine

from connector.sandbox.runner import Sandbox, start_sandbox
from connector.sandbox.stack import environment, free_port, sandbox_config
from connector.store import make_engine

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Stack:
    sandbox: Sandbox
    connector_url: str
    config: dict[str, Any]
    engine: Engine
    process: subprocess.Popen[bytes]
    log_path: Path

    def zendesk_state(self) -> dict[str, Any]:
        return requests.get(self.sandbox.zendesk_url + "/_sandbox/state", timeout=10).json()

    def twilio_state(self) -> dict[str, Any]:
        return requests.get(self.sandbox.twilio_url + "/_sandbox/state", timeout=10).json()

    def sms_tickets(self) -> list[dict[str, Any]]:
        return [t for t in self.zendesk_state()["tickets"] if "sms" in t["tags"]]

    def handset(self, phone: str) -> list[dict[str, Any]]:
        return list(self.twilio_state()["handsets"].get(phone, []))

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_for(predicate: Any, timeout: float = 20.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


@contextmanager
def connector_stack(tmp_path: Path, *, opt_out_handling: str = "twilio",
                    twilio_opt_out_handling: bool = True,
                    extra: dict[str, Any] | None = None) -> Iterator[Stack]:
    port = free_port()
    connector_url = f"http://127.0.0.1:{port}"
    sandbox = start_sandbox(zendesk_port=0, twilio_port=0, connector_url=connector_url,
                            twilio_opt_out_handling=twilio_opt_out_handling)
    db_url = f"sqlite:///{tmp_path / 'connector.db'}"
    config = sandbox_config(sandbox, connector_url=connector_url, database_url=db_url,
                            opt_out_handling=opt_out_handling, extra=extra)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMS_CONNECTOR_")}
    env.update(environment(config))
    log_path = tmp_path / "connector.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "connector.cli", "serve", "--port", str(port)],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    engine = make_engine(db_url)
    stack = Stack(sandbox, connector_url, config, engine, process, log_path)
    try:
        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError("connector exited:\n" + stack.logs()[-3000:])
            try:
                return requests.get(connector_url + "/readyz", timeout=1).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(ready, timeout=30)
        yield stack
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        engine.dispose()
        sandbox.stop()
