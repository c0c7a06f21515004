"""The ``sms-connector`` command as an admin runs it: real processes, real HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from connector.sandbox.stack import wait_for

REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SMS_CONNECTOR_")}
    full_env.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "connector", *args], cwd=REPO,
                            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            **kwargs)


@pytest.mark.slow
def test_serve_on_fresh_sqlite_creates_schema_and_is_ready(tmp_path):
    port = free_port()
    db = tmp_path / "fresh" / "connector.db"
    proc = cli("serve", "--config", str(REPO / "config.example.toml"), "--port", str(port),
               env={"SMS_CONNECTOR_DATABASE__URL": f"sqlite:///{db}"})
    try:
        deadline = time.time() + 30
        status = None
        while time.time() < deadline:
            try:
                status = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert status == 200
        assert db.exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]


def test_invalid_config_exits_non_zero_naming_the_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[zendesk]\nsubdomain = 'acme'\n[[channels]]\nnumber = '5550100'\n")
    for command in (["check-config"], ["serve"], ["worker"], ["db", "upgrade"]):
        proc = cli(*command, "--config", str(bad))
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 2, command
        assert "channels[0].number: not an E.164 number" in err.decode()


def test_db_upgrade_then_current(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    env = {"SMS_CONNECTOR_DATABASE__URL": url, "SMS_CONNECTOR_ZENDESK__SUBDOMAIN": "acme"}
    proc = cli("db", "current", env=env)
    proc.communicate(timeout=60)
    assert proc.returncode == 1  # empty database: not current
    proc = cli("db", "upgrade", env=env)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert "-> " in out.decode()
    proc = cli("db", "current", env=env)
    proc.communicate(timeout=60)
    assert proc.returncode == 0


def test_worker_stops_on_sigterm(tmp_path):
    env = {"SMS_CONNECTOR_DATABASE__URL": f"sqlite:///{tmp_path / 'c.db'}",
           "SMS_CONNECTOR_ZENDESK__SUBDOMAIN": "acme"}
    proc = cli("worker", env=env)
    time.sleep(2.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert "worker stopped" in err.decode()


@pytest.mark.slow
def test_gunicorn_wsgi_app_on_fresh_sqlite_is_ready_and_works_the_queue(tmp_path):
    port = free_port()
    db = tmp_path / "wsgi.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMS_CONNECTOR_")}
    env.update({"SMS_CONNECTOR_CONFIG": str(REPO / "config.example.toml"),
                "SMS_CONNECTOR_DATABASE__URL": f"sqlite:///{db}"})
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen([str(gunicorn), "--bind", f"127.0.0.1:{port}", "wsgi:app"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 30
        status = None
        while time.time() < deadline:
            try:
                status = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert status == 200
        from connector.jobs.queue import Queue
        from connector.store import jobs, make_engine, reading

        engine = make_engine(f"sqlite:///{db}")

        def status_of(kind: str) -> str | None:
            with reading(engine) as conn:
                return conn.execute(select(jobs.c.status).where(jobs.c.kind == kind)).scalar()

        job_id = Queue(engine).enqueue("unknown-kind-stays-ready", {})
        assert job_id is not None
        # The worker thread runs the scheduler's first periodic job (due at start) ...
        wait_for(lambda: status_of("purge_done") == "done", timeout=20)
        # ... and no handler claims an unknown kind.
        assert status_of("unknown-kind-stays-ready") == "ready"
        engine.dispose()
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"worker started" in err


def test_check_config_masks_the_database_password(tmp_path):
    config = tmp_path / "connector.toml"
    config.write_text('[zendesk]\nsubdomain = "acme"\n'
                      '[database]\nurl = "postgresql+psycopg://sms:Sup3r-s3cret%40pw@db.internal'
                      ':5432/sms"\n')
    config.chmod(0o600)
    proc = cli("check-config", "--config", str(config))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert "Sup3r" not in out.decode() + err.decode()
    assert json.loads(out)["database"]["url"] == "postgresql+psycopg://sms:***@db.internal:5432/sms"


@pytest.mark.parametrize(("mode", "warned"), [(0o644, True), (0o640, True), (0o604, True),
                                              (0o600, False), (0o400, False)])
def test_check_config_warns_when_the_config_file_is_readable_by_others(tmp_path, mode, warned):
    config = tmp_path / "connector.toml"
    config.write_text('[zendesk]\nsubdomain = "acme"\napi_token = "zendesk-token-0123456789"\n')
    config.chmod(mode)
    proc = cli("check-config", "--config", str(config))
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert ("readable by group or others" in err.decode()) is warned
    if warned:
        assert "chmod 600" in err.decode()
