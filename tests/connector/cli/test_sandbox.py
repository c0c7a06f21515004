"""``sms-connector sandbox`` as a developer runs it: a real process, real ports, real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from twilio.request_validator import RequestValidator

from connector.cli import cli
from connector.config import settings_from_dict
from connector.sandbox.twilio import DEFAULT_AUTH_TOKEN, DEFAULT_PHONE_NUMBER
from tests.connector.sandbox.receiver import Receiver

REPO = Path(__file__).resolve().parents[3]
WEBHOOK_PATH = "/webhooks/sms/twilio"
ZENDESK_AUTH = ("connector@example.com/token", "sandbox-api-token")
TWIML_REPLY = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Got it</Message></Response>'

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env() -> dict[str, str]:
    # A developer's own SMS_CONNECTOR_* settings must not leak into what the test checks.
    return {k: v for k, v in os.environ.items() if not k.startswith("SMS_CONNECTOR_")}


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/_sandbox/state", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


@dataclass
class SandboxProcess:
    process: subprocess.Popen[str]
    zendesk_url: str
    twilio_url: str

    def url_args(self) -> list[str]:
        return ["--zendesk-url", self.zendesk_url, "--twilio-url", self.twilio_url]

    def read_banner(self) -> str:
        """What the sandbox printed at start (it prints, then waits for a signal)."""
        assert self.process.stdout is not None
        lines = []
        for line in self.process.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        return "".join(lines)

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        out, err = self.process.communicate(timeout=30)
        return self.process.returncode, out, err


def start_sandbox_process(*extra: str) -> SandboxProcess:
    zendesk_port, twilio_port = free_port(), free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "connector",
            "sandbox",
            "--zendesk-port",
            str(zendesk_port),
            "--twilio-port",
            str(twilio_port),
            *extra,
        ],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = SandboxProcess(
        process, f"http://127.0.0.1:{zendesk_port}", f"http://127.0.0.1:{twilio_port}"
    )
    deadline = time.monotonic() + 30
    while not (answers(running.zendesk_url) and answers(running.twilio_url)):
        if process.poll() is not None:
            _rc, out, err = running.stop()
            raise AssertionError(f"sandbox exited early ({process.returncode}):\n{out}\n{err}")
        if time.monotonic() > deadline:
            running.stop(signal.SIGKILL)
            raise AssertionError("the sandbox did not answer within 30 s")
        time.sleep(0.1)
    return running


@pytest.fixture
def connector() -> Iterator[Receiver]:
    """Stands in for the connector's Twilio webhook; answers with a TwiML reply."""
    with Receiver(body=TWIML_REPLY) as receiver:
        yield receiver


@pytest.fixture
def sandbox(connector: Receiver) -> Iterator[SandboxProcess]:
    running = start_sandbox_process("--connector-url", connector.url)
    try:
        yield running
    finally:
        returncode, _out, err = running.stop()
        assert returncode == 0, err
        assert "sandbox stopped (SIGTERM)" in err


def test_start_prints_urls_and_a_config_that_points_the_connector_at_it(
    connector: Receiver,
) -> None:
    running = start_sandbox_process("--connector-url", connector.url + "/")
    try:
        out = running.read_banner()
        assert f"Zendesk sandbox  {running.zendesk_url}" in out
        assert f"Twilio sandbox   {running.twilio_url}" in out
        assert f"Inbound texts go to {connector.url}{WEBHOOK_PATH}" in out
        # The indented block is the snippet; it must load as the connector's own config.
        snippet = out.split("Point the connector at the sandbox")[1].split("\nThen:")[0]
        settings = settings_from_dict(tomllib.loads(snippet.split("\n", 1)[1]))
        assert settings.zendesk.effective_base_url == running.zendesk_url
        assert settings.twilio.base_url == running.twilio_url
        assert settings.twilio.auth_token == DEFAULT_AUTH_TOKEN
        assert settings.server.public_url == connector.url  # Twilio signs the URL it calls
        assert settings.channels[0].number == DEFAULT_PHONE_NUMBER
        # The credentials printed are the ones the stand-in accepts.
        response = requests.get(
            f"{running.zendesk_url}/api/v2/users/me.json",
            auth=(f"{settings.zendesk.email}/token", settings.zendesk.api_token),
            timeout=10,
        )
        assert response.status_code == 200, response.text
    finally:
        returncode, _out, err = running.stop()
    assert returncode == 0, err


