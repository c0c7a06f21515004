from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.cli import main
from connector.config import as_dict, load_settings, parse_duration, settings_from_dict
from connector.errors import ConfigurationError

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_example_config_validates_as_shipped():
    settings = load_settings(EXAMPLE, environ={})
    assert settings.helpdesk.kind == "zendesk"
    assert settings.zendesk.effective_base_url == "https://acme.zendesk.com"
    assert settings.twilio.base_url == "https://api.twilio.com"
    assert settings.server.embedded_worker is True
    assert settings.threading.reopen_within == 72 * 3600


def test_example_documents_every_key():
    import tomllib

    from connector.config import config_schema_keys

    example = tomllib.loads(EXAMPLE.read_text())
    text = EXAMPLE.read_text()
    for section, keys in config_schema_keys().items():
        # An optional key without a default TOML can write (None) is shown commented out.
        start = text.find(f"\n[{section}]\n")
        body = text[start:text.find("\n[", start + 1)] if start >= 0 else ""
        for key in keys:
            documented = key in (example.get(section) or {}) or (
                section == "channels" and f"{key} =" in text
            ) or f"\n# {key} = " in body
            assert documented, f"config.example.toml does not document {section}.{key}"


def test_defaults_without_file():
    settings = load_settings(None, environ={"SMS_CONNECTOR_ZENDESK__SUBDOMAIN": "acme"})
    assert settings.database.url.startswith("sqlite:///")
    assert settings.zendesk.subdomain == "acme"


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("[zendesk]\nemail = 'a@b.c'\n", "zendesk.subdomain", "missing"),
        ("[zendesk]\nsubdomain = 'acme'\n[[channels]]\nnumber = '202-555-0100'\n",
         "channels[0].number", "not an E.164 number"),
        ("[zendesk]\nsubdomain = 'acme'\n[[channels]]\nprovider = 'twilio'\n",
         "channels[0].number", "missing"),
        ("[zendesk]\nsubdomain = 'acme'\n[server]\nport = 'eighty'\n", "server.port",
         "must be a whole number"),
        ("[zendesk]\nsubdomian = 'acme'\n", "zendesk.subdomian", "unknown key"),
        ("[zendesk]\nsubdomain = 'acme'\n[helpdesk]\nkind = 'jira'\n", "helpdesk.kind",
         "'jira' is not a registered helpdesk (one of: freshdesk, zendesk)"),
        # Freshdesk chosen: its own section must say where the account is.
        ("[zendesk]\nsubdomain = 'acme'\n[helpdesk]\nkind = 'freshdesk'\n", "freshdesk.domain",
         "missing (or set freshdesk.base_url)"),
        ("[helpdesk]\nkind = 'freshdesk'\n[freshdesk]\ndomain = 'acme.zendesk.com'\n",
         "freshdesk.domain", "not a Freshdesk domain"),
        ("[helpdesk]\nkind = 'freshdesk'\n[freshdesk]\ndomain = 'acme'\nsource = '3'\n",
         "freshdesk.source", "must be a whole number"),
        ("[helpdesk]\nkind = 'zendesk'\n", "zendesk.subdomain", "missing"),
        ("[zendesk]\nsubdomain = 'acme'\n[[channels]]\nprovider = 'vonage'\n"
         "number = '+12025550100'\n",
         "channels[0].provider", "'vonage' is not a registered SMS provider (one of: twilio)"),
        ("[zendesk]\nsubdomain = 'acme'\n[[channels]]\nmessaging_service_sid = 'MGnope'\n",
         "channels[0].messaging_service_sid", "not a Messaging Service SID"),
        ("[zendesk]\nsubdomain = 'acme'\n[threading]\nreopen_within = 'soon'\n",
         "threading.reopen_within", "not a duration"),
        ("[zendesk]\nsubdomain = 'acme'\n[twilio]\naccount_sid = 'nope'\n", "twilio.account_sid",
         "not a Twilio Account SID"),
        ("[zendesk]\nsubdomain = 'acme'\n[database]\nurl = 'mysql://x'\n", "database.url",
         "sqlite"),
        ("[zendesk]\nsubdomain = 'acme'\n[server]\nworker_niceness = 20\n",
         "server.worker_niceness", "less than or equal to 19"),
        ("[zendesk]\nsubdomain = 'acme'\n[escalation]\nproactive_from = '8h'\n",
         "escalation.proactive_from", "not a time of day: write HH:MM"),
        ("[zendesk]\nsubdomain = 'acme'\n[escalation]\nproactive_from = '\u0668:00'\n",
         "escalation.proactive_from", "not a time of day: write HH:MM"),
        ("[zendesk]\nsubdomain = 'acme'\n[escalation]\nproactive_from = '22:00'\n"
         "proactive_until = '08:00'\n", "escalation.proactive_until",
         "must be later than proactive_from"),
        ("[zendesk]\nsubdomain = 'acme'\n[escalation]\nflood_texts = 0\n",
         "escalation.flood_texts", "greater than or equal to 1"),
    ],
)
def test_invalid_config_names_the_key(tmp_path, text, key, message):
    with pytest.raises(ConfigurationError) as info:
        load_settings(write(tmp_path, text), environ={})
    assert key in info.value.errors, info.value.errors
    assert message in info.value.errors[key]
    assert f"{key}: " in str(info.value)


