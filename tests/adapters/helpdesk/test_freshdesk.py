"""adapters.helpdesk.freshdesk: URLs, auth, JSON and multipart bodies, Freshdesk's words → the
core's, error translation, budget, paging, exactly-once resumes, the webhook's secret header
(HTTP mocked with ``responses``; the contract suite runs the same adapter against the sandbox:
test_freshdesk_contract.py). Payloads are shaped like the samples of
https://developers.freshdesk.com/api/."""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
from marshmallow import ValidationError

from adapters.helpdesk import HELPDESKS
from adapters.helpdesk import freshdesk as fd_module
from adapters.helpdesk.freshdesk import (
    SECRET_HEADER,
    FreshdeskClient,
    FreshdeskSchema,
    FreshdeskSettings,
    marker_tag,
)
from connector.errors import (
    ExternalServiceError,
    MediaUnavailable,
    RateLimited,
    TicketGone,
    TransientError,
    WebhookRejected,
)
from connector.model import (
    AUTHOR_AGENT,
    AUTHOR_CONNECTOR,
    AUTHOR_CUSTOMER,
    AUTHOR_SYSTEM,
    EVENT_REPLY,
    EVENT_STATE,
    PRIORITY_HIGH,
    PRIORITY_LOW,
    PRIORITY_NORMAL,
    PRIORITY_URGENT,
    TICKET_CLOSED,
    TICKET_OPEN,
    TICKET_PENDING,
    TICKET_SOLVED,
    TICKET_UNKNOWN,
    Attachment,
    NewTicket,
    TicketUpdate,
)
from connector.ports import Helpdesk
from connector.webhooks import WebhookRequest

BASE = "https://acme.freshdesk.com"
API = f"{BASE}/api/v2"
KEY = "fd-key-not-real"
BASIC = "Basic " + base64.b64encode(f"{KEY}:X".encode()).decode()
PHONE = "+12025550142"
REQUESTER = 9001
ME = 77  # the API key's agent
AGENT = 78  # a person in the UI
NOW = 1_775_000_000.0
STAMP = "2026-04-01T12:00:00Z"


class FakeBudget:
    """Records what the client asks; refuses when told to."""

    def __init__(self, refuse: str | None = None) -> None:
        self.before: list[tuple[str, str | None]] = []
        self.retry_after: list[tuple[str, float, str | None]] = []
        self.refuse = refuse

    def before_call(self, endpoint_class: str, key: str | None = None) -> None:
        self.before.append((endpoint_class, key))
        if endpoint_class == self.refuse:
            raise RateLimited(f"{endpoint_class} budget spent", retry_after=12.0)

    def record_retry_after(self, endpoint_class: str, seconds: float,
                           key: str | None = None) -> None:
        self.retry_after.append((endpoint_class, seconds, key))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def budget() -> FakeBudget:
    return FakeBudget()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fd(budget: FakeBudget, clock: Clock) -> FreshdeskClient:
    return FreshdeskClient(BASE, KEY, budget=budget, clock=clock)


def body_of(call: Any) -> Any:
    return json.loads(call.request.body)


def multipart(call: Any) -> list[tuple[str, str | None, str | None, Any]]:
    """(name, filename, content type, bytes) of each part of a multipart/form-data request."""
    head = f"Content-Type: {call.request.headers['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        head + call.request.body)
    assert message.is_multipart()
    parts = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        filename = part.get_filename()
        parts.append((str(part.get_param("name", header="content-disposition")), filename,
                      part.get_content_type() if filename else None, payload))
    return parts


def ticket(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": 35436, "subject": "SMS from +1202***0142: hi my order", "status": 2,
        "priority": 2, "source": 3, "requester_id": REQUESTER, "group_id": None,
        "tags": ["sms", "sms_order"], "description": "hi my order<br>#4411",
        "description_text": "hi my order #4411", "attachments": [], "deleted": False,
        "created_at": "2026-04-01T11:59:00Z", "updated_at": STAMP,
    }
    raw.update(overrides)
    return raw


def conversation(id_: int, user_id: int | None, *, source: int = 2, private: bool = False,
                 incoming: bool = False, body: str = "hello", at: str = STAMP,
                 **extra: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": id_, "user_id": user_id, "source": source, "private": private,
        "incoming": incoming, "body": f"<div>{body}</div>", "body_text": body,
        "ticket_id": 35436, "attachments": [], "created_at": at, "updated_at": at}
    raw.update(extra)
    return raw


def new(**overrides: Any) -> NewTicket:
    kwargs: dict[str, Any] = {
        "requester_id": REQUESTER, "subject": "SMS from +1202***0142: hi my order",
        "body": "hi my order #4411 <b>still</b> hasnt shipped?\nits been 5 days",
        "priority": PRIORITY_HIGH, "tags": ("sms", "sms_order"),
        "key": "5f0e1d2c3b4a59687706f5e4d3c2b1a0", "attempted_at": NOW,
    }
    kwargs.update(overrides)
    return NewTicket(**kwargs)


def texts(body: str = "order 55812", **kw: Any) -> TicketUpdate:
    return TicketUpdate(body=body, author_id=REQUESTER, **kw)


def note_answer(id_: int = 501, **extra: Any) -> dict[str, Any]:
    return conversation(id_, REQUESTER, incoming=True, **extra)


# ---------------------------------------------------------------------- registry and settings


def test_registered_and_implements_the_port(fd: FreshdeskClient) -> None:
    assert HELPDESKS["freshdesk"] is FreshdeskClient
    assert isinstance(fd, Helpdesk)


@pytest.mark.parametrize(("settings", "base"), [
    (FreshdeskSettings(domain="acme"), "https://acme.freshdesk.com"),
    (FreshdeskSettings(domain="Acme.freshdesk.com"), "https://acme.freshdesk.com"),
    (FreshdeskSettings(domain="acme", base_url="http://127.0.0.1:9100/"),
     "http://127.0.0.1:9100"),
])
def test_from_settings_urls_and_auth(rsps: responses.RequestsMock, settings: FreshdeskSettings,
                                     base: str) -> None:
    settings = FreshdeskSettings(**{**settings.__dict__, "api_key": KEY, "group_id": 5})
    client = FreshdeskClient.from_settings(settings)
    rsps.get(f"{base}/api/v2/agents/me", json={"id": ME, "contact": {"name": "SMS bot"}})
    me = client.me()
    assert (me.id, me.kind, me.name) == (ME, AUTHOR_AGENT, "SMS bot")
    request = rsps.calls[0].request
    # HTTP Basic: the API key as user name, "X" as password.
    assert request.headers["Authorization"] == BASIC
    assert request.headers["Accept"] == "application/json"
    assert client.calls == {"me": 1, "total": 1}
    assert client.settings is settings and client.group_id == 5


