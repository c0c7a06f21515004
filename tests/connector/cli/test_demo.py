"""The README's first command: the demo tells the whole story and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from connector.cli.demo import SCENES


@pytest.mark.slow
def test_demo_runs_the_story(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMS_CONNECTOR_")}
    proc = subprocess.run([sys.executable, "-m", "connector", "demo", "--workdir", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "create  trigger '[sms-connector] Send public agent replies as SMS'" in out
    assert "Zendesk ticket #" in out and "tags sms, sms_order, sms_p3" in out
    assert "customer receives: \"Acme Support:" in out
    assert "customer receives: \"Sorry about that! I've opened a trace" in out  # smart-encoded
    assert "error 30003" in out
    assert "opted out of SMS" in out and "texts sent after STOP: 0" in out
    assert "minutes later" in out and "sms_esc_status_unknown" in out  # the escalation scene
    assert "files problem ticket #" in out and "texts each: [1, 1, 1]" in out  # the outage
    assert f"Demo finished: {len(SCENES)} scenes" in out
    assert (tmp_path / "sms-connector.db").exists()


@pytest.mark.slow
def test_demo_runs_the_story_on_freshdesk(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMS_CONNECTOR_")}
    proc = subprocess.run([sys.executable, "-m", "connector", "demo", "--helpdesk", "freshdesk",
                           "--workdir", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "create  automation rule '[sms-connector] Text agent replies to the customer'" in out
    assert "Freshdesk ticket #" in out and "sms, sms_order, sms_p3" in out
    assert "customer receives: \"Acme Support:" in out
    assert "customer receives: \"Sorry about that! I've opened a trace" in out
    assert "error 30003" in out
    assert "opted out of SMS" in out and "texts sent after STOP: 0" in out
    assert "sms_esc_status_unknown" in out
    assert "files problem ticket #" in out and "texts each: [1, 1, 1]" in out
    assert f"Demo finished: {len(SCENES)} scenes" in out
