"""The Twilio stand-in on a real loopback port, checked with requests and the official SDK."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from connector.sandbox.common import Faults, SandboxControls, SandboxServer
from connector.sandbox.signing import twilio_signature
from connector.sandbox.twilio import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_PHONE_NUMBER,
    TwilioSandbox,
    create_app,
    num_segments,
    sign_twilio_request,
)
from tests.connector.sandbox.receiver import Receiver

HANDSET = "+12025550142"
PNG = b"\x89PNG\r\n\x1a\nfake-image"


@dataclass
class Env:
    url: str
    sandbox: TwilioSandbox
    controls: SandboxControls
    receiver: Receiver
    session: requests.Session

    @property
    def messages_url(self) -> str:
        return f"{self.url}/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages.json"

    def send(self, auth: tuple[str, str] | None = None, **form: Any) -> requests.Response:
        form.setdefault("From", DEFAULT_PHONE_NUMBER)
        form.setdefault("Body", "hello")
        data = {k: v for k, v in form.items() if v is not None}
        return self.session.post(
            self.messages_url, data=data, auth=auth or (DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
        )

    def text_in(self, **payload: Any) -> dict[str, Any]:
        payload.setdefault("from", HANDSET)
        response = self.session.post(f"{self.url}/_sandbox/inbound", json=payload)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def state(self) -> dict[str, Any]:
        return dict(self.session.get(f"{self.url}/_sandbox/state").json())


@pytest.fixture
def env() -> Iterator[Env]:
    controls = SandboxControls()
    with Receiver() as receiver:
        app = create_app(sms_webhook_url=f"{receiver.url}/webhooks/sms/twilio", controls=controls)
        with SandboxServer(app) as server, requests.Session() as session:
            yield Env(server.url, app.extensions["twilio_sandbox"], controls, receiver, session)


def assert_signed(received: Any) -> None:
    validator = RequestValidator(DEFAULT_AUTH_TOKEN)
    assert validator.validate(received.url, received.form, received.headers["X-Twilio-Signature"])


def test_sign_helper_is_the_shared_scheme() -> None:
    params = {"b": "2", "a": "1"}
    assert sign_twilio_request("https://x/y", params, "tok") == twilio_signature(
        "tok", "https://x/y", params
    )
    assert RequestValidator("tok").validate(
        "https://x/y", params, sign_twilio_request("https://x/y", params, "tok")
    )


def test_send_returns_the_message_resource_and_fetch_finds_it(env: Env) -> None:
    response = env.send(To=HANDSET, Body="your order shipped")
    assert response.status_code == 201
    message = response.json()
    assert message["sid"].startswith("SM") and len(message["sid"]) == 34
    assert message["status"] == "queued"
    assert message["direction"] == "outbound-api"
    assert message["num_segments"] == "1" and message["num_media"] == "0"
    assert message["price"] is None and message["error_code"] is None
    assert message["date_created"].endswith("+0000")
    assert message["uri"].endswith(f"/Messages/{message['sid']}.json")
    assert set(message["subresource_uris"]) == {"media", "feedback"}
    env.sandbox.sender.flush(5)
    fetched = env.session.get(
        env.url + message["uri"], auth=(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
    )
    assert fetched.json()["status"] == "delivered"
    inbox = env.state()["handsets"][HANDSET]
    assert inbox[-1]["body"] == "your order shipped"
    assert inbox[-1]["from"] == DEFAULT_PHONE_NUMBER


def test_wrong_credentials_get_twilio_401(env: Env) -> None:
    response = env.send(To=HANDSET, auth=(DEFAULT_ACCOUNT_SID, "wrong"))
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == 20003 and body["status"] == 401
    assert body["more_info"] == "https://www.twilio.com/docs/errors/20003"
    assert env.session.post(env.messages_url, data={"To": HANDSET}).status_code == 401
    missing = env.session.get(
        env.messages_url.replace(".json", "/SM" + "0" * 32 + ".json"),
        auth=(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN),
    )
    assert missing.status_code == 404 and missing.json()["code"] == 20404


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"To": None}, 21604),
        ({"To": HANDSET, "From": None}, 21603),
        ({"To": HANDSET, "Body": None}, 21602),
        ({"To": "+15005550001"}, 21211),
        ({"To": "+15005550002"}, 21612),
        ({"To": "+15005550003"}, 21408),
        ({"To": "+15005550004"}, 21610),
        ({"To": "+15005550009"}, 21614),
        ({"To": HANDSET, "From": "+15005550001"}, 21212),
        ({"To": HANDSET, "From": "+15005550007"}, 21606),
        ({"To": HANDSET, "From": "+15005550008"}, 21611),
        ({"To": "555-0142"}, 21211),
        ({"To": HANDSET, "Body": "x" * 1601}, 21617),
        ({"To": HANDSET, "MediaUrl": [f"http://127.0.0.1:9/{i}" for i in range(11)]}, 21623),
    ],
)
def test_synchronous_errors_are_400_with_the_twilio_code(
    env: Env, form: dict[str, Any], code: int
) -> None:
    response = env.send(**form)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == code and body["status"] == 400
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert env.state()["messages"] == []


def test_1600_characters_is_the_limit(env: Env) -> None:
    response = env.send(To=HANDSET, Body="x" * 1600)
    assert response.status_code == 201
    assert response.json()["num_segments"] == "11"  # 1600 / 153, rounded up


def test_segments_follow_gsm7_and_ucs2() -> None:
    assert num_segments("a" * 160) == 1
    assert num_segments("a" * 161) == 2
    assert num_segments("€" * 80) == 1  # extension characters count twice
    assert num_segments("’" * 70) == 1
    assert num_segments("’" * 71) == 2
    assert num_segments("😀" * 35) == 1  # two UTF-16 units each


def test_status_callbacks_are_signed_and_in_order(env: Env) -> None:
    callback = f"{env.receiver.url}/status?x=1"
    sid = env.send(To=HANDSET, StatusCallback=callback).json()["sid"]
    assert env.sandbox.sender.flush(5)
    hits = env.receiver.requests_to("/status")
    assert [h.form["MessageStatus"] for h in hits] == ["queued", "sent", "delivered"]
    for hit in hits:
        assert_signed(hit)
        assert hit.url == callback
        assert hit.form["MessageSid"] == hit.form["SmsSid"] == sid
        assert hit.form["SmsStatus"] == hit.form["MessageStatus"]
        assert hit.form["AccountSid"] == DEFAULT_ACCOUNT_SID
        assert hit.form["ApiVersion"] == "2010-04-01"
        assert (hit.form["From"], hit.form["To"]) == (DEFAULT_PHONE_NUMBER, HANDSET)
        assert "ErrorCode" not in hit.form
    recorded = next(m for m in env.state()["messages"] if m["sid"] == sid)
    assert [c["status"] for c in recorded["callbacks"]] == ["queued", "sent", "delivered"]
    assert all(c["http_status"] == 200 for c in recorded["callbacks"])


@pytest.mark.parametrize(
    ("to", "statuses", "code"),
    [
        ("+12025553003", ["queued", "sent", "undelivered"], "30003"),
        ("+12025553005", ["queued", "sent", "undelivered"], "30005"),
        ("+12025553006", ["queued", "sent", "undelivered"], "30006"),
        ("+12025553007", ["queued", "sent", "undelivered"], "30007"),
        ("+12025553034", ["queued", "failed"], "30034"),
    ],
)
def test_carrier_failures_arrive_in_callbacks(
    env: Env, to: str, statuses: list[str], code: str
) -> None:
    sid = env.send(To=to, StatusCallback=f"{env.receiver.url}/status").json()["sid"]
    assert env.sandbox.sender.flush(5)
    hits = env.receiver.requests_to("/status")
    assert [h.form["MessageStatus"] for h in hits] == statuses
    assert hits[-1].form["ErrorCode"] == code
    assert_signed(hits[-1])
    assert to not in env.state()["handsets"]
    fetched = env.session.get(
        env.messages_url.replace(".json", f"/{sid}.json"),
        auth=(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN),
    ).json()
    assert fetched["status"] == statuses[-1] and fetched["error_code"] == int(code)


def test_messaging_service_send_is_accepted_and_gets_a_sender(env: Env) -> None:
    service = "MG" + "a" * 32
    message = env.send(To=HANDSET, From=None, MessagingServiceSid=service).json()
    assert message["status"] == "accepted" and message["from"] is None
    assert message["messaging_service_sid"] == service
    assert env.send(To=HANDSET, From=None, MessagingServiceSid="MGnope").json()["code"] == 21701
    env.sandbox.sender.flush(5)
    assert env.state()["handsets"][HANDSET][-1]["from"] == DEFAULT_PHONE_NUMBER


def test_outbound_media_is_fetched_and_unreachable_media_fails(env: Env) -> None:
    good = f"{env.receiver.url}/media/1.png"
    sid = env.send(To=HANDSET, MediaUrl=[good], StatusCallback=f"{env.receiver.url}/s").json()[
        "sid"
    ]
    assert sid.startswith("MM")
    bad = env.send(To=HANDSET, MediaUrl=["http://127.0.0.1:9/gone.png"]).json()["sid"]
    env.sandbox.sender.flush(5)
    assert env.receiver.requests_to("/media/1.png")
    state = {m["sid"]: m for m in env.state()["messages"]}
    assert state[sid]["status"] == "delivered"
    assert state[bad]["status"] == "failed" and state[bad]["error_code"] == 11200


def test_inbound_webhook_is_the_form_twilio_posts_and_signed(env: Env) -> None:
    result = env.text_in(body="my order is late")
    assert result["webhook"]["status"] == 200
    (hit,) = env.receiver.requests_to("/webhooks/sms/twilio")
    assert_signed(hit)
    form = hit.form
    assert form["MessageSid"].startswith("SM") and form["MessageSid"] == result["message_sid"]
    assert form["SmsSid"] == form["SmsMessageSid"] == form["MessageSid"]
    assert form["From"] == HANDSET and form["To"] == DEFAULT_PHONE_NUMBER
    assert form["Body"] == "my order is late"
    assert form["NumMedia"] == "0" and form["NumSegments"] == "1"
    assert form["AccountSid"] == DEFAULT_ACCOUNT_SID and form["ApiVersion"] == "2010-04-01"
    assert form["FromCountry"] == "US" and form["SmsStatus"] == "received"
    assert "MessagingServiceSid" not in form and "OptOutType" not in form
    assert hit.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    inbound = env.state()["inbound"]
    assert inbound[0]["status"] == 200 and inbound[0]["body"] == "my order is late"


def test_inbound_twiml_reply_reaches_the_handset(env: Env) -> None:
    env.receiver.body = "<Response><Message>Thanks, we are on it</Message></Response>"
    env.text_in(body="hi")
    assert env.state()["handsets"][HANDSET][-1]["body"] == "Thanks, we are on it"


def test_inbound_rejects_bad_input(env: Env) -> None:
    response = env.session.post(f"{env.url}/_sandbox/inbound", json={"from": "nope"})
    assert response.status_code == 400 and "from" in response.json()["error"]
    response = env.session.post(
        f"{env.url}/_sandbox/inbound", json={"from": HANDSET, "media": [{"content_type": "x"}]}
    )
    assert response.status_code == 400 and "media[0]" in response.json()["error"]


def test_inbound_media_needs_auth_and_redirects_to_another_host(env: Env) -> None:
    env.text_in(
        body="see photo",
        media=[{"content_type": "image/png", "data_base64": base64.b64encode(PNG).decode()}],
    )
    (hit,) = env.receiver.requests_to("/webhooks/sms/twilio")
    assert_signed(hit)
    assert hit.form["MessageSid"].startswith("MM")
    assert hit.form["NumMedia"] == "1" and hit.form["MediaContentType0"] == "image/png"
    media_url = hit.form["MediaUrl0"]
    assert f"/Messages/{hit.form['MessageSid']}/Media/ME" in media_url

    assert env.session.get(media_url).status_code == 401  # Basic auth required
    auth = (DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
    first = env.session.get(media_url, auth=auth, allow_redirects=False)
    assert first.status_code == 307
    target = first.headers["Location"]
    assert urlsplit(target).hostname == "localhost" != urlsplit(media_url).hostname
    # requests follows the redirect and drops the credentials because the host changed
    got = env.session.get(media_url, auth=auth)
    assert got.content == PNG and got.headers["Content-Type"] == "image/png"
    assert "Authorization" not in got.request.headers
    with requests.get(target, timeout=5) as anonymous:  # no credentials needed there
        assert anonymous.content == PNG
    with requests.get(target.replace("Signature=", "Signature=x"), timeout=5) as forged:
        assert forged.status_code == 403
    meta = env.session.get(media_url + ".json", auth=auth).json()
    assert meta["content_type"] == "image/png" and meta["parent_sid"] == hit.form["MessageSid"]


def test_stop_blocks_sends_until_start(env: Env) -> None:
    result = env.text_in(body=" stop ")
    assert result["auto_reply"].startswith("You have successfully been unsubscribed")
    # the STOP still reaches the webhook, without OptOutType on a plain long code
    (hit,) = env.receiver.requests_to("/webhooks/sms/twilio")
    assert hit.form["Body"] == " stop " and "OptOutType" not in hit.form
    assert env.state()["handsets"][HANDSET][-1]["body"] == result["auto_reply"]
    blocked = env.send(To=HANDSET)
    assert blocked.status_code == 400 and blocked.json()["code"] == 21610
    assert env.state()["opt_outs"] == [{"handset": HANDSET, "sender": DEFAULT_PHONE_NUMBER}]
    assert env.send(To="+12025550199").status_code == 201  # other handsets unaffected
    help_reply = env.text_in(body="HELP")["auto_reply"]
    assert "Reply STOP to unsubscribe" in help_reply
    assert env.text_in(body="START")["auto_reply"].startswith("You have successfully been re-")
    assert env.send(To=HANDSET).status_code == 201


def test_messaging_service_inbound_carries_opt_out_type(env: Env) -> None:
    service = "MG" + "b" * 32
    env.text_in(body="UNSUBSCRIBE", messaging_service_sid=service)
    (hit,) = env.receiver.requests_to("/webhooks/sms/twilio")
    assert hit.form["OptOutType"] == "STOP" and hit.form["MessagingServiceSid"] == service
    assert_signed(hit)
    blocked = env.send(To=HANDSET, From=None, MessagingServiceSid=service)
    assert blocked.json()["code"] == 21610


def test_opt_out_handling_off_leaves_keywords_to_the_connector(env: Env) -> None:
    config = env.session.post(f"{env.url}/_sandbox/config", json={"opt_out_handling": False})
    assert config.json()["opt_out_handling"] is False
    assert env.text_in(body="STOP")["auto_reply"] is None
    assert env.send(To=HANDSET).status_code == 201
    bad = env.session.post(f"{env.url}/_sandbox/config", json={"webhook": "x"})
    assert bad.status_code == 400 and "webhook" in bad.json()["error"]


def test_config_can_point_the_webhook_elsewhere(env: Env) -> None:
    env.session.post(
        f"{env.url}/_sandbox/config", json={"sms_webhook_url": f"{env.receiver.url}/other"}
    )
    env.text_in(body="hi")
    (hit,) = env.receiver.requests_to("/other")
    assert_signed(hit)
    env.session.post(f"{env.url}/_sandbox/config", json={"sms_webhook_url": None})
    assert env.text_in(body="hi again")["webhook"]["status"] is None


def test_rate_limit_gives_twilio_429_with_retry_after(env: Env) -> None:
    env.session.post(f"{env.url}/_sandbox/faults", json={"per_minute": 2})
    assert env.send(To=HANDSET).status_code == 201
    assert env.send(To=HANDSET).status_code == 201
    refused = env.send(To=HANDSET)
    assert refused.status_code == 429
    assert refused.json()["code"] == 20429
    assert int(refused.headers["Retry-After"]) >= 1
    assert env.session.get(f"{env.url}/_sandbox/state").status_code == 200  # never limited


def test_down_answers_twilio_503(env: Env) -> None:
    env.controls.update({"down": True})
    response = env.send(To=HANDSET)
    assert response.status_code == 503 and response.json()["code"] == 20503
    assert env.state()["faults"]["down"] is True


def test_drop_after_commit_sends_the_sms_but_the_client_sees_no_answer(env: Env) -> None:
    env.session.post(
        f"{env.url}/_sandbox/faults", json={"drop_after_commit": 1, "drop_paths": "Messages"}
    )
    with pytest.raises(requests.ConnectionError):
        env.send(To=HANDSET, Body="sent once?")
    env.sandbox.sender.flush(5)
    state = env.state()
    assert [m["body"] for m in state["messages"]] == ["sent once?"]
    assert state["handsets"][HANDSET][-1]["body"] == "sent once?"


def test_slow_fault_delays_the_api(env: Env) -> None:
    env.controls.update({"slow_ms": 200})
    response = env.send(To=HANDSET)
    assert response.elapsed.total_seconds() >= 0.2


def test_official_client_against_the_sandbox(env: Env) -> None:
    # twilio-python builds every URL from the domain's base_url (twilio/base/domain.py), so
    # pointing it at the sandbox is one assignment; edge / region must stay unset.
    client = Client(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
    client.edge = client.region = None
    client.api.base_url = env.url
    message = client.messages.create(
        to=HANDSET, from_=DEFAULT_PHONE_NUMBER, body="hello from the SDK"
    )
    assert message.sid.startswith("SM") and message.status == "queued"
    assert message.num_segments == "1"
    assert message.date_created is not None  # the SDK parsed our RFC 2822 date
    env.sandbox.sender.flush(5)
    assert client.messages(message.sid).fetch().status == "delivered"
    with pytest.raises(TwilioRestException) as excinfo:
        client.messages.create(to="+15005550001", from_=DEFAULT_PHONE_NUMBER, body="x")
    assert excinfo.value.code == 21211 and excinfo.value.status == 400
    bad = Client(DEFAULT_ACCOUNT_SID, "wrong")
    bad.edge = bad.region = None
    bad.api.base_url = env.url
    with pytest.raises(TwilioRestException) as excinfo:
        bad.messages.create(to=HANDSET, from_=DEFAULT_PHONE_NUMBER, body="x")
    assert excinfo.value.code == 20003


def test_reset_and_state(env: Env) -> None:
    env.send(To=HANDSET)
    env.sandbox.sender.flush(5)
    state = env.state()
    assert state["account_sid"] == DEFAULT_ACCOUNT_SID
    assert state["config"]["phone_number"] == DEFAULT_PHONE_NUMBER
    assert len(state["messages"]) == 1 and state["webhook_attempts"] == []
    env.session.post(f"{env.url}/_sandbox/reset")
    assert env.state()["messages"] == []


def test_faults_given_at_start_apply() -> None:
    app = create_app(controls=SandboxControls(Faults(down=True)))
    with SandboxServer(app) as server, requests.Session() as session:
        assert session.get(f"{server.url}/2010-04-01/Accounts").status_code == 503


def test_the_list_is_sorted_by_date_sent_and_a_queued_message_has_none(env: Env) -> None:
    # "Sorted by the DateSent field, most recent first"; a message still in the sender's queue
    # has no DateSent: it comes after the sent ones, whatever its creation time.
    first = env.send(To=HANDSET, Body="first").json()["sid"]
    env.sandbox.sender.flush(5)
    env.controls.wall.advance(60)
    assert env.session.post(f"{env.url}/_sandbox/config",
                            json={"hold_queue": True}).json()["hold_queue"] is True
    held = env.send(To=HANDSET, Body="held").json()["sid"]
    env.sandbox.sender.flush(5)
    env.controls.wall.advance(60)
    env.session.post(f"{env.url}/_sandbox/config", json={"hold_queue": False})
    env.sandbox.sender.flush(5)
    env.session.post(f"{env.url}/_sandbox/config", json={"hold_queue": True})
    last = env.send(To=HANDSET, Body="last").json()["sid"]
    env.sandbox.sender.flush(5)

    def listed() -> list[dict[str, Any]]:
        page = env.session.get(env.messages_url, params={"To": HANDSET},
                               auth=(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)).json()
        return list(page["messages"])

    messages = listed()
    assert [m["sid"] for m in messages] == [held, first, last]
    assert [m["status"] for m in messages] == ["delivered", "delivered", "queued"]
    assert messages[2]["date_sent"] is None
    env.session.post(f"{env.url}/_sandbox/config", json={"hold_queue": False})
    env.sandbox.sender.flush(5)
    assert [m["sid"] for m in listed()] == [last, held, first]


def test_more_than_10_media_are_refused_and_more_than_5_mb_fail_with_11751(env: Env) -> None:
    """Eleven MediaUrl: 21623 at create. The sizes are known only once Twilio fetches the
    media: a total over 5 MB is accepted, then fails with 11751 in its status callback."""
    urls = [f"{env.receiver.url}/media/{n}.png" for n in range(11)]
    refused = env.send(To=HANDSET, MediaUrl=urls)
    assert refused.status_code == 400 and refused.json()["code"] == 21623
    env.receiver.body = "x" * (2 * 1024 * 1024)  # each medium 2 MB
    fits = env.send(To=HANDSET, MediaUrl=urls[:2]).json()["sid"]
    too_big = env.send(
        To=HANDSET, MediaUrl=urls[:3], StatusCallback=f"{env.receiver.url}/status"
    ).json()["sid"]
    env.sandbox.sender.flush(10)
    state = {m["sid"]: m for m in env.state()["messages"]}
    assert state[fits]["status"] == "delivered"
    assert state[too_big]["status"] == "failed" and state[too_big]["error_code"] == 11751
    hits = env.receiver.requests_to("/status")
    [failed] = [h for h in hits if h.form["MessageStatus"] == "failed"]
    assert failed.form["ErrorCode"] == "11751"
