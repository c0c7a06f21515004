"""connector/jobs/wakeup.py: the worker's wake-up across a fork."""

from __future__ import annotations

import os
import threading
import time

import pytest

from connector.jobs.wakeup import PipeWake


@pytest.fixture
def wake():
    pipe = PipeWake()
    yield pipe
    pipe.close()


def test_set_wakes_wait_and_clear_resets(wake):
    assert wake.wait(0) is False
    wake.set()
    wake.set()
    assert wake.wait(0) is True
    wake.clear()
    assert wake.wait(0.01) is False


def test_set_never_blocks_on_a_full_pipe(wake):
    def flood() -> None:
        for _ in range(200_000):  # far more than a pipe buffer (64 KiB on Linux)
            wake.set()

    setter = threading.Thread(target=flood, daemon=True)
    setter.start()
    setter.join(60)
    assert not setter.is_alive(), "set() blocked on a full pipe"
    wake.clear()
    assert wake.wait(0) is False


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_set_in_another_process_wakes_the_waiter(wake):
    pid = os.fork()
    if pid == 0:
        time.sleep(0.2)
        wake.set()
        os._exit(0)
    try:
        assert wake.wait(10) is True
    finally:
        os.waitpid(pid, 0)