def test_text_posts_a_twilio_signed_webhook_to_the_connector(
    sandbox: SandboxProcess, connector: Receiver
) -> None:
    result = run_cli(
        "sandbox", "text", "+12025550142", "my order is late", "--twilio-url", sandbox.twilio_url
    )
    assert result.returncode == 0, result.stderr
    webhook_url = f"{connector.url}{WEBHOOK_PATH}"
    assert f"webhook: POST {webhook_url} → 200" in result.stdout
    assert "Got it" in result.stdout  # the connector's TwiML answer is shown
    [posted] = connector.requests_to(WEBHOOK_PATH)
    assert posted.form["From"] == "+12025550142"
    assert posted.form["To"] == DEFAULT_PHONE_NUMBER
    assert posted.form["Body"] == "my order is late"
    assert posted.form["MessageSid"] in result.stdout
    signature = posted.headers["X-Twilio-Signature"]
    assert RequestValidator(DEFAULT_AUTH_TOKEN).validate(webhook_url, posted.form, signature)
    assert not RequestValidator("another-token").validate(webhook_url, posted.form, signature)


def test_text_goes_to_the_first_channel_of_the_config(
    sandbox: SandboxProcess, connector: Receiver
) -> None:
    result = run_cli(
        "sandbox",
        "text",
        "+12025550142",
        "hello",
        "--twilio-url",
        sandbox.twilio_url,
        "--config",
        str(REPO / "config.example.toml"),
    )
    assert result.returncode == 0, result.stderr
    [posted] = connector.requests_to(WEBHOOK_PATH)
    assert posted.form["To"] == "+12025550100"  # config.example.toml's channel
    result = run_cli(
        "sandbox",
        "text",
        "+12025550142",
        "STOP",
        "--to",
        "+12025550199",
        "--twilio-url",
        sandbox.twilio_url,
    )
    assert result.returncode == 0, result.stderr
    assert connector.requests_to(WEBHOOK_PATH)[-1].form["To"] == "+12025550199"
    assert "Twilio answered the handset itself: You have successfully been unsubscribed" in (
        result.stdout
    )


def test_reply_is_an_agent_comment_made_in_the_web_ui(sandbox: SandboxProcess) -> None:
    created = requests.post(
        f"{sandbox.zendesk_url}/api/v2/tickets.json",
        json={"ticket": {"subject": "Late order", "comment": {"body": "my order is late"}}},
        auth=ZENDESK_AUTH,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    ticket_id = created.json()["ticket"]["id"]

    result = run_cli(
        "sandbox", "reply", str(ticket_id), "on its way", "--zendesk-url", sandbox.zendesk_url
    )
    assert result.returncode == 0, result.stderr
    assert f"ticket #{ticket_id} [open]: public reply" in result.stdout
    result = run_cli(
        "sandbox",
        "reply",
        str(ticket_id),
        "customer is a VIP",
        "--private",
        "--zendesk-url",
        sandbox.zendesk_url,
    )
    assert result.returncode == 0, result.stderr
    assert "internal note" in result.stdout

    comments = requests.get(
        f"{sandbox.zendesk_url}/api/v2/tickets/{ticket_id}/comments.json",
        auth=ZENDESK_AUTH,
        timeout=10,
    ).json()["comments"]
    assert [(c["body"], c["public"], c["via"]["channel"]) for c in comments[1:]] == [
        ("on its way", True, "web"),
        ("customer is a VIP", False, "web"),
    ]


def test_reply_to_a_missing_ticket_is_one_line_and_exit_1(sandbox: SandboxProcess) -> None:
    result = run_cli("sandbox", "reply", "999999", "hello", "--zendesk-url", sandbox.zendesk_url)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "404" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_show_prints_what_both_services_hold(sandbox: SandboxProcess) -> None:
    requests.post(
        f"{sandbox.zendesk_url}/api/v2/tickets.json",
        json={"ticket": {"subject": "Where is my parcel", "comment": {"body": "hello"}}},
        auth=ZENDESK_AUTH,
        timeout=10,
    ).raise_for_status()
    assert (
        run_cli(
            "sandbox",
            "text",
            "+12025550142",
            "my order is late",
            "--twilio-url",
            sandbox.twilio_url,
        ).returncode
        == 0
    )

    result = run_cli("sandbox", "show", *sandbox.url_args())
    assert result.returncode == 0, result.stderr
    assert f"Zendesk ({sandbox.zendesk_url})" in result.stdout
    assert "'Where is my parcel'" in result.stdout
    assert f"Twilio ({sandbox.twilio_url})" in result.stdout
    assert "'my order is late' → webhook 200" in result.stdout
    assert "from +15005550006: Got it" in result.stdout  # the TwiML reply reached the handset


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_it_cleanly_and_frees_the_ports(sig: int) -> None:
    running = start_sandbox_process("--connector-url", "")
    returncode, out, err = running.stop(sig)
    assert returncode == 0, err
    assert f"sandbox stopped ({signal.Signals(sig).name})" in err
    assert "Traceback" not in err
    assert "Inbound texts are recorded, not posted" in out
    assert not answers(running.zendesk_url) and not answers(running.twilio_url)


def test_a_busy_port_is_one_line_and_exit_1() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("sandbox", "start", "--zendesk-port", str(port), "--twilio-port", "0")
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1 port {port} (")
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["text", "+12025550142", "my order is late", "--twilio-url"],
        ["reply", "1", "on its way", "--zendesk-url"],
    ],
)
def test_no_sandbox_running_is_one_line_and_exit_1(command: list[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_cli("sandbox", *command, url)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: no sandbox answers at {url} (connection refused); "
        "start one with `sms-connector sandbox`\n"
    )
    assert result.stdout == ""


def test_show_with_no_sandbox_running_is_one_line_and_exit_1() -> None:
    zendesk_url, twilio_url = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    result = run_cli("sandbox", "show", "--zendesk-url", zendesk_url, "--twilio-url", twilio_url)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: no sandbox answers at {zendesk_url} or {twilio_url}")
    assert len(result.stderr.splitlines()) == 1


def test_an_invalid_config_names_the_key_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[zendesk]\nsubdomain = 'acme'\n[[channels]]\nnumber = '5550100'\n")
    result = run_cli("sandbox", "text", "+12025550142", "hi", "--config", str(bad))
    assert result.returncode == 2
    assert "channels[0].number: not an E.164 number" in result.stderr


# --- argument errors: no process needed -------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sandbox", "text", "2025550142", "hi"], "'2025550142' is not an E.164 number"),
        (["sandbox", "text", "+12025550142", "hi", "--to", "support"], "not an E.164 number"),
        (["sandbox", "text", "+12025550142"], "Missing argument 'BODY'"),
        (["sandbox", "reply", "abc", "hi"], "'abc' is not a valid integer"),
        (["sandbox", "--host", "0.0.0.0"], "'0.0.0.0' is not a loopback address"),
        (["sandbox", "start", "--zendesk-port", "70000"], "70000 is not in the range"),
        (["sandbox", "--zendesk-port", "9000", "--twilio-port", "9000"], "ports of their own"),
        (["sandbox", "--per-minute", "0"], "0 is not in the range x>=1"),
        (["sandbox", "--twilio-port", "9000", "show"], "--twilio-port: options of `sandbox start`"),
    ],
)
def test_argument_errors_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_help_lists_the_subcommands() -> None:
    result = CliRunner().invoke(cli, ["sandbox", "--help"])
    assert result.exit_code == 0
    for name in ("start", "text", "reply", "show"):
        assert name in result.output