def test_environment_overrides_file_and_fills_lists(tmp_path):
    path = write(tmp_path, "[zendesk]\nsubdomain = 'acme'\napi_token = 'from-file'\n"
                           "[[channels]]\nnumber = '+12025550100'\n")
    env = {
        "SMS_CONNECTOR_ZENDESK__API_TOKEN": "from-env",
        "SMS_CONNECTOR_CHANNELS__0__NUMBER": "+12025550111",
        "SMS_CONNECTOR_CHANNELS__1__MESSAGING_SERVICE_SID": "MG" + "a" * 32,
        "SMS_CONNECTOR_CHANNELS__1__NUMBERS__0": "+12025550122",
        "SMS_CONNECTOR_SERVER__EMBEDDED_WORKER": "false",
        "SMS_CONNECTOR_SERVER__PORT": "9000",
        "SMS_CONNECTOR_TEST_DATABASE_URL": "ignored: no section",
    }
    settings = load_settings(path, environ=env)
    assert settings.zendesk.api_token == "from-env"
    assert settings.channels[0].number == "+12025550111"
    assert settings.channels[1].numbers == ("+12025550122",)
    assert settings.server.embedded_worker is False and settings.server.port == 9000
    assert settings.channel_for(messaging_service_sid=None, to_number="+12025550122") is \
        settings.channels[1]


def test_config_file_from_environment_variable(tmp_path):
    path = write(tmp_path, "[zendesk]\nsubdomain = 'viaenv'\n")
    assert load_settings(None, environ={"SMS_CONNECTOR_CONFIG": str(path)}).zendesk.subdomain == \
        "viaenv"


def test_bad_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_settings(write(tmp_path, "[zendesk\n"), environ={})
    with pytest.raises(ConfigurationError, match="not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_require_names_missing_secret():
    settings = settings_from_dict({"zendesk": {"subdomain": "acme"}})
    with pytest.raises(ConfigurationError) as info:
        settings.require("zendesk.api_token", "twilio.auth_token")
    assert "zendesk.api_token: missing" in str(info.value)
    assert "SMS_CONNECTOR_TWILIO__AUTH_TOKEN" in str(info.value)


def test_secrets_are_masked():
    settings = settings_from_dict({"zendesk": {"subdomain": "acme",
                                               "api_token": "supersecret-token-1234"}})
    data = as_dict(settings)
    assert data["zendesk"]["api_token"] == "****1234"
    assert "supersecret" not in json.dumps(data)


@pytest.mark.parametrize(("value", "seconds"), [("72h", 259200), ("15m", 900), ("30s", 30),
                                                 ("2d", 172800), (45, 45), ("1.5h", 5400)])
def test_durations(value, seconds):
    assert parse_duration(value) == seconds


def test_check_config_command(capsys, tmp_path):
    assert main(["check-config", "--config", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["zendesk"]["subdomain"] == "acme"
    bad = write(tmp_path, "[zendesk]\nemail = 'x'\n")
    assert main(["check-config", "--config", str(bad)]) == 2
    assert "zendesk.subdomain: missing" in capsys.readouterr().err


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://sms:p%40ss@db:5432/sms", "postgresql+psycopg://sms:***@db:5432/sms"),
    ("postgresql://sms:p@ss:w0rd@db/sms", "postgresql://sms:***@db/sms"),
    ("postgresql+psycopg://sms@db/sms", "postgresql+psycopg://sms@db/sms"),
    ("sqlite:///var/lib/sms/connector.db", "sqlite:///var/lib/sms/connector.db"),
])
def test_database_url_password_is_masked(url, shown):
    data = as_dict(settings_from_dict({"zendesk": {"subdomain": "acme"},
                                       "database": {"url": url}}))
    assert data["database"]["url"] == shown
    assert as_dict(settings_from_dict({"zendesk": {"subdomain": "acme"}, "database": {"url": url}}),
                   mask_secrets=False)["database"]["url"] == url
