"""``sms-connector dead-letters list|retry|discard``, in process (click's runner)."""

from __future__ import annotations

from click.testing import CliRunner

from connector.cli.main import cli
from connector.jobs.queue import Queue, dead_letter
from connector.store import make_engine, schema


def test_discard_removes_dead_letters_and_names_the_ids_it_left(tmp_path, monkeypatch):
    db = tmp_path / "c.db"
    monkeypatch.setenv("SMS_CONNECTOR_DATABASE__URL", f"sqlite:///{db}")
    monkeypatch.setenv("SMS_CONNECTOR_ZENDESK__SUBDOMAIN", "acme")
    engine = make_engine(f"sqlite:///{db}")
    schema.upgrade(engine)
    with engine.begin() as conn:
        gone = dead_letter(conn, "inbound", {}, "no channel for +12025550142", now=1.0)
        kept = dead_letter(conn, "inbound", {}, "boom", now=1.0)
    ready = Queue(engine).enqueue("inbound", {})
    runner = CliRunner()

    listed = runner.invoke(cli, ["dead-letters", "list"])
    assert listed.exit_code == 0, listed.output
    assert f"{gone}\tinbound" in listed.output and f"{kept}\tinbound" in listed.output

    result = runner.invoke(cli, ["dead-letters", "discard", str(gone), str(ready)])
    assert result.exit_code == 1  # one of the ids was not a dead letter
    assert "1 job(s) discarded" in result.stdout
    assert f"left alone): {ready}" in result.stderr
    assert [d.id for d in Queue(engine).dead_letters()] == [kept]

    assert runner.invoke(cli, ["dead-letters", "discard", str(kept)]).exit_code == 0
    assert Queue(engine).dead_letters() == []
    assert Queue(engine).counts() == {"ready": 1}

    usage = runner.invoke(cli, ["dead-letters", "discard"])
    assert usage.exit_code == 2 and "IDS" in usage.output
    assert runner.invoke(cli, ["dead-letters", "discard", "x"]).exit_code == 2
    engine.dispose()