def test_check_settings_name_the_key() -> None:
    check = FreshdeskClient.check_settings
    assert check(FreshdeskSettings()) == {"domain": "missing (or set freshdesk.base_url)"}
    assert check(FreshdeskSettings(base_url="http://127.0.0.1:9100")) == {}
    assert check(FreshdeskSettings(domain="acme", source=101)) == {}
    assert set(check(FreshdeskSettings(domain="acme", source=4))) == {"source"}
    assert set(check(FreshdeskSettings(domain="acme", status=4))) == {"status"}
    assert check(FreshdeskSettings(domain="acme", status=7)) == {}  # a custom status


@pytest.mark.parametrize(("data", "key"), [
    ({"domain": "support.acme.com"}, "domain"),  # a CNAME: the API answers on Freshdesk's
    ({"domain": "acme/../x"}, "domain"),
    ({"base_url": "ftp://x"}, "base_url"),
    ({"source": 0}, "source"),
    ({"source": "3"}, "source"),
    ({"status": 1}, "status"),
    ({"group_id": 0}, "group_id"),
    ({"timeout": 0}, "timeout"),
    ({"colour": "red"}, "colour"),
])
def test_schema_refuses_bad_values(data: dict[str, Any], key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        FreshdeskSchema().load(data)
    assert key in caught.value.messages


def test_schema_loads_defaults_and_values() -> None:
    settings = FreshdeskSchema().load({"domain": "acme", "api_key": "k", "source": 105,
                                       "group_id": 12})
    assert settings == FreshdeskSettings(domain="acme", api_key="k", source=105, group_id=12)
    assert (settings.status, settings.requests_per_minute,
            settings.ticket_writes_per_minute) == (2, 200, 80)
    assert FreshdeskClient.secret_keys == {"api_key", "webhook_secret"}
    assert FreshdeskClient.required_for_api == ("api_key",)


def test_rate_limits_from_settings() -> None:
    account, limits, keyed = FreshdeskClient.rate_limits(
        FreshdeskSettings(domain="acme", requests_per_minute=400, ticket_writes_per_minute=160))
    assert account == "freshdesk:acme" and keyed == {}
    assert {k: (v.calls, v.window_seconds) for k, v in limits.items()} == {
        "account": (400, 60.0), "ticket_writes": (160, 60.0)}


# ---------------------------------------------------------------------- contacts


def contact(id_: int, **fields: Any) -> dict[str, Any]:
    return {"id": id_, "name": fields.pop("name", f"Contact {id_}"), "phone": None,
            "mobile": None, "email": None, **fields}


def test_a_known_phone_is_that_contact_with_plus_encoded(
        rsps: responses.RequestsMock, fd: FreshdeskClient) -> None:
    rsps.get(f"{API}/contacts", json=[contact(REQUESTER, phone=PHONE, name="Pat")])
    user = fd.ensure_requester(PHONE, name="SMS " + PHONE)
    assert (user.id, user.kind, user.name) == (REQUESTER, AUTHOR_CUSTOMER, "Pat")
    # "+" must travel as %2B: a bare "+" in a query string is a space.
    assert "phone=%2B12025550142" in str(rsps.calls[0].request.url)
    assert fd.calls == {"find_requester": 1, "total": 1}


def test_with_match_mobile_a_number_saved_as_mobile_is_found_too(
        rsps: responses.RequestsMock, budget: FakeBudget) -> None:
    fd = FreshdeskClient(BASE, KEY, budget=budget, match_mobile=True)
    rsps.get(f"{API}/contacts", json=[])
    rsps.get(f"{API}/contacts", json=[contact(44, mobile=PHONE), contact(43, mobile=PHONE)])
    user = fd.ensure_requester(PHONE)
    assert user.id == 43  # several share it: the oldest, one stable choice
    assert "phone=%2B12025550142" in str(rsps.calls[0].request.url)
    assert "mobile=%2B12025550142" in str(rsps.calls[1].request.url)
    assert fd.calls == {"find_requester": 2, "total": 2}


def test_a_new_number_is_one_lookup_on_phone_and_one_contact_with_a_name(
        rsps: responses.RequestsMock, fd: FreshdeskClient) -> None:
    # As Freshdesk matches a ticket's phone: the contact's phone field only, never mobile.
    rsps.get(f"{API}/contacts", json=[], match=[responses.matchers.query_param_matcher(
        {"phone": PHONE, "per_page": "100"})])
    rsps.post(f"{API}/contacts", json=contact(REQUESTER, phone=PHONE, name=PHONE), status=201)
    assert fd.ensure_requester(PHONE).id == REQUESTER
    assert body_of(rsps.calls[1]) == {"name": PHONE, "phone": PHONE}  # a name is required
    assert fd.calls == {"find_requester": 1, "ensure_requester": 1, "total": 2}


def test_a_new_customer_costs_three_calls(rsps: responses.RequestsMock,
                                          fd: FreshdeskClient) -> None:
    rsps.get(f"{API}/contacts", json=[])
    rsps.post(f"{API}/contacts", json=contact(REQUESTER, phone=PHONE), status=201)
    rsps.post(f"{API}/tickets", json=ticket(), status=201)
    fd.create_ticket(new(requester_id=fd.ensure_requester(PHONE).id))
    assert fd.calls["total"] == 3


def test_match_mobile_from_settings() -> None:
    settings = FreshdeskSchema().load({"domain": "acme", "match_mobile": True})
    assert settings.match_mobile is True
    assert FreshdeskClient.from_settings(settings).match_mobile is True
    assert FreshdeskSettings().match_mobile is False
    assert FreshdeskClient(BASE, KEY).match_mobile is False


def test_an_ignored_filter_never_picks_a_stranger(rsps: responses.RequestsMock,
                                                  fd: FreshdeskClient) -> None:
    # An answer listing everyone (a filter not applied) holds no owner of the number.
    everyone = [contact(1, phone="+14155550100"), contact(2, mobile=None)]
    rsps.get(f"{API}/contacts", json=everyone)
    rsps.post(f"{API}/contacts", json=contact(REQUESTER, phone=PHONE), status=201)
    assert fd.ensure_requester(PHONE, name="SMS " + PHONE).id == REQUESTER
    assert body_of(rsps.calls[1])["name"] == "SMS " + PHONE


def test_a_contact_made_meanwhile_is_taken_not_duplicated(rsps: responses.RequestsMock,
                                                          fd: FreshdeskClient) -> None:
    rsps.get(f"{API}/contacts", json=[])
    rsps.post(f"{API}/contacts", status=409, json={
        "description": "Validation failed",
        "errors": [{"field": "phone", "message": "It should be a unique value",
                    "code": "duplicate_value"}]})
    rsps.get(f"{API}/contacts", json=[contact(REQUESTER, phone=PHONE)])
    assert fd.ensure_requester(PHONE).id == REQUESTER


def test_other_contact_refusals_are_raised_whole(rsps: responses.RequestsMock,
                                                 fd: FreshdeskClient) -> None:
    rsps.get(f"{API}/contacts", json=[])
    rsps.post(f"{API}/contacts", status=400, json={
        "description": "Validation failed",
        "errors": [{"field": "phone", "message": "is invalid", "code": "invalid_value"},
                   {"field": "name", "message": "can't be blank", "code": "missing_field"}]})
    with pytest.raises(ExternalServiceError) as caught:
        fd.ensure_requester(PHONE)
    assert caught.value.status == 400 and caught.value.code == "invalid_value"
    assert caught.value.retryable is False
    assert str(caught.value) == (
        "freshdesk ensure_requester: HTTP 400 invalid_value: Validation failed: phone: is "
        "invalid (invalid_value); name: can't be blank (missing_field)")


# ---------------------------------------------------------------------- creating


def test_create_ticket_json_body(rsps: responses.RequestsMock, budget: FakeBudget) -> None:
    fd = FreshdeskClient(BASE, KEY, budget=budget, source=101, status=3, group_id=5)
    rsps.post(f"{API}/tickets", json=ticket(status=3, priority=3), status=201)
    created, replayed = fd.create_ticket(new())
    assert replayed is False  # Freshdesk has no idempotency key to replay
    body = body_of(rsps.calls[0])
    assert body == {
        "requester_id": REQUESTER, "subject": "SMS from +1202***0142: hi my order",
        # The customer's text is text: escaped, its line breaks kept.
        "description": "hi my order #4411 &lt;b&gt;still&lt;/b&gt; hasnt shipped?<br>"
                       "its been 5 days",
        "status": 3, "source": 101, "priority": 3, "group_id": 5,
        "tags": ["sms", "sms_order", "smsc-5f0e1d2c3b4a59687706"],
    }
    assert rsps.calls[0].request.headers["Content-Type"] == "application/json"
    assert (created.id, created.state, created.priority) == (35436, TICKET_PENDING,
                                                             PRIORITY_HIGH)
    assert created.version == created.updated_at == STAMP
    assert budget.before == [("ticket_writes", "new"), ("account", None)]


def groups_page(*names: tuple[int, str], next_page: int | None = None) -> dict[str, Any]:
    """``responses`` kwargs for one page of ``GET /groups`` (ids and names)."""
    headers = ({"Link": f'<{API}/groups?page={next_page}&per_page=100>; rel="next"'}
               if next_page else {})
    return {"json": [{"id": id_, "name": name, "description": None, "unassigned_for": "30m"}
                     for id_, name in names], "headers": headers}


def test_the_policy_s_group_is_found_by_name_across_pages(rsps: responses.RequestsMock,
                                                          budget: FakeBudget) -> None:
    fd = FreshdeskClient(BASE, KEY, budget=budget, group_id=5)
    rsps.get(f"{API}/groups", **groups_page((11, "Sales"), next_page=2),
             match=[responses.matchers.query_param_matcher({"per_page": "100"})])
    rsps.get(f"{API}/groups?page=2&per_page=100", **groups_page((12, "Billing  Team")))
    rsps.post(f"{API}/tickets", json=ticket(group_id=12), status=201)
    fd.create_ticket(new(group="billing team"))  # case and spacing aside
    assert body_of(rsps.calls[2])["group_id"] == 12  # the policy's group, not the default 5
    assert fd.calls == {"list_groups": 2, "create_ticket": 1, "total": 3}
    assert budget.before[:2] == [("account", None), ("account", None)]


def test_groups_are_listed_once_per_ten_minutes(rsps: responses.RequestsMock,
                                                fd: FreshdeskClient, clock: Clock) -> None:
    rsps.get(f"{API}/groups", **groups_page((12, "Billing")))
    rsps.post(f"{API}/tickets", json=ticket(), status=201)
    fd.create_ticket(new(group="Billing"))
    clock.now += 590
    fd.create_ticket(new(group="Billing", key="6" * 32))
    assert fd.calls["list_groups"] == 1
    rsps.get(f"{API}/groups", **groups_page((13, "Billing")))  # renamed and recreated
    clock.now += 20
    fd.create_ticket(new(group="Billing", key="7" * 32))
    assert fd.calls["list_groups"] == 2
    assert [body_of(c)["group_id"] for c in rsps.calls
            if c.request.method == "POST"] == [12, 12, 13]


def test_no_group_in_the_policy_costs_no_call(rsps: responses.RequestsMock,
                                              fd: FreshdeskClient) -> None:
    rsps.post(f"{API}/tickets", json=ticket(), status=201)
    fd.create_ticket(new(group=None))
    assert "group_id" not in body_of(rsps.calls[0])
    assert fd.calls == {"create_ticket": 1, "total": 1}


@pytest.mark.parametrize(("default", "sent"), [(5, 5), (None, None)])
def test_a_group_freshdesk_does_not_know_is_the_default_and_a_warning(
        rsps: responses.RequestsMock, budget: FakeBudget, caplog: pytest.LogCaptureFixture,
        default: int | None, sent: int | None) -> None:
    fd = FreshdeskClient(BASE, KEY, budget=budget, group_id=default)
    rsps.get(f"{API}/groups", **groups_page((11, "Sales")))
    rsps.post(f"{API}/tickets", json=ticket(), status=201)
    with caplog.at_level("WARNING", logger="sms_connector.freshdesk"):
        created, _ = fd.create_ticket(new(group="Tier 2"))
    assert created.id == 35436  # the ticket never fails for its group
    assert body_of(rsps.calls[1]).get("group_id") == sent
    [record] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "'Tier 2'" in record.getMessage() and record.__dict__["group"] == "Tier 2"


def test_groups_this_key_may_not_list_are_the_default(rsps: responses.RequestsMock,
                                                      budget: FakeBudget, clock: Clock) -> None:
    fd = FreshdeskClient(BASE, KEY, budget=budget, group_id=5, clock=clock)
    rsps.get(f"{API}/groups", status=403, json={
        "code": "access_denied", "message": "You are not authorized to perform this action."})
    rsps.post(f"{API}/tickets", json=ticket(), status=201)
    fd.create_ticket(new(group="Billing"))
    fd.create_ticket(new(group="Billing", key="6" * 32))
    assert [body_of(c)["group_id"] for c in rsps.calls if c.request.method == "POST"] == [5, 5]
    assert fd.calls["list_groups"] == 1  # the refusal is remembered as long as a listing


def test_groups_unreachable_for_now_make_the_job_retry_before_any_write(
        rsps: responses.RequestsMock, fd: FreshdeskClient) -> None:
    rsps.get(f"{API}/groups", status=503, body="<html>down</html>")
    with pytest.raises(TransientError):
        fd.create_ticket(new(group="Billing"))
    assert fd.calls == {"list_groups": 1, "total": 1}  # no ticket written


@pytest.mark.parametrize(("priority", "code"), [
    (PRIORITY_LOW, 1), (PRIORITY_NORMAL, 2), (PRIORITY_HIGH, 3), (PRIORITY_URGENT, 4),
    (None, None)])
def test_priorities_both_ways(rsps: responses.RequestsMock, fd: FreshdeskClient,
                              priority: str | None, code: int | None) -> None:
    rsps.post(f"{API}/tickets", json=ticket(priority=code), status=201)
    created, _ = fd.create_ticket(new(priority=priority))
    assert body_of(rsps.calls[0]).get("priority") == code
    assert created.priority == priority


def test_marker_tag_fits_freshdesk_s_tags() -> None:
    tag = marker_tag("5F0E1D2C-3B4A-5968-7706-F5E4D3C2B1A0")
    assert tag == "smsc-5f0e1d2c3b4a59687706" and len(tag) <= 32 and "," not in tag


@pytest.mark.parametrize("state", [TICKET_CLOSED, TICKET_SOLVED])
def test_a_follow_up_names_the_old_ticket_after_the_texts(
        rsps: responses.RequestsMock, fd: FreshdeskClient, state: str) -> None:
    rsps.post(f"{API}/tickets", json=ticket(), status=201)
    fd.create_ticket(new(body="hello again", follows=35000, follows_state=state))
    assert body_of(rsps.calls[0])["description"] == (
        "hello again<br><br>[Follows ticket #35000, this customer's earlier ticket]")


def test_create_with_uploads_is_multipart(rsps: responses.RequestsMock,
                                          fd: FreshdeskClient) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\xff"
    token = fd.upload("sms-SM1-1.png", png, "image/png")
    assert fd.calls["total"] == 0  # nothing is sent before the write
    rsps.post(f"{API}/tickets", json=ticket(attachments=[{
        "id": 1, "name": "sms-SM1-1.png", "content_type": "image/png", "size": len(png),
        "attachment_url": f"{BASE}/files/1"}]), status=201)
    fd.create_ticket(new(uploads=(token,), tags=("sms",)))
    parts = multipart(rsps.calls[0])
    fields = [(name, value.decode()) for name, filename, _, value in parts if not filename]
    assert fields == [
        ("requester_id", str(REQUESTER)), ("subject", "SMS from +1202***0142: hi my order"),
        ("description", "hi my order #4411 &lt;b&gt;still&lt;/b&gt; hasnt shipped?<br>its been "
                        "5 days"),
        ("status", "2"), ("source", "3"), ("tags[]", "sms"),
        ("tags[]", "smsc-5f0e1d2c3b4a59687706"), ("priority", "3")]
    assert [(n, f, t, v) for n, f, t, v in parts if f] == [
        ("attachments[]", "sms-SM1-1.png", "image/png", png)]
    [known] = fd._known.values()  # remembered from the answer
    assert known.description.attachments[0].name == "sms-SM1-1.png"


def test_an_upload_lost_with_a_restart_leaves_the_text_whole(
        rsps: responses.RequestsMock, fd: FreshdeskClient) -> None:
    # The token was made by a worker that restarted before the write: this one never held it.
    lost = "freshdesk-upload:0123456789abcdef0123456789abcdef:sms-SM1-1.jpeg"
    rsps.post(f"{API}/tickets", json=ticket(), status=201)
    fd.create_ticket(new(body="see photo", uploads=(lost,)))
    body = body_of(rsps.calls[0])  # nothing to attach: plain JSON
    assert body["description"] == (
        "see photo<br><br>[Attachment sms-SM1-1.jpeg could not be attached: upload_lost. "
        "The text above arrived in full.]")


def test_uploads_expire_and_are_bounded(rsps: responses.RequestsMock, fd: FreshdeskClient,
                                        clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    old = fd.upload("old.png", b"1", "image/png")
    clock.now += 3601
    monkeypatch.setattr(fd_module, "MAX_UPLOADS", 2)
    kept = [fd.upload(f"{n}.png", b"2", "image/png") for n in range(3)]
    assert old not in fd._uploads and kept[0] not in fd._uploads
    assert list(fd._uploads) == kept[1:]


def test_attachments_past_20_mb_in_all_are_named_not_sent(
        rsps: responses.RequestsMock, fd: FreshdeskClient,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fd_module, "MAX_ATTACHMENT_BYTES", 10)
    first = fd.upload("a.png", b"123456", "image/png")
    second = fd.upload("b.png", b"123456", "image/png")
    rsps.post(f"{API}/tickets/35436/notes", json=note_answer(), status=201)
    fd.update(35436, texts("two photos", uploads=(first, second)))
    parts = multipart(rsps.calls[0])
    assert [f for _, f, _, _ in parts if f] == ["a.png"]
    body = dict((n, v.decode()) for n, f, _, v in parts if not f)["body"]
    assert body.endswith("[Attachment b.png could not be attached: too_large_total. The text "
                         "above arrived in full.]")


def test_resume_create_finds_the_marker_among_the_requester_s_tickets(
        rsps: responses.RequestsMock, fd: FreshdeskClient) -> None:
    mine = ticket(id=35437, tags=["sms", marker_tag(new().key)])
    rsps.get(f"{API}/tickets", json=[ticket(id=35438, tags=["sms"]), mine])
    found = fd.resume_create(new())
    assert found is not None and found.id == 35437
    query = rsps.calls[0].request.params  # type: ignore[attr-defined]
    assert query == {"requester_id": str(REQUESTER), "updated_since": "2026-03-31T23:28:20Z",
                     "order_by": "created_at", "order_type": "desc", "per_page": "100"}
    assert fd.calls == {"resume_create": 1, "total": 1}


def test_resume_create_follows_pages_onto_our_own_base_and_may_find_nothing(
        rsps: responses.RequestsMock, fd: FreshdeskClient) -> None:
    rsps.get(f"{API}/tickets", json=[ticket(id=1, tags=[])], headers={
        "Link": '<https://elsewhere.example/api/v2/tickets?page=2&per_page=100>; rel="next"'})
    rsps.get(f"{API}/tickets?page=2&per_page=100", json=[ticket(id=2, tags=["smsc-0"])])
    assert fd.resume_create(new()) is None
    assert rsps.calls[1].request.url == f"{API}/tickets?page=2&per_page=100"
    assert rsps.calls[1].request.headers["Authorization"] == BASIC


def test_endless_pages_are_an_error_not_a_partial_list(
        rsps: responses.RequestsMock, fd: FreshdeskClient,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FreshdeskClient, "max_pages", 3)
    rsps.get(f"{API}/tickets", json=[], headers={"Link": f'<{API}/tickets?page=2>; rel="next"'})
    with pytest.raises(ExternalServiceError, match="more than 3 pages"):
        fd.resume_create(new())


# ---------------------------------------------------------------------- tickets


@pytest.mark.parametrize(("status", "state"), [
    (2, TICKET_OPEN), (3, TICKET_PENDING), (4, TICKET_SOLVED), (5, TICKET_CLOSED),
    (7, TICKET_UNKNOWN), ("open", TICKET_UNKNOWN), (None, TICKET_UNKNOWN)])
def test_statuses_in_the_core_s_words(rsps: responses.RequestsMock, fd: FreshdeskClient,
                                      status: Any, state: str) -> None:
    rsps.get(f"{API}/tickets/35436", json=ticket(status=status))
    got = fd.get_ticket(35436)
    assert got.state == state and got.raw["status"] == status
    assert (got.requester_id, got.tags, got.version) == (REQUESTER, ("sms", "sms_order"), STAMP)


def test_a_missing_or_deleted_ticket_is_gone(rsps: responses.RequestsMock,
                                             fd: FreshdeskClient) -> None:
    rsps.get(f"{API}/tickets/1", status=404, body="")
    rsps.get(f"{API}/tickets/2", json=ticket(id=2, deleted=True))
    with pytest.raises(TicketGone):
        fd.get_ticket(1)
    with pytest.raises(TicketGone):
        fd.get_ticket(2)


def test_a_follow_up_is_one_public_incoming_note(rsps: responses.RequestsMock,
                                                 fd: FreshdeskClient,
                                                 budget: FakeBudget) -> None:
    rsps.post(f"{API}/tickets/35436/notes", json=note_answer(501), status=201)
    got = fd.update(35436, texts("order 55812\nthanks", expected_version="ignored"))
    assert body_of(rsps.calls[0]) == {"body": "order 55812<br>thanks", "private": False,
                                      "incoming": True, "user_id": REQUESTER}
    # A note's answer does not carry the ticket's state: the pipeline keeps what it knows.
    assert (got.id, got.state, got.version, got.comment_id) == (35436, TICKET_UNKNOWN, None,
                                                                501)
    assert fd.calls == {"add_note": 1, "total": 1}
    assert budget.before == [("ticket_writes", "35436"), ("account", None)]


def test_reopen_writes_open_then_the_note(rsps: responses.RequestsMock,
                                          fd: FreshdeskClient) -> None:
    rsps.put(f"{API}/tickets/35436", json=ticket(status=2))
    rsps.post(f"{API}/tickets/35436/notes", json=note_answer(502), status=201)
    got = fd.update(35436, texts(reopen=True))
    assert body_of(rsps.calls[0]) == {"status": 2}
    assert (got.state, got.version, got.comment_id) == (TICKET_OPEN, STAMP, 502)


def test_tags_are_read_then_written_whole(rsps: responses.RequestsMock,
                                          fd: FreshdeskClient) -> None:
    rsps.get(f"{API}/tickets/35436", json=ticket(tags=["sms", "vip"]))
    rsps.put(f"{API}/tickets/35436", json=ticket(tags=["vip", "sms_opted_out"]))
    rsps.post(f"{API}/tickets/35436/notes", json=note_answer(), status=201)
    got = fd.update(35436, texts("STOP", add_tags=("sms_opted_out",), remove_tags=("sms",)))
    assert body_of(rsps.calls[1]) == {"tags": ["vip", "sms_opted_out"]}
    assert got.tags == ("vip", "sms_opted_out")


def test_tags_already_right_are_not_written(rsps: responses.RequestsMock,
                                            fd: FreshdeskClient) -> None:
    rsps.get(f"{API}/tickets/35436", json=ticket(tags=["sms", "sms_opted_out"]))
    rsps.post(f"{API}/tickets/35436/notes", json=note_answer(), status=201)
    fd.update(35436, texts("STOP", add_tags=("sms_opted_out",)))
    assert [c.request.method for c in rsps.calls] == ["GET", "POST"]


def test_an_escalation_puts_priority_and_tags_then_one_private_note(
        rsps: responses.RequestsMock, fd: FreshdeskClient) -> None:
    rsps.get(f"{API}/tickets/35436", json=ticket(tags=["sms"]))
    rsps.put(f"{API}/tickets/35436", json=ticket(tags=["sms", "sms_escalated"]))
    rsps.post(f"{API}/tickets/35436/notes", json=note_answer(503), status=201)
    got = fd.update(35436, TicketUpdate(body="[sms-connector] Escalated", private=True,
                                        priority="urgent", add_tags=("sms_escalated",)))
    assert body_of(rsps.calls[1]) == {"priority": 4, "tags": ["sms", "sms_escalated"]}
    note = body_of(rsps.calls[2])
    assert note["private"] is True and "user_id" not in note and "incoming" not in note
    assert got.comment_id == 503


def test_a_bare_reopen_is_one_put(rsps: responses.RequestsMock, fd: FreshdeskClient) -> None:
    rsps.put(f"{API}/tickets/35436", json=ticket(status=2))
    assert fd.update(35436, TicketUpdate(reopen=True)).state == TICKET_OPEN
    assert fd.calls["total"] == 1


def test_a_note_with_uploads_is_multipart(rsps: responses.RequestsMock,
                                          fd: FreshdeskClient) -> None:
    token = fd.upload("label.png", b"PNG", "image/png")
    rsps.post(f"{API}/tickets/35436/notes", json=note_answer(), status=201)
    fd.update(35436, texts("photo attached", uploads=(token,)))
    parts = multipart(rsps.calls[0])
    assert [(n, f, v) for n, f, _, v in parts] == [
        ("body", None, b"photo attached"), ("private", None, b"false"),
        ("incoming", None, b"true"), ("user_id", None, str(REQUESTER).encode()),
        ("attachments[]", "label.png", b"PNG")]


def test_a_note_on_a_deleted_ticket_is_gone(rsps: responses.RequestsMock,
                                            fd: FreshdeskClient) -> None:
    rsps.post(f"{API}/tickets/35436/notes", status=404, body="")
    with pytest.raises(TicketGone):
        fd.update(35436, texts())
    with pytest.raises(TicketGone):
        fd.add_private_note(35436, "x")


def test_a_private_note_is_the_api_agent_s(rsps: responses.RequestsMock,
                                           fd: FreshdeskClient) -> None:
    rsps.post(f"{API}/tickets/35436/notes",
              json=conversation(503, ME, private=True), status=201)
    fd.add_private_note(35436, "[SMS connector] delivery failed: 30003 <unreachable>")
    assert body_of(rsps.calls[0]) == {
        "body": "[SMS connector] delivery failed: 30003 &lt;unreachable&gt;", "private": True}


def test_resume_update_finds_the_same_text_by_the_same_author(
        rsps: responses.RequestsMock, fd: FreshdeskClient) -> None:
    page = [conversation(1, AGENT, source=0, body="order 55812"),  # an agent, not the author
            conversation(2, REQUESTER, incoming=True, body="order  55812",
                         at="2026-04-01T12:01:00Z"),
            conversation(3, REQUESTER, incoming=True, private=True, body="yes")]
    rsps.get(f"{API}/tickets/35436/conversations", json=page)
    landed = fd.resume_update(35436, texts("order 55812"))
    assert landed is not None and (landed.state, landed.comment_id) == (TICKET_UNKNOWN, 2)
    assert rsps.calls[0].request.params == {"per_page": "100"}  # type: ignore[attr-defined]
    rsps.get(f"{API}/tickets/35436/conversations", json=page)
    assert fd.resume_update(35436, texts("order")) is None  # never a part of a longer text
    rsps.get(f"{API}/tickets/35436/conversations", json=page)
    assert fd.resume_update(35436, texts("yes")) is None  # never a private note
    assert fd.resume_update(35436, TicketUpdate(reopen=True)) is None  # nothing to know it by


def test_resume_update_sees_through_attachment_notices(rsps: responses.RequestsMock,
                                                       fd: FreshdeskClient) -> None:
    body = ("see photo\n\n[Attachment a.jpeg could not be attached: upload_lost. The text "
            "above arrived in full.]")
    rsps.get(f"{API}/tickets/35436/conversations",
             json=[conversation(9, REQUESTER, incoming=True, body=body)])
    assert fd.resume_update(35436, texts("see photo")) is not None


def test_resume_update_of_a_reopen_reads_the_ticket(rsps: responses.RequestsMock,
                                                    fd: FreshdeskClient) -> None:
    rsps.get(f"{API}/tickets/35436/conversations",
             json=[conversation(9, REQUESTER, incoming=True, body="again")])
    rsps.get(f"{API}/tickets/35436", json=ticket(status=2))
    landed = fd.resume_update(35436, texts("again", reopen=True))
    assert landed is not None and (landed.state, landed.comment_id) == (TICKET_OPEN, 9)


def test_resume_update_on_a_deleted_ticket_is_gone(rsps: responses.RequestsMock,
                                                   fd: FreshdeskClient) -> None:
    rsps.get(f"{API}/tickets/35436/conversations", status=404, body="")
    with pytest.raises(TicketGone):
        fd.resume_update(35436, texts())


# ---------------------------------------------------------------------- comments


def test_list_comments_classifies_authors_newest_first(rsps: responses.RequestsMock,
                                                       fd: FreshdeskClient) -> None:
    rsps.get(f"{API}/tickets/35436", json=ticket(tags=["sms", marker_tag(new().key)]))
    rsps.get(f"{API}/tickets/35436/conversations", json=[  # oldest first, as Freshdesk lists
        conversation(1, ME, private=True, body="[SMS connector] delivery failed",
                     at="2026-04-01T12:01:00Z"),
        conversation(2, AGENT, source=0, body="Your order shipped today.",
                     at="2026-04-01T12:02:00Z", attachments=[{
                         "id": 7, "name": "label.png", "content_type": "image/png",
                         "size": 10, "attachment_url": f"{BASE}/files/7"}]),
        conversation(3, AGENT, private=True, body="VIP, expedite", at="2026-04-01T12:03:00Z"),
        conversation(4, ME, source=0, body="Sent from the admin's own login",
                     at="2026-04-01T12:04:00Z"),
        conversation(5, 66, source=0, incoming=True, body="cc'd colleague by email",
                     at="2026-04-01T12:05:00Z"),
        conversation(6, REQUESTER, incoming=True, body="thanks!", at="2026-04-01T12:06:00Z"),
        conversation(7, None, source=0, body="?", at="2026-04-01T12:00:30Z"),
    ], match=[responses.matchers.query_param_matcher({"per_page": "100"})])
    rsps.get(f"{API}/agents/me", json={"id": ME})
    comments = fd.list_comments(35436)
    assert [(c.id, c.author, c.public, c.from_integration) for c in comments] == [
        (6, AUTHOR_CUSTOMER, True, True),  # the customer's text, through the API
        (5, AUTHOR_CUSTOMER, True, False),
        (4, AUTHOR_AGENT, True, False),  # the key's agent replying in the UI is a person
        (3, AUTHOR_AGENT, False, False),
        (2, AUTHOR_AGENT, True, False),
        (1, AUTHOR_CONNECTOR, False, True),
        (7, AUTHOR_SYSTEM, True, False),
        (0, AUTHOR_CUSTOMER, True, True),  # the description: the customer's first comment
    ]
    assert comments[2].html_body == "<div>Sent from the admin's own login</div>"
    assert comments[4].attachments == (Attachment("label.png", "image/png", 10,
                                                  f"{BASE}/files/7"),)
    assert (comments[-1].body, comments[-1].author_id) == ("hi my order #4411", REQUESTER)
    # Then ONE call each time: the description, requester and the key's agent are known.
    rsps.get(f"{API}/tickets/35436/conversations", json=[])
    before = fd.calls["total"]
    assert [c.id for c in fd.list_comments(35436)] == [0]
    assert fd.calls["total"] == before + 1


def test_an_agent_s_public_note_is_not_a_reply_the_customer_s_note_is(
        rsps: responses.RequestsMock, fd: FreshdeskClient) -> None:
    from connector.pipeline.agent_reply import pick_replies

    rsps.get(f"{API}/tickets/35436", json=ticket())
    rsps.get(f"{API}/tickets/35436/conversations", json=[
        conversation(1, AGENT, source=2, private=False, body="shown in the portal only",
                     at="2026-04-01T12:01:00Z"),
        conversation(2, ME, source=2, private=False, body="the key's agent, in the UI",
                     at="2026-04-01T12:02:00Z"),
        conversation(3, REQUESTER, source=2, private=False, incoming=True, body="my text",
                     at="2026-04-01T12:03:00Z"),
        conversation(4, AGENT, source=0, body="Your order shipped.", at="2026-04-01T12:04:00Z"),
    ])
    comments = fd.list_comments(35436)
    assert [(c.id, c.author, c.public) for c in comments] == [
        (4, AUTHOR_AGENT, True),  # a Reply: e-mailed to the customer, so texted
        (3, AUTHOR_CUSTOMER, True),  # the customer's own text stays public
        (2, AUTHOR_AGENT, False),  # a public note is no reply: never sent to the customer
        (1, AUTHOR_AGENT, False),
        (0, AUTHOR_CUSTOMER, True),
    ]
    assert [c.id for c in pick_replies(comments, cutoff=0.0)] == [4]


def test_a_created_ticket_s_comments_are_one_call(rsps: responses.RequestsMock,
                                                  fd: FreshdeskClient) -> None:
    rsps.post(f"{API}/tickets", json=ticket(description_text=None), status=201)
    fd.create_ticket(new(body="my order\nnever came"))
    rsps.get(f"{API}/tickets/35436/conversations",
             json=[conversation(1, REQUESTER, incoming=True)])
    [note, first] = fd.list_comments(35436)
    assert fd.calls == {"create_ticket": 1, "list_comments": 1, "total": 2}
    assert (first.body, first.author, first.public) == ("my order\nnever came",
                                                        AUTHOR_CUSTOMER, True)
    assert note.author == AUTHOR_CUSTOMER


def test_comments_follow_link_pages(rsps: responses.RequestsMock, fd: FreshdeskClient) -> None:
    rsps.get(f"{API}/tickets/35436", json=ticket())
    rsps.get(f"{API}/tickets/35436/conversations",
             json=[conversation(1, REQUESTER, incoming=True, at="2026-04-01T12:01:00Z")],
             headers={"Link": f'<{API}/tickets/35436/conversations?page=2&per_page=100>; '
                              'rel="next"'})
    rsps.get(f"{API}/tickets/35436/conversations?page=2&per_page=100",
             json=[conversation(2, REQUESTER, incoming=True, at="2026-04-01T12:02:00Z")])
    assert [c.id for c in fd.list_comments(35436)] == [2, 1, 0]


def test_a_body_without_plain_text_is_read_from_html(rsps: responses.RequestsMock,
                                                     fd: FreshdeskClient) -> None:
    rsps.get(f"{API}/tickets/35436", json=ticket())
    rsps.get(f"{API}/tickets/35436/conversations",
             json=[conversation(1, AGENT, source=0, body_text=None,
                                body="<p>Hello&nbsp;<b>there</b></p>")])
    assert fd.list_comments(35436)[0].body.strip() == "Hello there"


def test_comments_of_a_deleted_ticket_are_gone(rsps: responses.RequestsMock,
                                               fd: FreshdeskClient) -> None:
    rsps.get(f"{API}/tickets/35436", status=404, body="")
    with pytest.raises(TicketGone):
        fd.list_comments(35436)


# ---------------------------------------------------------------------- attachments


def test_download_keeps_the_key_on_the_account_s_host(rsps: responses.RequestsMock,
                                                      fd: FreshdeskClient) -> None:
    rsps.get(f"{BASE}/files/7", body=b"PNG!", content_type="image/png")
    rsps.get("https://s3.amazonaws.com/fd/7.png", body=b"PNG!", content_type="image/png")
    own = Attachment("a.png", "image/png", 4, f"{BASE}/files/7")
    elsewhere = Attachment("a.png", "image/png", 4, "https://s3.amazonaws.com/fd/7.png")
    assert fd.download_attachment(own, max_bytes=10, allowed_types=["image/png"]) == (
        b"PNG!", "image/png")
    assert rsps.calls[0].request.headers["Authorization"] == BASIC
    fd.download_attachment(elsewhere, max_bytes=10, allowed_types=["image/png"])
    assert "Authorization" not in rsps.calls[1].request.headers
    assert fd.calls["download_attachment"] == 2


def test_download_within_the_limits_asked(rsps: responses.RequestsMock,
                                          fd: FreshdeskClient) -> None:
    rsps.get(f"{BASE}/files/7", body=b"PNG!", content_type="image/png")
    own = Attachment("a.png", "image/png", 4, f"{BASE}/files/7")
    with pytest.raises(MediaUnavailable) as caught:
        fd.download_attachment(own, max_bytes=3, allowed_types=["image/png"])
    assert caught.value.reason == "too_large"
    with pytest.raises(MediaUnavailable) as caught:
        fd.download_attachment(own, max_bytes=10, allowed_types=["image/jpeg"])
    assert caught.value.reason == "content_type"
    with pytest.raises(MediaUnavailable) as caught:
        fd.download_attachment(Attachment("a", None, None, ""), max_bytes=10,
                               allowed_types=["image/png"])
    assert caught.value.reason == "no_url"


# ---------------------------------------------------------------------- errors and budget


def test_429_without_retry_after_waits_one_window(rsps: responses.RequestsMock,
                                                  fd: FreshdeskClient,
                                                  budget: FakeBudget) -> None:
    rsps.get(f"{API}/tickets/1", status=429, body="")
    with pytest.raises(RateLimited) as caught:
        fd.get_ticket(1)
    assert caught.value.retry_after == 60.0
    assert budget.retry_after == [("account", 60.0, None)]


def test_429_with_retry_after(rsps: responses.RequestsMock, fd: FreshdeskClient,
                              budget: FakeBudget) -> None:
    rsps.get(f"{API}/tickets/1", status=429, headers={
        "Retry-After": "37", "X-RateLimit-Total": "200", "X-RateLimit-Remaining": "0"},
        json={"code": "rate_limit_exceeded", "message": "too many"})
    with pytest.raises(RateLimited) as caught:
        fd.get_ticket(1)
    assert caught.value.retry_after == 37.0
    assert budget.retry_after == [("account", 37.0, None)]


def test_a_write_s_429_with_calls_left_pauses_only_writes(
        rsps: responses.RequestsMock, fd: FreshdeskClient, budget: FakeBudget) -> None:
    rsps.post(f"{API}/tickets/35436/notes", status=429,
              headers={"Retry-After": "20", "X-RateLimit-Remaining": "120"})
    with pytest.raises(RateLimited):
        fd.update(35436, texts())
    assert budget.retry_after == [("ticket_writes", 20.0, None)]


def test_a_spent_budget_makes_no_call(rsps: responses.RequestsMock) -> None:
    fd = FreshdeskClient(BASE, KEY, budget=FakeBudget(refuse="ticket_writes"))
    with pytest.raises(RateLimited):
        fd.add_private_note(35436, "x")
    assert len(rsps.calls) == 0 and fd.calls["total"] == 0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_transient(rsps: responses.RequestsMock, fd: FreshdeskClient,
                          status: int) -> None:
    rsps.post(f"{API}/tickets", status=status, body="<html>oops</html>")
    with pytest.raises(TransientError):
        fd.create_ticket(new())


@pytest.mark.parametrize("exc", [requests.ReadTimeout("slow"), requests.ConnectionError("rst")])
def test_network_failures_are_transient(rsps: responses.RequestsMock, fd: FreshdeskClient,
                                        exc: Exception) -> None:
    rsps.post(f"{API}/tickets/35436/notes", body=exc)
    with pytest.raises(TransientError):
        fd.update(35436, texts())


@pytest.mark.parametrize("answer", [{"body": "<html>proxy</html>"}, {"json": {"a": 1}}])
def test_a_list_that_is_not_a_list_is_transient(rsps: responses.RequestsMock,
                                                fd: FreshdeskClient,
                                                answer: dict[str, Any]) -> None:
    rsps.get(f"{API}/tickets/35436/conversations", **answer)
    with pytest.raises(TransientError):
        fd.resume_update(35436, texts())


def test_an_unaccepted_key_is_permanent_with_its_words(rsps: responses.RequestsMock,
                                                       fd: FreshdeskClient) -> None:
    rsps.get(f"{API}/agents/me", status=401, json={
        "code": "invalid_credentials", "message": "You have to be logged in to perform this "
                                                  "action."})
    with pytest.raises(ExternalServiceError) as caught:
        fd.me()
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (
        401, "invalid_credentials", False)
    assert "You have to be logged in" in str(caught.value)


def test_redirects_are_not_followed(rsps: responses.RequestsMock, fd: FreshdeskClient) -> None:
    rsps.get(f"{API}/tickets/1", status=302, headers={"Location": "https://evil.example/"})
    with pytest.raises(ExternalServiceError):
        fd.get_ticket(1)
    assert len(rsps.calls) == 1


# ---------------------------------------------------------------------- the webhook

SECRET = "s3cret-shared-with-the-rule"


def delivery(body: bytes = b'{"ticket_id": "35436", "event": "reply_sent"}',
             headers: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest(url="https://connector.example.com/webhooks/helpdesk/freshdesk",
                          headers={"Content-Type": "application/json", "User-Agent": "Freshdesk",
                                   **(headers or {})},
                          raw_body=body, content_type="application/json")


def test_the_secret_header_verifies() -> None:
    assert FreshdeskClient.verify_webhook(delivery(headers={SECRET_HEADER: SECRET}), SECRET)
    lower = delivery(headers={SECRET_HEADER.lower(): SECRET})
    assert FreshdeskClient.verify_webhook(lower, SECRET)


@pytest.mark.parametrize("header", [
    None, "", "wrong", SECRET + "x", SECRET[:-1], " " + SECRET, "\u00e9" * 27,
    SECRET[:-1] + "\u00e9", "\x00" * 27, "s" * 100_000, "٤٢"])
def test_a_wrong_missing_or_hostile_header_is_refused(header: str | None) -> None:
    headers = {} if header is None else {SECRET_HEADER: header}
    assert FreshdeskClient.verify_webhook(delivery(headers=headers), SECRET) is False


def test_no_secret_configured_refuses_everything() -> None:
    assert FreshdeskClient.verify_webhook(delivery(headers={SECRET_HEADER: ""}), "") is False
    assert FreshdeskClient.verify_webhook(delivery(headers={SECRET_HEADER: "x"}), "") is False


def test_a_non_ascii_configured_secret_compares_as_bytes() -> None:
    request = delivery(headers={SECRET_HEADER: "abc"})
    assert FreshdeskClient.verify_webhook(request, "ab\u00e9") is False


@pytest.mark.parametrize(("body", "ticket_id"), [
    (b'{"ticket_id": "35436", "event": "reply_sent"}', 35436),
    (b'{"ticket_id": 35436}', 35436),
    (b'{"ticket_id": " 7 "}', 7),
])
def test_the_ticket_id(body: bytes, ticket_id: int) -> None:
    assert FreshdeskClient.webhook_ticket_id(delivery(body)) == ticket_id


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b"{}", b"\xff\xfe", b'{"ticket_id": null}', b'{"ticket_id": true}',
    b'{"ticket_id": "\\u0664\\u0662"}', b'{"ticket_id": "\\u00b2"}', b'{"ticket_id": "0"}',
    b'{"ticket_id": "-5"}', b'{"ticket_id": "1e3"}', b'{"ticket_id": "{{ticket.id}}"}',
    b'{"ticket_id": "' + b"9" * 5000 + b'"}', b'{"ticket_id": ' + b"9" * 5000 + b"}",
    b'{"ticket_id": {"id": 5}}', b'{"ticket_id": [5]}',
    b"[" * 100_000 + b"]" * 100_000, b'{"a": ' * 50_000 + b"1" + b"}" * 50_000,
])
def test_a_delivery_without_a_ticket_is_400(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as caught:
        FreshdeskClient.webhook_ticket_id(delivery(body))
    assert caught.value.status == 400


@pytest.mark.parametrize(("body", "event"), [
    (b'{"ticket_id": "1", "event": "reply_sent"}', EVENT_REPLY),
    (b'{"ticket_id": "1", "event": "status"}', EVENT_STATE),
    (b'{"ticket_id": "1"}', EVENT_REPLY),
    (b'{"ticket_id": "1", "event": ["status"]}', EVENT_REPLY),
    (b"not json", EVENT_REPLY),
    (b"[" * 100_000, EVENT_REPLY),
])
def test_the_event(body: bytes, event: str) -> None:
    assert FreshdeskClient.webhook_event(delivery(body)) == event
