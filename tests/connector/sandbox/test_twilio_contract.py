"""The same send checks against the sandbox and, with credentials, against the real Twilio API.

Set ``TWILIO_ACCOUNT_SID`` / ``TWILIO_AUTH_TOKEN`` to your TEST credentials
(https://www.twilio.com/docs/iam/test-credentials) to run the live half: they cost nothing and
only the magic From number +15005550006 is accepted, so nothing reaches a phone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from connector.sandbox.common import SandboxServer
from connector.sandbox.twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, create_app

MAGIC_FROM = "+15005550006"
VALID_TO = "+14108675310"  # an ordinary number in Twilio's own examples


@dataclass
class Target:
    base_url: str
    account_sid: str
    auth_token: str
    session: requests.Session

    def send(self, auth_token: str | None = None, **form: str) -> requests.Response:
        return self.session.post(
            f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json",
            data=form,
            auth=(self.account_sid, auth_token or self.auth_token),
            timeout=20,
        )


@pytest.fixture(params=["sandbox", "live"])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    with requests.Session() as session:
        if request.param == "live":
            sid, token = os.environ.get("TWILIO_ACCOUNT_SID"), os.environ.get("TWILIO_AUTH_TOKEN")
            if not sid or not token:
                pytest.skip(
                    "live Twilio contract skipped: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN "
                    "to your test credentials"
                )
            yield Target("https://api.twilio.com", sid, token, session)
            return
        with SandboxServer(create_app()) as server:
            yield Target(server.url, DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, session)
            server.app.extensions["twilio_sandbox"].sender.flush(5)


def test_send_is_queued(target: Target) -> None:
    response = target.send(To=VALID_TO, From=MAGIC_FROM, Body="contract check")
    assert response.status_code == 201, response.text
    message = response.json()
    assert message["sid"].startswith("SM") and len(message["sid"]) == 34
    assert message["status"] == "queued"
    assert message["to"] == VALID_TO and message["from"] == MAGIC_FROM
    assert message["account_sid"] == target.account_sid
    for key in ("date_created", "num_segments", "price", "uri", "subresource_uris", "error_code"):
        assert key in message


@pytest.mark.parametrize(
    ("to", "code"),
    [
        ("+15005550001", 21211),
        ("+15005550002", 21612),
        ("+15005550003", 21408),
        ("+15005550004", 21610),
        ("+15005550009", 21614),
    ],
)
def test_magic_to_numbers(target: Target, to: str, code: int) -> None:
    response = target.send(To=to, From=MAGIC_FROM, Body="x")
    assert response.status_code == 400
    assert response.json()["code"] == code


@pytest.mark.parametrize(("from_", "code"), [("+15005550001", 21212), ("+15005550008", 21611)])
def test_magic_from_numbers(target: Target, from_: str, code: int) -> None:
    response = target.send(To=VALID_TO, From=from_, Body="x")
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_body_over_1600_is_refused(target: Target) -> None:
    response = target.send(To=VALID_TO, From=MAGIC_FROM, Body="x" * 1601)
    assert response.status_code == 400
    assert response.json()["code"] == 21617


def test_missing_to_is_refused(target: Target) -> None:
    response = target.send(From=MAGIC_FROM, Body="x")
    assert response.status_code == 400
    assert response.json()["code"] == 21604


def test_wrong_token_is_401(target: Target) -> None:
    response = target.send(auth_token="0" * 32, To=VALID_TO, From=MAGIC_FROM, Body="x")
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == 20003 and body["status"] == 401
