"""``sms-connector policy``: exit codes and output (the full runs are in tests/e2e)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from connector.cli import cli
from connector.sandbox.runner import start_sandbox
from connector.sandbox.stack import ZENDESK_EMAIL, ZENDESK_TOKEN


def env(tmp_path, **extra: str) -> dict[str, str]:
    base = {"SMS_CONNECTOR_CONFIG": "", "SMS_CONNECTOR_ZENDESK__SUBDOMAIN": "acme",
            "SMS_CONNECTOR_DATABASE__URL": f"sqlite:///{tmp_path / 'c.db'}"}
    base.update(extra)
    return base


def test_lint_of_the_default_pack_is_clean(tmp_path):
    result = CliRunner().invoke(cli, ["policy", "lint"], env=env(tmp_path))
    assert result.exit_code == 0 and "policy pack OK" in result.output


def test_lint_of_a_pack_that_does_not_load_is_exit_2(tmp_path):
    pack = tmp_path / "pack.toml"
    pack.write_text("not = [valid")
    result = CliRunner().invoke(cli, ["policy", "lint"],
                                env=env(tmp_path, SMS_CONNECTOR_POLICY__PACK=str(pack)))
    assert result.exit_code == 2 and "invalid TOML" in result.output


def test_plan_without_credentials_names_the_keys(tmp_path):
    result = CliRunner().invoke(cli, ["policy", "plan"], env=env(tmp_path))
    assert result.exit_code == 2
    assert "zendesk.email" in result.output and "zendesk.api_token" in result.output


def test_plan_and_apply_against_the_sandbox(tmp_path):
    with start_sandbox(zendesk_port=0, twilio_port=0) as sandbox:
        variables = env(tmp_path, SMS_CONNECTOR_ZENDESK__BASE_URL=sandbox.zendesk_url,
                        SMS_CONNECTOR_ZENDESK__EMAIL=ZENDESK_EMAIL,
                        SMS_CONNECTOR_ZENDESK__API_TOKEN=ZENDESK_TOKEN)
        runner = CliRunner()
        plan = runner.invoke(cli, ["policy", "plan"], env=variables)
        assert plan.exit_code == 2, plan.output  # changes pending
        lines = plan.stdout.splitlines()
        assert "create  webhook '[sms-connector] agent replies'" in lines
        assert "create  trigger '[sms-connector] Send public agent replies as SMS'" in lines
        [counts] = [line for line in lines if line.startswith("plan: ")]
        assert ", 0 to update, 0 to delete, 0 unchanged" in counts
        as_json = runner.invoke(cli, ["policy", "plan", "--json"], env=variables)
        assert as_json.exit_code == 2
        changes = json.loads(as_json.stdout)
        assert {"kind": "webhook", "name": "[sms-connector] agent replies",
                "action": "create", "changes": {}} in changes
        assert {c["action"] for c in changes} == {"create"}
        applied = runner.invoke(cli, ["policy", "apply"], env=variables)
        assert applied.exit_code == 0 and "stored the signing secret" in applied.output
        assert "create  trigger '[sms-connector] Send public agent replies as SMS'" in \
            applied.stdout.splitlines()  # shown as it was written, once
        assert applied.stdout.count("Send public agent replies as SMS") == 1
        again = runner.invoke(cli, ["policy", "apply"], env=variables)
        assert again.stdout.strip() == "nothing to change: the helpdesk matches the policy"
        clean = runner.invoke(cli, ["policy", "plan", "--json"], env=variables)
        assert clean.exit_code == 0, clean.output
        assert {c["action"] for c in json.loads(clean.stdout)} == {"noop"}


def test_unreachable_helpdesk_is_exit_1(tmp_path):
    variables = env(tmp_path, SMS_CONNECTOR_ZENDESK__BASE_URL="http://127.0.0.1:9",
                    SMS_CONNECTOR_ZENDESK__EMAIL="a@b.c", SMS_CONNECTOR_ZENDESK__API_TOKEN="t",
                    SMS_CONNECTOR_ZENDESK__TIMEOUT="1")
    result = CliRunner().invoke(cli, ["policy", "plan"], env=variables)
    assert result.exit_code == 1 and "reading the helpdesk failed" in result.output
