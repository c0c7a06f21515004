"""``sms-connector serve``'s processes (connector/serve/supervisor.py), as an admin runs it: the
queue worker in a process of its own (at ``server.worker_niceness``), woken by webhooks,
restarted when it dies, stopped with ``serve``; no orphans when ``serve`` is killed."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from connector.sandbox.runner import send_text
from connector.sandbox.stack import SUPPORT_NUMBER, Stack, connector_process, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

# A poll this long means only the webhook's wake-up can get a text handled within the test.
SLOW_POLL = {"queue": {"poll_interval_seconds": 60}}


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:  # field 4, ppid (https://man7.org/linux/man-pages/man5/proc_pid_stat.5.html)
                found.append(int(entry.name))
    return found


def niceness(pid: int) -> int:
    return int((Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split())[16])


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def roles(stack: Stack) -> tuple[int, int]:
    """(gunicorn arbiter, queue worker): the arbiter is the child that has a child of its own."""
    def both() -> list[int] | None:
        kids = children(stack.process.pid)
        return kids if len(kids) == 2 else None

    kids = wait_for(both, timeout=20)
    arbiter = wait_for(lambda: next((k for k in kids if children(k)), None), timeout=20)
    return arbiter, next(k for k in kids if k != arbiter)


def texted_and_acknowledged(stack: Stack, phone: str) -> None:
    send_text(stack.sandbox.twilio_url, phone, "my order #12 has not arrived", SUPPORT_NUMBER)
    wait_for(lambda: stack.handset(phone), timeout=20)


def test_worker_runs_beside_gunicorn_at_its_niceness_and_webhooks_wake_it(tmp_path):
    niced = {**SLOW_POLL, "server": {"worker_niceness": 3}}
    with connector_process(tmp_path, extra=niced) as stack:
        arbiter, worker = roles(stack)
        assert niceness(worker) == min(19, niceness(stack.process.pid) + 3)
        assert niceness(arbiter) == niceness(stack.process.pid)
        texted_and_acknowledged(stack, "+12025550101")  # well before the 60 s poll
        stack.process.send_signal(signal.SIGTERM)
        assert stack.process.wait(45) == 0
        assert not alive(worker) and not alive(arbiter)
    assert "worker stopped" in stack.logs()


def test_a_dead_worker_is_restarted(tmp_path):
    with connector_process(tmp_path, extra=SLOW_POLL) as stack:
        _arbiter, worker = roles(stack)
        os.kill(worker, signal.SIGKILL)
        replacement = wait_for(lambda: next(
            (k for k in children(stack.process.pid) if k != worker and not children(k)), None),
            timeout=20)
        assert replacement != worker
        texted_and_acknowledged(stack, "+12025550102")
    assert "queue worker exited; restarting" in stack.logs()


def test_gunicorn_exiting_stops_the_worker_and_serve(tmp_path):
    with connector_process(tmp_path) as stack:
        arbiter, worker = roles(stack)
        os.kill(arbiter, signal.SIGKILL)
        assert stack.process.wait(45) != 0
        wait_for(lambda: not alive(worker), timeout=45)
    assert "gunicorn exited; stopping the queue worker" in stack.logs()


def test_killed_serve_leaves_no_orphans(tmp_path):
    with connector_process(tmp_path) as stack:
        arbiter, worker = roles(stack)
        http_worker = children(arbiter)[0]
        stack.process.kill()
        stack.process.wait(10)
        for pid in (arbiter, worker, http_worker):
            wait_for(lambda p=pid: not alive(p), timeout=45)


def test_no_worker_serves_without_a_worker_process(tmp_path):
    with connector_process(tmp_path, layout="serve+worker") as stack:
        # serve --no-worker is gunicorn itself: its only child is gunicorn's HTTP worker
        kids = wait_for(lambda: children(stack.process.pid), timeout=20)
        assert len(kids) == 1 and not children(kids[0])
