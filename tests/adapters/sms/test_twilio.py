"""adapters.sms.twilio: send, reconcile, media fetch, webhook parsing and signatures."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from responses import matchers
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from adapters.sms.base import ERROR_RETRYABLE
from adapters.sms.twilio import (
    TwilioClient,
    describe_error,
    parse_inbound,
    parse_status,
    status_rank,
    verify_webhook,
)
from connector.errors import (
    ExternalServiceError,
    MediaUnavailable,
    RateLimited,
    SmsRejected,
    TransientError,
)
from connector.model import KEYWORD_HELP, KEYWORD_START, KEYWORD_STOP, OutboundSms
from connector.ports import SmsProvider

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "twilio"
SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "test-auth-token-not-real"
BASE = "https://api.twilio.com"
MESSAGES = f"{BASE}/2010-04-01/Accounts/{SID}/Messages.json"
BASIC = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def client() -> TwilioClient:
    return TwilioClient(SID, TOKEN)


def form_of(call: Any) -> dict[str, list[str]]:
    return parse_qs(call.request.body, keep_blank_values=True)


# ---------------------------------------------------------------------- send


def test_client_is_an_sms_provider(client: TwilioClient) -> None:
    assert isinstance(client, SmsProvider)


@pytest.mark.parametrize(
    "base_url",
    [
        "https://api.twilio.com",
        "https://api.dublin.ie1.twilio.com/",  # regional edge, trailing slash
        "http://127.0.0.1:8089/sandbox/twilio",  # sandbox or proxy with a path prefix
    ],
)
def test_send_posts_the_form_to_the_configured_base_url(
    rsps: responses.RequestsMock, base_url: str
) -> None:
    url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{SID}/Messages.json"
    rsps.post(url, json=fixture("message_created.json"), status=201)
    client = TwilioClient(SID, TOKEN, base_url=base_url)
    result = client.send(
        OutboundSms(
            to_number="+12025550142",
            body="Thanks, we're on it.",
            from_number="+12025550100",
            media_urls=("https://sms.example.com/media/a", "https://sms.example.com/media/b"),
            status_callback="https://sms.example.com/webhooks/sms/twilio/status",
        )
    )
    assert result.provider_message_id == "SM0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    assert result.status == "queued"
    assert result.raw["to"] == "+12025550142"
    request = rsps.calls[0].request
    assert request.headers["Authorization"] == BASIC
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = form_of(rsps.calls[0])
    assert form["To"] == ["+12025550142"]
    assert form["From"] == ["+12025550100"]
    assert form["Body"] == ["Thanks, we're on it."]
    assert form["MediaUrl"] == [
        "https://sms.example.com/media/a",
        "https://sms.example.com/media/b",
    ]
    assert form["StatusCallback"] == ["https://sms.example.com/webhooks/sms/twilio/status"]
    assert "MessagingServiceSid" not in form
    assert client.calls == {"send": 1, "total": 1}


def test_send_through_a_messaging_service(
    rsps: responses.RequestsMock, client: TwilioClient
) -> None:
    rsps.post(MESSAGES, json=fixture("message_created.json"), status=201)
    client.send(OutboundSms(to_number="+12025550142", body="hi", messaging_service_id="MG123"))
    form = form_of(rsps.calls[0])
    assert form["MessagingServiceSid"] == ["MG123"]
    assert "From" not in form and "MediaUrl" not in form and "StatusCallback" not in form


def test_send_needs_a_sender(client: TwilioClient) -> None:
    with pytest.raises(ValueError):
        client.send(OutboundSms(to_number="+12025550142", body="hi"))


def test_21610_is_final_and_marks_the_opt_out(
    rsps: responses.RequestsMock, client: TwilioClient
) -> None:
    rsps.post(MESSAGES, json=fixture("error_21610.json"), status=400)
    with pytest.raises(SmsRejected) as caught:
        client.send(OutboundSms(to_number="+12025550142", body="hi", from_number="+12025550100"))
    error = caught.value
    assert isinstance(error, ExternalServiceError)
    assert error.code == 21610 and error.status == 400 and error.provider == "twilio"
    assert error.opted_out is True
    assert error.retryable is False
    assert "unsubscribed" in str(error) and "START" in str(error)
    assert error.response["more_info"].endswith("21610")


def test_21611_queue_full_is_a_refusal_worth_retrying(
    rsps: responses.RequestsMock, client: TwilioClient
) -> None:
    rsps.post(MESSAGES, json={"code": 21611, "message": "This 'From' number has exceeded the "
                              "maximum number of queued messages", "status": 400,
                              "more_info": "https://www.twilio.com/docs/errors/21611"}, status=400)
    with pytest.raises(SmsRejected) as caught:
        client.send(OutboundSms(to_number="+12025550142", body="hi", from_number="+12025550100"))
    assert caught.value.code == 21611 and not caught.value.opted_out
    assert client.error_kind(21611) == ERROR_RETRYABLE


def test_21211_is_final_but_not_an_opt_out(
    rsps: responses.RequestsMock, client: TwilioClient
) -> None:
    rsps.post(MESSAGES, json=fixture("error_21211.json"), status=400)
    with pytest.raises(SmsRejected) as caught:
        client.send(OutboundSms(to_number="+1202555", body="hi", from_number="+12025550100"))
    assert caught.value.code == 21211
    assert caught.value.opted_out is False
    assert "not valid" in str(caught.value)


def test_429_is_rate_limited_with_retry_after(
    rsps: responses.RequestsMock, client: TwilioClient
) -> None:
    rsps.post(MESSAGES, json=fixture("error_20429.json"), status=429, headers={"Retry-After": "7"})
    with pytest.raises(RateLimited) as caught:
        client.send(OutboundSms(to_number="+12025550142", body="hi", from_number="+12025550100"))
    assert caught.value.retry_after == 7.0


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_transient(rsps: responses.RequestsMock, client: TwilioClient, status: int) -> None:
    rsps.post(MESSAGES, body="<html>bad gateway</html>", status=status)
    with pytest.raises(TransientError):
        client.send(OutboundSms(to_number="+12025550142", body="hi", from_number="+12025550100"))


@pytest.mark.parametrize(
    "exc", [requests.ReadTimeout("read timed out"), requests.ConnectionError("reset by peer")]
)
def test_network_failures_are_transient(
    rsps: responses.RequestsMock, client: TwilioClient, exc: Exception
) -> None:
    rsps.post(MESSAGES, body=exc)
    with pytest.raises(TransientError):
        client.send(OutboundSms(to_number="+12025550142", body="hi", from_number="+12025550100"))
    assert client.calls["send"] == 1  # it was sent: the caller must reconcile


def test_other_4xx_is_a_permanent_service_error(
    rsps: responses.RequestsMock, client: TwilioClient
) -> None:
    rsps.post(
        MESSAGES,
        json={"code": 20003, "message": "Authenticate", "status": 401},
        status=401,
    )
    with pytest.raises(ExternalServiceError) as caught:
        client.send(OutboundSms(to_number="+12025550142", body="hi", from_number="+12025550100"))
    assert not isinstance(caught.value, SmsRejected)
    assert caught.value.status == 401 and caught.value.retryable is False


def test_the_timeout_is_passed_to_requests(rsps: responses.RequestsMock) -> None:
    rsps.post(MESSAGES, json=fixture("message_created.json"), status=201)
    seen: dict[str, Any] = {}

    class Recording(requests.Session):
        def request(self, *args: Any, **kwargs: Any) -> Any:
            seen.update(kwargs)
            return super().request(*args, **kwargs)

    client = TwilioClient(SID, TOKEN, timeout=3.5, session=Recording())
    client.send(OutboundSms(to_number="+12025550142", body="hi", from_number="+12025550100"))
    assert seen["timeout"] == 3.5
    assert seen["allow_redirects"] is False


# ---------------------------------------------------------------------- find_sent


def test_find_sent_matches_the_outbound_message_with_that_body(
    rsps: responses.RequestsMock, client: TwilioClient
) -> None:
    rsps.get(MESSAGES, json=fixture("messages_list.json"))
    body = "Thanks, we're on it. An agent replies within 10 minutes."
    since = datetime(2026, 4, 1, 11, 59, 30, tzinfo=UTC)
    result = client.find_sent("+12025550142", "+12025550100", since, body)
    assert result is not None
    assert result.provider_message_id == "SM0a1b2c3d4e5f60718293a4b5c6d7e8f9"  # not the inbound
    assert result.status == "sent"
    query = parse_qs(urlsplit(str(rsps.calls[0].request.url)).query)
    assert query["To"] == ["+12025550142"] and query["From"] == ["+12025550100"]
    assert rsps.calls[0].request.headers["Authorization"] == BASIC


def test_find_sent_none_when_body_differs_or_too_old(
    rsps: responses.RequestsMock, client: TwilioClient
) -> None:
    rsps.get(MESSAGES, json=fixture("messages_list.json"))
    rsps.get(MESSAGES, json=fixture("messages_list.json"))
    since = datetime(2026, 4, 1, 11, 59, 30, tzinfo=UTC)
    assert client.find_sent("+12025550142", "+12025550100", since, "another text") is None
    later = datetime(2026, 4, 1, 12, 5, tzinfo=UTC)
    body = "Thanks, we're on it. An agent replies within 10 minutes."
    assert client.find_sent("+12025550142", "+12025550100", later, body) is None


def test_find_sent_follows_next_page_on_the_configured_base(rsps: responses.RequestsMock) -> None:
    base = "http://127.0.0.1:8089/tw"
    url = f"{base}/2010-04-01/Accounts/{SID}/Messages.json"
    page = fixture("messages_list.json")
    first = dict(
        page, messages=[], next_page_uri=f"/2010-04-01/Accounts/{SID}/Messages.json?Page=1"
    )
    rsps.get(
        url,
        json=first,
        match=[matchers.query_param_matcher({"To": "+12025550142", "PageSize": "50"})],
    )
    rsps.get(url, json=page, match=[matchers.query_param_matcher({"Page": "1"})])
    client = TwilioClient(SID, TOKEN, base_url=base)
    since = datetime(2026, 4, 1, 11, 59, 30, tzinfo=UTC)
    body = "Thanks, we're on it. An agent replies within 10 minutes."
    assert client.find_sent("+12025550142", None, since, body) is not None
    assert client.calls["find_sent"] == 2


# ---------------------------------------------------------------------- media

MM = "MM" + "0123456789abcdef" * 2
ME = "ME" + "fedcba9876543210" * 2
MEDIA_PATH = f"/2010-04-01/Accounts/{SID}/Messages/{MM}/Media/{ME}"
MEDIA = BASE + MEDIA_PATH
S3 = "https://s3-external-1.amazonaws.com/media.twiliocdn.com/AC/abc"
IMAGES = ("image/jpeg", "image/png")


def test_media_redirect_is_followed_without_credentials(
    rsps: responses.RequestsMock, client: TwilioClient
) -> None:
    rsps.get(MEDIA, status=307, headers={"Location": S3})
    rsps.get(S3, body=b"\xff\xd8\xff\xe0jpeg", content_type="image/jpeg")
    content, content_type = client.fetch_media(MEDIA, max_bytes=1000, allowed_types=IMAGES)
    assert content == b"\xff\xd8\xff\xe0jpeg"
    assert content_type == "image/jpeg"
    assert rsps.calls[0].request.headers["Authorization"] == BASIC
    assert "Authorization" not in rsps.calls[1].request.headers
    assert client.calls["fetch_media"] == 2


def test_media_relative_redirect_on_the_same_host_still_has_no_credentials(
    rsps: responses.RequestsMock, client: TwilioClient
) -> None:
    rsps.get(MEDIA, status=302, headers={"Location": "/cdn/ME1.png"})
    rsps.get(f"{BASE}/cdn/ME1.png", body=b"png", content_type="image/png; charset=binary")
    assert client.fetch_media(MEDIA, max_bytes=10, allowed_types=IMAGES) == (b"png", "image/png")
    assert "Authorization" not in rsps.calls[1].request.headers


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME",
        "https://api.twilio.com.evil.example.com/x",
        "http://api.twilio.com/2010-04-01/x",  # scheme downgrade
        "https://api.twilio.com:8443/x",  # another port
        "not a url",
    ],
)
def test_media_on_another_host_is_never_fetched(
    rsps: responses.RequestsMock, client: TwilioClient, url: str
) -> None:
    with pytest.raises(MediaUnavailable) as caught:
        client.fetch_media(url, max_bytes=1000, allowed_types=IMAGES)
    assert caught.value.reason == "foreign_host"
    assert caught.value.retryable is False
    assert len(rsps.calls) == 0
    assert client.calls["total"] == 0


OTHER_SID = "AC" + "9" * 32


@pytest.mark.parametrize(
    "url",
    [
        # urllib3 connects to "evil" and would carry the Basic credentials there.
        f"https://evil\\@api.twilio.com{MEDIA_PATH}",
        f"https://evil%5C@api.twilio.com{MEDIA_PATH}",
        f"https://{SID}:x@api.twilio.com{MEDIA_PATH}",
        f"https://api.twilio.com@evil.example.com{MEDIA_PATH}",
        f"https://api.twilio.com/2010-04-01/Accounts/{OTHER_SID}/Messages/{MM}/Media/{ME}",
        f"{MEDIA}/extra",
        f"{MEDIA}.json",
        f"{BASE}/2010-04-01/Accounts/{SID}/Messages/{MM}/Media/{ME}/../../../Calls.json",
        f"{BASE}/2010-04-01/Accounts/{SID}/Messages.json",
        f"{BASE}/x{MEDIA_PATH}",
        f"{MEDIA}?x=@evil.example.com",
        f"{MEDIA}#@evil.example.com",
        f"{MEDIA}%2F..%2F..",
        f"{BASE}/2010-04-01/Accounts/{SID}/Messages/MM1/Media/ME1",
        f"https://api.twilio.com:99999{MEDIA_PATH}",
        f"https://api.twilio.com\t{MEDIA_PATH}",
        f"https://api.twilio.com{MEDIA_PATH}\r\nX-Evil: 1",
        f"https://аpi.twilio.com{MEDIA_PATH}",  # Cyrillic a
    ],
)
def test_media_url_must_be_a_media_resource_of_this_account(
    rsps: responses.RequestsMock, client: TwilioClient, url: str
) -> None:
    with pytest.raises(MediaUnavailable) as caught:
        client.fetch_media(url, max_bytes=1000, allowed_types=IMAGES)
    assert caught.value.retryable is False
    assert len(rsps.calls) == 0 and client.calls["total"] == 0


def test_media_is_fetched_from_the_url_rebuilt_on_base_url(rsps: responses.RequestsMock) -> None:
    base = "http://127.0.0.1:8089/sandbox/twilio"
    rsps.get(base + MEDIA_PATH, body=b"x", content_type="image/png")
    client = TwilioClient(SID, TOKEN, base_url=base + "/")
    # Upper-case host and the default port written out: the same origin; the request goes to
    # base_url + the path, never to the URL as given.
    given = "HTTP://127.0.0.1:8089/sandbox/twilio" + MEDIA_PATH
    assert client.fetch_media(given, max_bytes=10, allowed_types=IMAGES)[0] == b"x"
    assert rsps.calls[0].request.url == base + MEDIA_PATH
    with pytest.raises(MediaUnavailable):  # the path outside base_url's prefix
        client.fetch_media("http://127.0.0.1:8089" + MEDIA_PATH, max_bytes=10,
                           allowed_types=IMAGES)


def test_media_host_follows_a_custom_base_url(rsps: responses.RequestsMock) -> None:
    base = "http://127.0.0.1:8089"
    media = base + MEDIA_PATH
    rsps.get(media, body=b"x", content_type="image/png")
    client = TwilioClient(SID, TOKEN, base_url=base)
    assert client.fetch_media(media, max_bytes=10, allowed_types=IMAGES)[0] == b"x"
    with pytest.raises(MediaUnavailable):
        client.fetch_media(MEDIA, max_bytes=10, allowed_types=IMAGES)  # real Twilio host


def test_media_size_cap_from_content_length(
    rsps: responses.RequestsMock, client: TwilioClient
) -> None:
    rsps.get(MEDIA, body=b"x" * 2000, content_type="image/jpeg")
    with pytest.raises(MediaUnavailable) as caught:
        client.fetch_media(MEDIA, max_bytes=1000, allowed_types=IMAGES)
    assert caught.value.reason == "too_large"


def test_media_size_cap_while_streaming_without_content_length(
    rsps: responses.RequestsMock, client: TwilioClient
) -> None:
    rsps.get(MEDIA, body=b"y" * 5000, content_type="image/jpeg")
    with pytest.raises(MediaUnavailable) as caught:
        client.fetch_media(MEDIA, max_bytes=1000, allowed_types=IMAGES)
    assert caught.value.reason == "too_large"
    response = rsps.calls[0].response
    assert isinstance(response, requests.Response)
    assert "Content-Length" not in response.headers


def test_media_exactly_at_the_cap_is_accepted(
    rsps: responses.RequestsMock, client: TwilioClient
) -> None:
    rsps.get(MEDIA, body=b"z" * 1000, content_type="image/png")
    assert len(client.fetch_media(MEDIA, max_bytes=1000, allowed_types=IMAGES)[0]) == 1000


def test_media_content_type_not_allowed(rsps: responses.RequestsMock, client: TwilioClient) -> None:
    rsps.get(MEDIA, body=b"MZ\x90\x00", content_type="application/x-msdownload")
    with pytest.raises(MediaUnavailable) as caught:
        client.fetch_media(MEDIA, max_bytes=1000, allowed_types=IMAGES)
    assert caught.value.reason == "content_type"


@pytest.mark.parametrize(("status", "retryable"), [(404, False), (403, False), (503, True)])
def test_media_http_errors(
    rsps: responses.RequestsMock, client: TwilioClient, status: int, retryable: bool
) -> None:
    rsps.get(MEDIA, status=status)
    with pytest.raises(MediaUnavailable) as caught:
        client.fetch_media(MEDIA, max_bytes=1000, allowed_types=IMAGES)
    assert caught.value.reason == f"http_{status}"
    assert caught.value.retryable is retryable


def test_media_timeout_is_retryable(rsps: responses.RequestsMock, client: TwilioClient) -> None:
    rsps.get(MEDIA, body=requests.ConnectTimeout("slow"))
    with pytest.raises(MediaUnavailable) as caught:
        client.fetch_media(MEDIA, max_bytes=1000, allowed_types=IMAGES)
    assert caught.value.reason == "network" and caught.value.retryable


def test_media_redirect_loop_is_bounded(rsps: responses.RequestsMock, client: TwilioClient) -> None:
    rsps.get(MEDIA, status=302, headers={"Location": S3})
    rsps.get(S3, status=302, headers={"Location": S3})
    with pytest.raises(MediaUnavailable) as caught:
        client.fetch_media(MEDIA, max_bytes=1000, allowed_types=IMAGES)
    assert caught.value.reason == "too_many_redirects"
    assert len(rsps.calls) == 4  # the first request and three hops


def test_media_redirect_to_plain_http_is_refused(
    rsps: responses.RequestsMock, client: TwilioClient
) -> None:
    rsps.get(MEDIA, status=302, headers={"Location": "http://media.example.com/x"})
    with pytest.raises(MediaUnavailable) as caught:
        client.fetch_media(MEDIA, max_bytes=1000, allowed_types=IMAGES)
    assert caught.value.reason == "insecure_redirect"


# ---------------------------------------------------------------------- signatures

PUBLIC = "https://sms.example.com/webhooks/sms/twilio"
PUBLIC_443 = "https://sms.example.com:443/webhooks/sms/twilio"
SHARED = "webhooks-shared-secret-not-real"
SHA256_SETTINGS = "key=webhooks_sharedkey_0123,algorithm=HMAC_SHA256"


def sign(url: str, form: dict[str, str], key: str = TOKEN, algorithm: str | None = None) -> str:
    return RequestValidator(key).compute_signature(url, form, algorithm)


@pytest.mark.parametrize(
    ("signed_url", "configured_url"),
    [
        (PUBLIC, PUBLIC),
        (PUBLIC_443, PUBLIC),  # Twilio's edge added :443, our config has none
        (PUBLIC, PUBLIC_443),
        (PUBLIC + "?channel=support", PUBLIC + "?channel=support"),
    ],
)
def test_signature_matches_the_official_validator(signed_url: str, configured_url: str) -> None:
    form = fixture("inbound_mms.json")
    signature = sign(signed_url, form)
    headers = {"X-Twilio-Signature": signature}
    assert RequestValidator(TOKEN).validate(configured_url, form, signature)
    assert verify_webhook(configured_url, form, headers, auth_token=TOKEN, signing_secret=None)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda f: f.update(Body="send me a refund"),
        lambda f: f.update(Extra="1"),
        lambda f: f.pop("MediaUrl1"),
    ],
)
def test_tampered_form_fails_like_the_official_validator(tamper: Any) -> None:
    form = fixture("inbound_mms.json")
    signature = sign(PUBLIC, form)
    tamper(form)
    assert not RequestValidator(TOKEN).validate(PUBLIC, form, signature)
    assert not verify_webhook(
        PUBLIC, form, {"X-Twilio-Signature": signature}, auth_token=TOKEN, signing_secret=None
    )


def test_signature_for_another_url_or_token_fails() -> None:
    form = fixture("inbound_sms.json")
    signature = sign(PUBLIC, form)
    headers = {"x-twilio-signature": signature}  # header names are case-insensitive
    assert verify_webhook(PUBLIC, form, headers, auth_token=TOKEN, signing_secret=None)
    assert not verify_webhook(
        PUBLIC + "/status", form, headers, auth_token=TOKEN, signing_secret=None
    )
    assert not verify_webhook(PUBLIC, form, headers, auth_token="other", signing_secret=None)
    assert not verify_webhook(PUBLIC, form, {}, auth_token=TOKEN, signing_secret=None)
    assert not verify_webhook(
        PUBLIC, form, {"X-Twilio-Signature": ""}, auth_token=TOKEN, signing_secret=None
    )


def test_signature_over_a_multidict_with_repeated_fields() -> None:
    form = MultiDict([("To", "+12025550100"), ("Tag", "b"), ("Tag", "a"), ("Tag", "b")])
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC, form)
    assert RequestValidator(TOKEN).validate(PUBLIC, form, signature)
    headers = {"X-Twilio-Signature": signature}
    assert verify_webhook(PUBLIC, form, headers, auth_token=TOKEN, signing_secret=None)
    as_lists = {"To": ["+12025550100"], "Tag": ["a", "b"]}
    assert verify_webhook(PUBLIC, as_lists, headers, auth_token=TOKEN, signing_secret=None)


@pytest.mark.parametrize("url", [PUBLIC, PUBLIC_443])
def test_sha256_shared_key_scheme_matches_the_official_validator(url: str) -> None:
    form = fixture("inbound_optout_stop.json")
    signature = sign(url, form, key=SHARED, algorithm="HMAC_SHA256")
    assert RequestValidator(SHARED).validate(PUBLIC, form, signature, algorithm="HMAC_SHA256")
    headers = {
        "X-Twilio-Signature": signature,
        "X-Twilio-Webhooks-Signature-Settings": SHA256_SETTINGS,
    }
    assert verify_webhook(PUBLIC, form, headers, auth_token=TOKEN, signing_secret=SHARED)
    # Without the shared key configured the request cannot be verified: refused.
    assert not verify_webhook(PUBLIC, form, headers, auth_token=TOKEN, signing_secret=None)
    # Without the settings header it is checked as SHA-1 with the auth token: refused.
    alone = {"X-Twilio-Signature": signature}
    assert not verify_webhook(PUBLIC, form, alone, auth_token=TOKEN, signing_secret=SHARED)


def test_sha1_still_accepted_when_a_shared_key_is_configured() -> None:
    form = fixture("inbound_sms.json")
    headers = {"X-Twilio-Signature": sign(PUBLIC, form)}
    assert verify_webhook(PUBLIC, form, headers, auth_token=TOKEN, signing_secret=SHARED)


def test_sha1_signature_under_a_sha256_header_is_refused() -> None:
    form = fixture("inbound_sms.json")
    headers = {
        "X-Twilio-Signature": sign(PUBLIC, form),
        "X-Twilio-Webhooks-Signature-Settings": SHA256_SETTINGS,
    }
    assert not verify_webhook(PUBLIC, form, headers, auth_token=TOKEN, signing_secret=SHARED)


def test_unknown_algorithm_is_refused() -> None:
    form = fixture("inbound_sms.json")
    headers = {
        "X-Twilio-Signature": sign(PUBLIC, form),
        "X-Twilio-Webhooks-Signature-Settings": "key=k,algorithm=HMAC_SHA512",
    }
    assert not RequestValidator(TOKEN).validate(
        PUBLIC, form, headers["X-Twilio-Signature"], algorithm="HMAC_SHA512"
    )
    assert not verify_webhook(PUBLIC, form, headers, auth_token=TOKEN, signing_secret=SHARED)


# ---------------------------------------------------------------------- parsing


def test_parse_inbound_sms() -> None:
    form = fixture("inbound_sms.json")
    sms = parse_inbound(form)
    assert sms.provider == "twilio"
    assert sms.provider_message_id == "SM1f0e1d2c3b4a59687766554433221100"
    assert sms.from_number == "+12025550142"
    assert sms.to_number == "+12025550100"
    assert sms.body == form["Body"]
    assert sms.media == ()
    assert sms.messaging_service_id is None
    assert sms.account_id == SID
    assert sms.num_segments == 1
    assert sms.opt_out_type is None
    assert sms.raw == form  # everything Twilio sent, even fields we do not read


def test_parse_inbound_mms_with_two_media() -> None:
    sms = parse_inbound(fixture("inbound_mms.json"))
    assert [m.content_type for m in sms.media] == ["image/jpeg", "image/png"]
    assert all(m.url.startswith(f"{BASE}/2010-04-01/Accounts/{SID}/") for m in sms.media)
    assert sms.media[0].url.endswith("ME00112233445566778899aabbccddeeff")


def test_parse_inbound_messaging_service() -> None:
    sms = parse_inbound(fixture("inbound_messaging_service.json"))
    assert sms.messaging_service_id == "MG9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    assert sms.to_number == "+12025550177"


def test_parse_inbound_advanced_opt_out_stop() -> None:
    sms = parse_inbound(fixture("inbound_optout_stop.json"))
    assert sms.opt_out_type == "STOP"
    assert sms.body == "STOP"


def test_parse_inbound_from_a_multidict_and_national_formats() -> None:
    form = MultiDict(fixture("inbound_sms.json"))
    form["From"] = "(202) 555-0142"
    form["To"] = "55555"  # a short code is a channel, not a phone: kept as sent
    sms = parse_inbound(form, default_region="US")
    assert sms.from_number == "+12025550142"
    assert sms.to_number == "55555"


@pytest.mark.parametrize(
    "change",
    [
        {"MessageSid": "", "SmsMessageSid": ""},
        {"From": ""},
        {"To": ""},
        {"From": "not-a-phone"},
        {"NumMedia": "two"},
        {"NumMedia": "-1"},
    ],
)
def test_parse_inbound_rejects_malformed_forms(change: dict[str, str]) -> None:
    form = dict(fixture("inbound_sms.json"), **change)
    with pytest.raises(ValueError):
        parse_inbound(form)


def test_parse_inbound_ignores_media_beyond_num_media() -> None:
    form = dict(fixture("inbound_mms.json"), NumMedia="1")
    assert len(parse_inbound(form).media) == 1


def test_parse_status_callbacks() -> None:
    delivered = parse_status(fixture("status_delivered.json"))
    assert delivered.status == "delivered"
    assert delivered.error_code is None
    assert delivered.provider_message_id == "SM0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    failed = parse_status(fixture("status_undelivered_30006.json"))
    assert failed.status == "undelivered"
    assert failed.error_code == "30006"
    assert failed.to_number == "+12025550142"
    assert failed.raw["ApiVersion"] == "2010-04-01"
    with pytest.raises(ValueError):
        parse_status({"MessageSid": "SM1"})


# ---------------------------------------------------------------------- words and order


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (21211, "not valid"),
        (21408, "country"),
        (21610, "unsubscribed"),
        (21614, "not a mobile"),
        (21617, "1,600"),
        (30003, "unreachable"),
        (30004, "blocked"),
        (30005, "unknown"),
        (30006, "landline"),
        (30007, "filtered"),
        (30008, "unknown"),
        ("30034", "registered"),
    ],
)
def test_describe_error(code: int | str, words: str) -> None:
    assert words in describe_error(code)


def test_describe_error_fallback() -> None:
    assert "12345" in describe_error(12345)
    assert describe_error(None)
    assert describe_error("garbage")


def test_status_rank_only_moves_forward() -> None:
    order = ["queued", "sending", "sent", "delivered", "read"]
    assert [status_rank(s) for s in order] == sorted(status_rank(s) for s in order)
    assert len({status_rank(s) for s in order}) == len(order)
    assert status_rank("delivered") == status_rank("undelivered") == status_rank("failed")
    assert status_rank("sent") > status_rank("queued") > status_rank("accepted")
    assert status_rank("DELIVERED") == status_rank("delivered")
    assert status_rank("something-new") == 0 < status_rank("queued")
    assert status_rank(None) == 0


@pytest.mark.parametrize(
    ("value", "keyword"),
    [
        ("STOP", KEYWORD_STOP),
        ("START", KEYWORD_START),
        ("HELP", KEYWORD_HELP),
        ("stop", KEYWORD_STOP),
        (" HELP ", KEYWORD_HELP),
        ("", None),
        (None, None),
        ("SOMETHING_NEW", None),
    ],
)
def test_opt_out_type_is_the_keyword_hint(value: str | None, keyword: str | None) -> None:
    # Twilio Advanced Opt-Out's OptOutType wins over the words (SmsAdapter.keyword_hint).
    adapter = TwilioClient("AC" + "0" * 32, "token")
    assert adapter.keyword_hint({"OptOutType": value} if value is not None else {}) == keyword