def test_freshdesk_start_reply_and_show(connector: Receiver) -> None:
    """`sandbox --helpdesk freshdesk`: its banner's config points a connector at the Freshdesk
    stand-in, `reply` is an agent's reply in its UI, `show` prints its tickets and notes."""
    fd_port, twilio_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "connector", "sandbox", "--helpdesk", "freshdesk",
         "--freshdesk-port", str(fd_port), "--twilio-port", str(twilio_port),
         "--connector-url", connector.url],
        cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    running = SandboxProcess(process, f"http://127.0.0.1:{fd_port}",
                             f"http://127.0.0.1:{twilio_port}")
    try:
        out = running.read_banner()
        assert f"Freshdesk sandbox {running.zendesk_url}" in out
        snippet = "\n".join(line[4:] for line in out.splitlines() if line.startswith("    ")
                            and not line.startswith("    sms-connector"))
        settings = settings_from_dict(tomllib.loads(snippet))
        assert settings.helpdesk.kind == "freshdesk"
        assert settings.freshdesk.effective_base_url == running.zendesk_url
        auth = (settings.freshdesk.api_key, "X")
        contact = requests.post(f"{running.zendesk_url}/api/v2/contacts", auth=auth, timeout=10,
                                json={"name": "Pat", "phone": "+12025550142"}).json()
        ticket = requests.post(f"{running.zendesk_url}/api/v2/tickets", auth=auth, timeout=10,
                               json={"requester_id": contact["id"], "subject": "SMS",
                                     "description": "where is my order", "status": 2,
                                     "priority": 1, "source": 3, "tags": ["sms"]}).json()
        replied = run_cli("sandbox", "reply", str(ticket["id"]), "on its way", "--helpdesk",
                          "freshdesk", "--helpdesk-url", running.zendesk_url)
        assert replied.returncode == 0, replied.stderr
        assert f"ticket #{ticket['id']}: public reply by agent" in replied.stdout
        shown = run_cli("sandbox", "show", "--helpdesk", "freshdesk", "--helpdesk-url",
                        running.zendesk_url, "--twilio-url", running.twilio_url)
        assert shown.returncode == 0, shown.stderr
        assert f"Freshdesk ({running.zendesk_url})" in shown.stdout
        assert f"#{ticket['id']} [open]" in shown.stdout and "public  " in shown.stdout
        assert "on its way" in shown.stdout
    finally:
        returncode, _out, err = running.stop()
        assert returncode == 0, err
