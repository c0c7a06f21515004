"""adapters.helpdesk.zendesk: URLs, auth, bodies, Zendesk's words → the core's, error
translation, budget, pagination (HTTP mocked with ``responses``; the contract suite runs the same
adapter against the sandbox: test_zendesk_contract.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from adapters.helpdesk.zendesk import ZendeskClient
from connector.errors import (
    ExternalServiceError,
    MediaUnavailable,
    RateLimited,
    StaleUpdate,
    TicketClosed,
    TicketGone,
    TransientError,
)
from connector.model import (
    AUTHOR_AGENT,
    AUTHOR_CONNECTOR,
    AUTHOR_CUSTOMER,
    AUTHOR_SYSTEM,
    TICKET_CLOSED,
    TICKET_NEW,
    TICKET_OPEN,
    TICKET_PENDING,
    TICKET_SOLVED,
    TICKET_UNKNOWN,
    Attachment,
    NewTicket,
    TicketUpdate,
)
from connector.ports import Helpdesk, RateBudget

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "zendesk"
SPEC = Path("/work/shared/specs/zendesk-support-openapi.yaml")
BASE = "https://acme.zendesk.com"
API = f"{BASE}/api/v2"
EMAIL = "connector@example.com"
TOKEN = "zd-token-not-real"
BASIC = "Basic " + base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


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

    def record_retry_after(
        self, endpoint_class: str, seconds: float, key: str | None = None
    ) -> None:
        self.retry_after.append((endpoint_class, seconds, key))


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def budget() -> FakeBudget:
    return FakeBudget()


@pytest.fixture
def zd(budget: FakeBudget) -> ZendeskClient:
    return ZendeskClient(BASE, EMAIL, TOKEN, budget=budget)


def body_of(call: Any) -> Any:
    return json.loads(call.request.body)


NOW = 1_775_000_000.0


def new(**overrides: Any) -> NewTicket:
    kwargs: dict[str, Any] = {
        "requester_id": 9001,
        "subject": "SMS from +1202***0142: hi my order",
        "body": "hi my order #4411 still hasnt shipped?? its been 5 days",
        "priority": "normal",
        "tags": ("sms", "sms_order", "sms_p3"),
        "key": "5f0e1d2c",
        "attempted_at": NOW,
    }
    kwargs.update(overrides)
    return NewTicket(**kwargs)


def create(zd: ZendeskClient, **overrides: Any) -> Any:
    return zd.create_ticket(new(**overrides))


# ---------------------------------------------------------------------- basics


def test_client_implements_the_ports(zd: ZendeskClient, budget: FakeBudget) -> None:
    assert isinstance(zd, Helpdesk)
    assert isinstance(budget, RateBudget)


@pytest.mark.parametrize(
    ("base_url", "api"),
    [
        ("https://acme.zendesk.com", "https://acme.zendesk.com/api/v2"),
        ("https://acme.zendesk.com/api/v2/", "https://acme.zendesk.com/api/v2"),
        ("https://support.acme.eu/", "https://support.acme.eu/api/v2"),  # host-mapped / EU
        ("http://127.0.0.1:9000/zd", "http://127.0.0.1:9000/zd/api/v2"),  # sandbox / proxy
    ],
)
def test_urls_and_auth_on_a_custom_base_url(
    rsps: responses.RequestsMock, base_url: str, api: str
) -> None:
    rsps.get(f"{api}/users/me", json=fixture("me.json"))
    zd = ZendeskClient(base_url, EMAIL, TOKEN)
    me = zd.me()
    assert (me.id, me.kind, me.raw["role"]) == (500, AUTHOR_AGENT, "admin")
    request = rsps.calls[0].request
    assert request.headers["Authorization"] == BASIC
    assert request.headers["Accept"] == "application/json"
    assert zd.calls == {"me": 1, "total": 1}


def test_me_with_rejected_credentials(rsps: responses.RequestsMock, zd: ZendeskClient) -> None:
    # Zendesk answers /users/me with an anonymous user rather than 401.
    rsps.get(f"{API}/users/me", json={"user": {"id": None, "role": "end-user", "name": "Anon"}})
    with pytest.raises(ExternalServiceError) as caught:
        zd.me()
    assert caught.value.retryable is False


# ---------------------------------------------------------------------- users


NOBODY = {"users": [], "next_page": None, "previous_page": None, "count": 0}


def test_ensure_requester_keys_on_external_id(
    rsps: responses.RequestsMock, zd: ZendeskClient
) -> None:
    rsps.post(
        f"{API}/users/create_or_update", json=fixture("user_create_or_update.json"), status=201
    )
    user = zd.ensure_requester("+12025550142")
    assert (user.id, user.kind) == (9001, AUTHOR_CUSTOMER)
    assert user.raw["external_id"] == "sms:+12025550142"
    assert len(rsps.calls) == 1  # a new customer costs one call: no search first
    assert body_of(rsps.calls[0]) == {
        "user": {
            "name": "+12025550142",
            "external_id": "sms:+12025550142",
            "identities": [{"type": "phone_number", "value": "+12025550142"}],
        }
    }


def test_ensure_requester_with_a_name(rsps: responses.RequestsMock, zd: ZendeskClient) -> None:
    rsps.post(f"{API}/users/create_or_update", json=fixture("user_create_or_update.json"))
    zd.ensure_requester("+12025550142", name="Jamie")
    assert body_of(rsps.calls[0])["user"]["name"] == "Jamie"


def end_user(uid: int, phone: str | None, **extra: Any) -> dict[str, Any]:
    return {"id": uid, "name": f"User {uid}", "role": "end-user", "phone": phone,
            "shared_phone_number": False, "external_id": None, **extra}


def identities(*phones: str) -> dict[str, Any]:
    return {"identities": [{"id": i, "type": "phone_number", "value": p}
                           for i, p in enumerate(phones)], "next_page": None, "count": len(phones)}


# A phone identity is unique in an account: creating with a number someone owns is refused.
# The description is localized and keyed by field, so the adapter matches no words.
TAKEN = {
    "error": "RecordInvalid",
    "description": "Fehler bei der Datensatzvalidierung",
    "details": {"value": [{"description": "Telefonnummer: +12025550142 wird bereits von "
                                          "einem anderen Benutzer verwendet",
                           "error": "DuplicateValue"}]},
}


def test_ensure_requester_uses_the_customer_who_owns_the_number(
    rsps: responses.RequestsMock, zd: ZendeskClient
) -> None:
    rsps.post(f"{API}/users/create_or_update", json=TAKEN, status=422)
    # Search matches loosely (a number ending the same); only the owner's direct line counts.
    rsps.get(f"{API}/users/search", json={**NOBODY, "users": [
        end_user(1, "+442025550142"), end_user(2, "+1 (202) 555-0142")], "count": 2})
    rsps.get(f"{API}/users/1/identities", json=identities("+442025550142"))
    user = zd.ensure_requester("+12025550142", name="SMS +12025550142")
    assert (user.id, user.name, user.kind) == (2, "User 2", AUTHOR_CUSTOMER)
    # Search syntax for a caller's number: digits only, no "+".
    assert rsps.calls[1].request.params == {"query": "role:end-user phone:12025550142"}
    assert zd.calls["ensure_requester"] == 1  # the refused create only: the name untouched


def test_ensure_requester_finds_a_number_that_is_not_the_primary_phone(
    rsps: responses.RequestsMock, zd: ZendeskClient
) -> None:
    rsps.post(f"{API}/users/create_or_update", json=TAKEN, status=422)
    rsps.get(f"{API}/users/search", json={**NOBODY, "users": [end_user(3, "+15550000000")]})
    rsps.get(f"{API}/users/3/identities", json=identities("+15550000000", "+12025550142"))
    assert zd.ensure_requester("+12025550142").id == 3


def test_ensure_requester_does_not_pick_among_shared_or_several_owners(
    rsps: responses.RequestsMock, zd: ZendeskClient
) -> None:
    rsps.post(f"{API}/users/create_or_update", json=TAKEN, status=422)
    rsps.get(f"{API}/users/search", json={**NOBODY, "users": [
        end_user(4, "+12025550142", shared_phone_number=True),
        end_user(5, "+12025550142"), end_user(6, "+12025550142")]})
    rsps.post(
        f"{API}/users/create_or_update", json=fixture("user_create_or_update.json"), status=201
    )
    assert zd.ensure_requester("+12025550142").id == 9001
    assert "identities" not in body_of(rsps.calls[2])["user"]


def test_ensure_requester_survives_any_refused_phone_identity(
    rsps: responses.RequestsMock, zd: ZendeskClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Taken by a user search does not show (yet), or a number Zendesk will not take.
    rsps.post(f"{API}/users/create_or_update", json=TAKEN, status=422)
    rsps.get(f"{API}/users/search", json=NOBODY)
    rsps.post(
        f"{API}/users/create_or_update", json=fixture("user_create_or_update.json"), status=201
    )
    with caplog.at_level("WARNING", logger="sms_connector.zendesk"):
        assert zd.ensure_requester("+12025550142").id == 9001
    assert "identities" not in body_of(rsps.calls[2])["user"]
    assert zd.calls["ensure_requester"] == 2
    [record] = caplog.records
    assert "value: DuplicateValue" in record.getMessage()
    assert "+12025550142" not in record.getMessage()


def test_ensure_requester_raises_other_refusals(
    rsps: responses.RequestsMock, zd: ZendeskClient
) -> None:
    rsps.post(f"{API}/users/create_or_update", status=403,
              json={"error": "Forbidden", "description": "You do not have access"})
    with pytest.raises(ExternalServiceError):
        zd.ensure_requester("+19995550142")
    assert zd.calls["ensure_requester"] == 1


# ---------------------------------------------------------------------- tickets


def test_create_ticket_body_and_idempotency_key(
    rsps: responses.RequestsMock, zd: ZendeskClient, budget: FakeBudget
) -> None:
    rsps.post(
        f"{API}/tickets",
        json=fixture("ticket_create_201.json"),
        status=201,
        headers={"x-idempotency-lookup": "miss"},
    )
    ticket, hit = create(zd)
    assert hit is False
    assert (ticket.id, ticket.state, ticket.priority) == (35436, TICKET_NEW, "normal")
    assert ticket.raw["status"] == "new"
    assert ticket.requester_id == 9001
    assert ticket.tags == ("sms", "sms_order", "sms_p3")
    assert ticket.updated_at == ticket.version == "2026-04-01T12:00:00Z"
    assert ticket.comment_id == 8001  # from the audit: the connector's own comment
    request = rsps.calls[0].request
    assert request.headers["Idempotency-Key"] == "5f0e1d2c"
    assert request.headers["Content-Type"] == "application/json"
    assert body_of(rsps.calls[0]) == {
        "ticket": {
            "requester_id": 9001,
            "submitter_id": 9001,
            "subject": "SMS from +1202***0142: hi my order",
            "comment": {
                "body": "hi my order #4411 still hasnt shipped?? its been 5 days",
                "public": True,
                "author_id": 9001,
            },
            "tags": ["sms", "sms_order", "sms_p3"],
            "priority": "normal",
            "external_id": "sms-connector:5f0e1d2c",
        }
    }
    assert budget.before == [("account", None)]


def test_create_ticket_replayed_with_uploads(rsps: responses.RequestsMock,
                                             zd: ZendeskClient) -> None:
    rsps.post(
        f"{API}/tickets",
        json=fixture("ticket_create_201.json"),
        status=201,
        headers={"X-Idempotency-Lookup": "hit"},
    )
    _, hit = create(zd, uploads=("tok1", "tok2"), priority="critical")
    assert hit is True
    sent = body_of(rsps.calls[0])["ticket"]
    assert sent["comment"]["uploads"] == ["tok1", "tok2"]
    assert sent["comment"]["public"] is True
    assert "priority" not in sent  # not a priority in the core's words: left to Zendesk
    assert "via_followup_source_id" not in sent


def test_a_closed_ticket_is_followed_up(rsps: responses.RequestsMock, zd: ZendeskClient) -> None:
    rsps.post(f"{API}/tickets", json=fixture("ticket_create_201.json"), status=201)
    create(zd, follows=35001, follows_state=TICKET_CLOSED)
    sent = body_of(rsps.calls[0])["ticket"]
    assert sent["via_followup_source_id"] == 35001
    assert "35001" not in sent["comment"]["body"]


def test_a_solved_ticket_cannot_be_followed_up_so_the_body_names_it(
    rsps: responses.RequestsMock, zd: ZendeskClient
) -> None:
    rsps.post(f"{API}/tickets", json=fixture("ticket_create_201.json"), status=201)
    create(zd, follows=35001, follows_state=TICKET_SOLVED)
    sent = body_of(rsps.calls[0])["ticket"]
    assert "via_followup_source_id" not in sent
    assert sent["comment"]["body"].endswith("[Earlier ticket from this customer: #35001]")


def test_resume_create_within_the_key_s_life_repeats_the_same_request(
    rsps: responses.RequestsMock,
) -> None:
    zd = ZendeskClient(BASE, EMAIL, TOKEN, clock=lambda: NOW + 3600)
    rsps.post(f"{API}/tickets", json=fixture("ticket_create_201.json"), status=201,
              headers={"x-idempotency-lookup": "hit"})
    rsps.post(f"{API}/tickets", json=fixture("ticket_create_201.json"), status=201,
              headers={"x-idempotency-lookup": "hit"})
    first, _ = zd.create_ticket(new())
    ticket = zd.resume_create(new())
    assert ticket is not None and ticket.id == first.id == 35436
    assert rsps.calls[0].request.body == rsps.calls[1].request.body
    assert rsps.calls[1].request.headers["Idempotency-Key"] == "5f0e1d2c"


def test_resume_create_after_the_key_expired_looks_through_the_requester_s_tickets(
    rsps: responses.RequestsMock,
) -> None:
    zd = ZendeskClient(BASE, EMAIL, TOKEN, clock=lambda: NOW + 3 * 3600)
    page = fixture("tickets_requested.json")
    page["tickets"][1]["external_id"] = "sms-connector:5f0e1d2c"
    rsps.get(
        f"{API}/users/9001/tickets/requested",
        json=page,
        match=[
            matchers.query_param_matcher(
                {"sort_by": "created_at", "sort_order": "desc", "per_page": "100"}
            )
        ],
    )
    ticket = zd.resume_create(new())
    assert ticket is not None and (ticket.id, ticket.state) == (35001, TICKET_CLOSED)
    assert zd.resume_create(new(key="never-sent")) is None
    assert zd.calls == {"requested_tickets": 2, "total": 2}  # never a creation


def test_get_ticket(rsps: responses.RequestsMock, zd: ZendeskClient) -> None:
    rsps.get(f"{API}/tickets/35436", json=fixture("ticket_show.json"))
    ticket = zd.get_ticket(35436)
    assert (ticket.state, ticket.version) == (TICKET_OPEN, "2026-04-01T12:05:00Z")
    assert ticket.comment_id is None
    assert ticket.raw["via"]["channel"] == "api"


@pytest.mark.parametrize(
    ("status", "state"),
    [("new", TICKET_NEW), ("open", TICKET_OPEN), ("pending", TICKET_PENDING),
     ("hold", TICKET_PENDING), ("solved", TICKET_SOLVED), ("closed", TICKET_CLOSED),
     ("archived", TICKET_UNKNOWN), (None, TICKET_UNKNOWN)],
)
def test_statuses_in_the_core_s_words(
    rsps: responses.RequestsMock, zd: ZendeskClient, status: str | None, state: str
) -> None:
    body = fixture("ticket_show.json")
    body["ticket"]["status"] = status
    rsps.get(f"{API}/tickets/35436", json=body)
    ticket = zd.get_ticket(35436)
    assert ticket.state == state and ticket.raw["status"] == status


CUSTOMER_TEXTS = TicketUpdate(
    body="also the tracking link is broken",
    author_id=9001,
    uploads=("tok",),
    reopen=True,
    add_tags=("sms_opted_out",),
    remove_tags=("sms_p3",),
    expected_version="2026-04-01T12:05:00Z",
)


def test_update_with_the_expected_version_is_a_safe_update(
    rsps: responses.RequestsMock, zd: ZendeskClient, budget: FakeBudget
) -> None:
    rsps.put(f"{API}/tickets/35436", json=fixture("ticket_update_200.json"))
    ticket = zd.update(35436, CUSTOMER_TEXTS)
    assert ticket.version == "2026-04-01T12:07:31Z"
    assert ticket.comment_id == 8010
    assert body_of(rsps.calls[0]) == {
        "ticket": {
            "comment": {
                "body": "also the tracking link is broken",
                "public": True,
                "author_id": 9001,
                "uploads": ["tok"],
            },
            "status": "open",
            "additional_tags": ["sms_opted_out"],
            "remove_tags": ["sms_p3"],
            "safe_update": True,
            "updated_stamp": "2026-04-01T12:05:00Z",
        }
    }
    # Update Ticket is counted per ticket as well as per account.
    assert budget.before == [("ticket_update", "35436"), ("account", None)]
    assert zd.calls == {"update_ticket": 1, "total": 1}


def test_private_note_never_sends_tags_nor_a_stamp(
    rsps: responses.RequestsMock, zd: ZendeskClient, budget: FakeBudget
) -> None:
    rsps.put(f"{API}/tickets/35436", json=fixture("ticket_update_200.json"))
    zd.add_private_note(35436, "Delivery failed: landline")
    sent = body_of(rsps.calls[0])["ticket"]
    assert sent == {"comment": {"body": "Delivery failed: landline", "public": False}}
    assert budget.before == [("ticket_update", "35436"), ("account", None)]


def test_an_escalation_is_one_put_with_priority_tags_and_a_private_note(
    rsps: responses.RequestsMock, zd: ZendeskClient
) -> None:
    rsps.put(f"{API}/tickets/35436", json=fixture("ticket_update_200.json"))
    zd.update(35436, TicketUpdate(body="[sms-connector] Escalated: first_response", private=True,
                                  priority="high", add_tags=("sms_escalated", "sms_esc_x")))
    assert len(rsps.calls) == 1
    assert body_of(rsps.calls[0]) == {"ticket": {
        "comment": {"body": "[sms-connector] Escalated: first_response", "public": False},
        "priority": "high", "additional_tags": ["sms_escalated", "sms_esc_x"]}}


def test_a_bare_reopen_sends_only_the_status(
    rsps: responses.RequestsMock, zd: ZendeskClient
) -> None:
    rsps.put(f"{API}/tickets/35436", json=fixture("ticket_update_200.json"))
    zd.update(35436, TicketUpdate(reopen=True))
    assert body_of(rsps.calls[0]) == {"ticket": {"status": "open"}}


def test_resume_update_finds_the_same_text_by_the_same_author(
    rsps: responses.RequestsMock, zd: ZendeskClient
) -> None:
    rsps.get(f"{API}/tickets/35436/comments", json=fixture("comments_desc_users.json"),
             match=[matchers.query_param_matcher({"sort_order": "desc"})])
    rsps.get(f"{API}/tickets/35436", json=fixture("ticket_show.json"))
    landed = zd.resume_update(35436, TicketUpdate(body="also  the tracking\nlink is broken",
                                                  author_id=9001))
    assert landed is not None and landed.version == "2026-04-01T12:05:00Z"
    assert zd.resume_update(35436, TicketUpdate(body="also the tracking link is broken",
                                                author_id=501)) is None  # not by the customer
    assert zd.resume_update(35436, TicketUpdate(reopen=True)) is None  # nothing to look for
    assert zd.calls == {"list_comments": 2, "get_ticket": 1, "total": 3}


def test_list_comments_classifies_authors_in_one_call(
    rsps: responses.RequestsMock, zd: ZendeskClient
) -> None:
    rsps.get(
        f"{API}/tickets/35436/comments",
        json=fixture("comments_desc_users.json"),
        match=[matchers.query_param_matcher({"sort_order": "desc", "include": "users"})],
    )
    comments = zd.list_comments(35436)
    assert [c.id for c in comments] == [8020, 8015, 8010]
    newest = comments[0]
    assert (newest.author_id, newest.author, newest.public) == (501, AUTHOR_AGENT, True)
    assert newest.from_integration is False
    assert newest.html_body is not None and "<p>" in newest.html_body
    assert comments[1].public is False
    customer = comments[2]
    assert (customer.author, customer.from_integration) == (AUTHOR_CUSTOMER, True)
    assert customer.attachments == (Attachment(
        name="screenshot.png", content_type="image/png", size=20480,
        url="https://acme.zendesk.com/attachments/token/abc/?name=screenshot.png"),)
    assert zd.calls == {"list_comments": 1, "total": 1}  # no API comment by staff: no /users/me


def test_the_connector_s_own_api_user_is_looked_up_once(
    rsps: responses.RequestsMock, zd: ZendeskClient
) -> None:
    listing = fixture("comments_desc_users.json")
    comment = listing["comments"][0]
    listing["comments"] = [
        {**comment, "id": 1, "author_id": 500, "via": {"channel": "api"}},  # the connector
        {**comment, "id": 2, "author_id": 502, "via": {"channel": "api"}},  # another integration
        {**comment, "id": 3, "author_id": 500, "via": {"channel": "web"}},  # its user, by hand
        {**comment, "id": 4, "author_id": -1, "via": {"channel": "rule"}},  # no such user listed
    ]
    listing["users"] = [{"id": 500, "role": "admin"}, {"id": 502, "role": "agent"}]
    rsps.get(f"{API}/tickets/35436/comments", json=listing)
    rsps.get(f"{API}/users/me", json=fixture("me.json"))
    authors = [(c.author, c.from_integration) for c in zd.list_comments(35436)]
    assert authors == [(AUTHOR_CONNECTOR, True), (AUTHOR_AGENT, True), (AUTHOR_AGENT, False),
                       (AUTHOR_SYSTEM, False)]
    zd.list_comments(35436)
    assert zd.calls == {"list_comments": 2, "me": 1, "total": 3}


def test_download_attachment_without_a_url_is_unavailable(zd: ZendeskClient) -> None:
    with pytest.raises(MediaUnavailable) as caught:
        zd.download_attachment(Attachment("a.png", "image/png", 1, ""), max_bytes=10,
                               allowed_types=["image/png"])
    assert caught.value.reason == "no_url"
    assert zd.calls["total"] == 0


def test_download_attachment_keeps_the_token_on_the_account_s_host(
    rsps: responses.RequestsMock, zd: ZendeskClient
) -> None:
    url = f"{BASE}/attachments/token/abc/?name=a.png"
    rsps.get(url, status=302, headers={"Location": "https://files.example.net/a.png"})
    rsps.get("https://files.example.net/a.png", body=b"\x89PNG",
             headers={"Content-Type": "image/png"})
    content, content_type = zd.download_attachment(
        Attachment("a.png", "image/png", 4, url), max_bytes=10, allowed_types=["image/png"])
    assert (content, content_type) == (b"\x89PNG", "image/png")
    assert rsps.calls[0].request.headers["Authorization"] == BASIC
    assert "Authorization" not in rsps.calls[1].request.headers
    assert zd.calls["download_attachment"] == 2


def test_upload_sends_raw_bytes(rsps: responses.RequestsMock, zd: ZendeskClient) -> None:
    rsps.post(
        f"{API}/uploads",
        json=fixture("upload_201.json"),
        status=201,
        match=[matchers.query_param_matcher({"filename": "photo.jpg"})],
    )
    token = zd.upload("photo.jpg", b"\xff\xd8\xff\xe0", "image/jpeg")
    assert token == "6bk3gql82em5nmf"
    request = rsps.calls[0].request
    assert request.body == b"\xff\xd8\xff\xe0"
    assert request.headers["Content-Type"] == "image/jpeg"


# ---------------------------------------------------------------------- errors


def test_429_raises_rate_limited_and_tells_the_budget(
    rsps: responses.RequestsMock, zd: ZendeskClient, budget: FakeBudget
) -> None:
    rsps.get(
        f"{API}/tickets/35436",
        status=429,
        body="Too Many Requests",
        headers={"Retry-After": "37", "X-Rate-Limit-Remaining": "0"},
    )
    with pytest.raises(RateLimited) as caught:
        zd.get_ticket(35436)
    assert caught.value.retry_after == 37.0
    assert budget.retry_after == [("account", 37.0, None)]


def test_429_on_a_ticket_update_pauses_that_ticket(
    rsps: responses.RequestsMock, zd: ZendeskClient, budget: FakeBudget
) -> None:
    rsps.put(
        f"{API}/tickets/35436",
        status=429,
        headers={"Retry-After": "120", "X-Rate-Limit-Remaining": "350"},
    )
    with pytest.raises(RateLimited):
        zd.update(35436, TicketUpdate(body="x"))
    assert budget.retry_after == [("ticket_update", 120.0, "35436")]


def test_429_without_retry_after_waits_one_window(
    rsps: responses.RequestsMock, zd: ZendeskClient, budget: FakeBudget
) -> None:
    rsps.get(f"{API}/tickets/1", status=429)
    with pytest.raises(RateLimited) as caught:
        zd.get_ticket(1)
    assert caught.value.retry_after == 60.0
    assert budget.retry_after == [("account", 60.0, None)]


def test_a_spent_budget_makes_no_call(rsps: responses.RequestsMock) -> None:
    budget = FakeBudget(refuse="ticket_update")
    zd = ZendeskClient(BASE, EMAIL, TOKEN, budget=budget)
    with pytest.raises(RateLimited) as caught:
        zd.add_private_note(35436, "x")
    assert caught.value.retry_after == 12.0
    assert len(rsps.calls) == 0
    assert zd.calls["total"] == 0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_transient(rsps: responses.RequestsMock, zd: ZendeskClient, status: int) -> None:
    rsps.post(f"{API}/tickets", status=status, body="<html>oops</html>")
    with pytest.raises(TransientError):
        create(zd)


def test_503_retry_after_is_kept(rsps: responses.RequestsMock, zd: ZendeskClient) -> None:
    rsps.get(f"{API}/tickets/1", status=503, headers={"Retry-After": "5"})
    with pytest.raises(TransientError) as caught:
        zd.get_ticket(1)
    assert caught.value.retry_after == 5.0


@pytest.mark.parametrize(
    "exc",
    [
        requests.ReadTimeout("read timed out"),
        requests.ConnectTimeout("connect timed out"),
        requests.ConnectionError("connection reset"),
    ],
)
def test_network_failures_are_transient(
    rsps: responses.RequestsMock, zd: ZendeskClient, exc: Exception
) -> None:
    rsps.put(f"{API}/tickets/35436", body=exc)
    with pytest.raises(TransientError):
        zd.update(35436, TicketUpdate(body="x", expected_version="2026-04-01T12:05:00Z"))


def test_409_is_a_stale_update(rsps: responses.RequestsMock, zd: ZendeskClient) -> None:
    rsps.put(f"{API}/tickets/35436", json=fixture("error_409_conflict.json"), status=409)
    with pytest.raises(StaleUpdate) as caught:
        zd.update(35436, TicketUpdate(body="x", expected_version="2026-04-01T12:05:00Z"))
    error = caught.value
    assert isinstance(error, ExternalServiceError)
    assert (error.provider, error.status, error.code) == ("zendesk", 409, "UpdateConflict")


@pytest.mark.parametrize(
    "body",
    [
        fixture("error_422_closed.json"),
        {  # the same refusal worded under "base", without the error name
            "error": "RecordInvalid",
            "description": "Record validation errors",
            "details": {"base": [{"description": "Status: closed prevents ticket update"}]},
        },
    ],
)
def test_422_on_a_closed_ticket(
    rsps: responses.RequestsMock, zd: ZendeskClient, body: dict[str, Any]
) -> None:
    rsps.put(f"{API}/tickets/35001", json=body, status=422)
    with pytest.raises(TicketClosed) as caught:
        zd.update(35001, TicketUpdate(body="hello again"))
    assert caught.value.retryable is False
    assert caught.value.status == 422
    assert caught.value.response == body


def test_other_422_is_not_closed(rsps: responses.RequestsMock, zd: ZendeskClient) -> None:
    rsps.put(f"{API}/tickets/35436", json=fixture("error_422_invalid.json"), status=422)
    with pytest.raises(ExternalServiceError) as caught:
        zd.update_ticket(35436, priority="critical")
    assert not isinstance(caught.value, TicketClosed)
    assert caught.value.retryable is False
    assert "Record validation errors" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, fixture("error_400_idempotency.json")),
        (401, "Couldn't authenticate you"),  # text/plain
        (403, {"error": "Forbidden", "description": "You do not have access"}),
        (404, {"error": "RecordNotFound", "description": "Not found"}),
    ],
)
def test_other_4xx_is_permanent(
    rsps: responses.RequestsMock, zd: ZendeskClient, status: int, body: Any
) -> None:
    kwargs = {"json": body} if isinstance(body, dict) else {"body": body}
    rsps.post(f"{API}/tickets", status=status, **kwargs)
    with pytest.raises(ExternalServiceError) as caught:
        create(zd)
    error = caught.value
    assert type(error) is ExternalServiceError
    assert (error.provider, error.status, error.retryable) == ("zendesk", status, False)
    assert error.response == body


def test_newer_error_bodies_are_read_too(rsps: responses.RequestsMock, zd: ZendeskClient) -> None:
    body = {"errors": [{"code": "TriggerCategoriesNotEnabled", "title": "Forbidden",
                        "detail": "Trigger categories are not enabled"}]}
    rsps.get(f"{API}/trigger_categories", json=body, status=403)
    with pytest.raises(ExternalServiceError) as caught:
        zd.list_trigger_categories()
    assert caught.value.code == "TriggerCategoriesNotEnabled"
    assert "not enabled" in str(caught.value)


def test_redirects_are_not_followed(rsps: responses.RequestsMock, zd: ZendeskClient) -> None:
    rsps.get(f"{API}/tickets/1", status=301, headers={"Location": "https://elsewhere.example/"})
    with pytest.raises(ExternalServiceError) as caught:
        zd.get_ticket(1)
    assert caught.value.status == 301
    assert len(rsps.calls) == 1


# ---------------------------------------------------------------------- policy objects


def test_triggers_follow_offset_pagination_onto_the_configured_base(
    rsps: responses.RequestsMock,
) -> None:
    proxy = "http://127.0.0.1:9000/zd/api/v2"
    rsps.get(
        f"{proxy}/triggers",
        json=fixture("triggers_page1.json"),
        match=[matchers.query_param_matcher({"page[size]": "100"})],
    )
    # next_page names acme.zendesk.com; the request must still go through our base_url
    rsps.get(
        f"{proxy}/triggers.json",
        json=fixture("triggers_page2.json"),
        match=[matchers.query_param_matcher({"page": "2", "per_page": "2"})],
    )
    zd = ZendeskClient("http://127.0.0.1:9000/zd", EMAIL, TOKEN)
    triggers = zd.list_triggers()
    assert [t["id"] for t in triggers] == [101, 102, 103]
    assert zd.calls == {"list_triggers": 2, "total": 2}
    assert all(c.request.headers["Authorization"] == BASIC for c in rsps.calls)


def test_webhooks_follow_cursor_pagination_until_has_more_is_false(
    rsps: responses.RequestsMock, zd: ZendeskClient
) -> None:
    rsps.get(
        f"{API}/webhooks",
        json=fixture("webhooks_page1.json"),
        match=[matchers.query_param_matcher({"page[size]": "100"})],
    )
    rsps.get(
        f"{API}/webhooks",
        json=fixture("webhooks_page2.json"),
        match=[matchers.query_param_matcher({"page[after]": "MW", "page[size]": "1"})],
    )
    hooks = zd.list_webhooks()
    assert [h["name"] for h in hooks] == ["Slack notifier", "[sms-connector] agent replies"]
    assert len(rsps.calls) == 2  # page 2's links.next is ignored: has_more is false


def test_webhook_lifecycle(rsps: responses.RequestsMock, zd: ZendeskClient) -> None:
    hook_id = "01GFXGBX7YZ9ASWTCVMASTK8ZS"
    desired = {
        k: v
        for k, v in fixture("webhook_created.json")["webhook"].items()
        if k not in ("id", "created_at", "created_by")
    }
    rsps.post(f"{API}/webhooks", json=fixture("webhook_created.json"), status=201)
    rsps.put(f"{API}/webhooks/{hook_id}", status=204)
    rsps.get(
        f"{API}/webhooks/{hook_id}/signing_secret", json=fixture("webhook_signing_secret.json")
    )
    assert zd.create_webhook(desired)["id"] == hook_id
    assert body_of(rsps.calls[0]) == {"webhook": desired}
    zd.update_webhook(hook_id, desired)
    assert body_of(rsps.calls[1]) == {"webhook": desired}
    assert zd.webhook_signing_secret(hook_id) == "dGhpcy1pcy1hLXRlc3Qtc2VjcmV0LW5vdC1yZWFs"


def test_trigger_and_category_writes(rsps: responses.RequestsMock, zd: ZendeskClient) -> None:
    trigger = fixture("triggers_page1.json")["triggers"][1]
    desired = {k: trigger[k] for k in ("title", "category_id", "conditions", "actions")}
    rsps.post(f"{API}/triggers", json={"trigger": trigger}, status=201)
    rsps.put(f"{API}/triggers/102", json={"trigger": trigger})
    rsps.delete(f"{API}/triggers/102", status=204)
    rsps.get(f"{API}/trigger_categories", json=fixture("trigger_categories.json"))
    category = {"id": "10003", "name": "[sms-connector]", "position": 2}
    rsps.post(f"{API}/trigger_categories", json={"trigger_category": category}, status=200)
    assert zd.create_trigger(desired)["id"] == 102
    assert body_of(rsps.calls[0]) == {"trigger": desired}
    assert zd.update_trigger(102, desired)["title"] == trigger["title"]
    zd.delete_trigger(102)
    assert [c["name"] for c in zd.list_trigger_categories()] == ["Email Triggers", "SMS Triggers"]
    assert zd.create_trigger_category({"name": "[sms-connector]"})["id"] == "10003"
    assert body_of(rsps.calls[4]) == {"trigger_category": {"name": "[sms-connector]"}}
    assert zd.calls["total"] == 5


# ---------------------------------------------------------------------- against the spec


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.skip(f"Zendesk OpenAPI spec not present at {SPEC}")
    yaml = pytest.importorskip("yaml")
    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader: Any = type("SpecLoader", (base,), {})
    # Unquoted "=" scalars in the spec (see ../shared/docs/reference/zendesk.md).
    loader.add_constructor("tag:yaml.org,2002:value", lambda ld, node: ld.construct_scalar(node))
    return dict(yaml.load(SPEC.read_text(), Loader=loader))


def validate(spec: dict[str, Any], schema_name: str, instance: Any) -> None:
    validator_module = pytest.importorskip("openapi_schema_validator")
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": spec["components"]}
    validator_module.validate(instance, schema, cls=validator_module.OAS30Validator)


def test_bodies_match_the_openapi_spec(
    rsps: responses.RequestsMock, zd: ZendeskClient, spec: dict[str, Any]
) -> None:
    rsps.post(f"{API}/tickets", json=fixture("ticket_create_201.json"), status=201)
    rsps.put(f"{API}/tickets/35436", json=fixture("ticket_update_200.json"))
    create(zd, follows=2, follows_state=TICKET_CLOSED, uploads=("t",))
    zd.update(35436, CUSTOMER_TEXTS)
    validate(spec, "TicketCreateRequest", body_of(rsps.calls[0]))
    validate(spec, "TicketUpdateRequest", body_of(rsps.calls[1]))


def test_user_body_matches_the_openapi_spec(
    rsps: responses.RequestsMock, zd: ZendeskClient, spec: dict[str, Any]
) -> None:
    rsps.post(f"{API}/users/create_or_update", json=fixture("user_create_or_update.json"))
    zd.ensure_requester("+12025550142", name="Jamie")
    validate(spec, "UserRequest", body_of(rsps.calls[0]))
    for identity in body_of(rsps.calls[0])["user"]["identities"]:
        validate(spec, "UserIdentityObject", identity)


def test_create_ticket_without_tags_lets_a_follow_up_inherit_them(
    rsps: responses.RequestsMock, zd: ZendeskClient
) -> None:
    rsps.post(f"{API}/tickets", json=fixture("ticket_create_201.json"), status=201)
    create(zd, tags=(), follows=35001, follows_state=TICKET_CLOSED)
    assert "tags" not in body_of(rsps.calls[0])["ticket"]


def test_endless_pagination_is_an_error_not_a_partial_list(
    rsps: responses.RequestsMock, zd: ZendeskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ZendeskClient, "max_pages", 3)
    page = {"triggers": [{"id": 1}], "next_page": f"{API}/triggers.json?page=2"}
    rsps.get(f"{API}/triggers", json=page)
    rsps.get(f"{API}/triggers.json", json=page)
    with pytest.raises(ExternalServiceError):
        zd.list_triggers()
    assert zd.calls["list_triggers"] == 3


def test_a_deleted_ticket_is_gone_but_a_wrong_path_is_not(
    rsps: responses.RequestsMock, zd: ZendeskClient
) -> None:
    # Show / update of a deleted ticket: 404 RecordNotFound. A wrong base_url: 404 InvalidEndpoint.
    gone = {"error": "RecordNotFound", "description": "Not found"}
    rsps.put(f"{API}/tickets/35436", json=gone, status=404)
    rsps.get(f"{API}/tickets/35436/comments", json=gone, status=404)
    rsps.get(f"{API}/tickets/35437", json={"error": "InvalidEndpoint", "description": "Not found"},
             status=404)
    with pytest.raises(TicketGone):
        zd.update(35436, TicketUpdate(body="hi", author_id=9001))
    with pytest.raises(TicketGone):
        zd.resume_update(35436, TicketUpdate(body="hi", author_id=9001))
    with pytest.raises(ExternalServiceError) as caught:
        zd.get_ticket(35437)
    assert not isinstance(caught.value, TicketGone)


def test_both_error_shapes_are_read_whole(rsps: responses.RequestsMock, zd: ZendeskClient) -> None:
    # Webhooks and newer endpoints: {"errors": [{"code", "title", "detail"}]}, maybe several.
    rsps.post(f"{API}/trigger_categories", status=403, json={"errors": [
        {"code": "TriggerCategoriesNotEnabled",
         "title": "Ticket trigger categories are not enabled for your account"},
        {"code": "ProductLimitExceeded", "title": "Your account has reached the limit"}]})
    # Older endpoints: {"error", "description", "details"}, the details keyed by field.
    rsps.post(f"{API}/triggers", status=422, json={
        "error": "RecordInvalid", "description": "Record validation errors",
        "details": {"title": [{"description": "Title: cannot be blank", "error": "BlankValue"}]}})
    with pytest.raises(ExternalServiceError) as caught:
        zd.create_trigger_category({"name": "x"})
    assert caught.value.code == "TriggerCategoriesNotEnabled"
    assert "not enabled" in str(caught.value) and "reached the limit" in str(caught.value)
    with pytest.raises(ExternalServiceError) as caught:
        zd.create_trigger({"title": ""})
    assert caught.value.code == "RecordInvalid" and "title: BlankValue" in str(caught.value)


def test_any_client_s_api_comment_is_from_an_integration_however_via_is_written(
    rsps: responses.RequestsMock, zd: ZendeskClient
) -> None:
    # A via may name its channel by via type or by via id: 5 web_service is the API
    # (https://developer.zendesk.com/documentation/ticketing/reference-guides/via-types/).
    listing = fixture("comments_desc_users.json")
    comment = listing["comments"][0]
    listing["comments"] = [
        {**comment, "id": 1, "author_id": 502, "via": {"channel": 5}},  # another integration
        {**comment, "id": 2, "author_id": 502, "via": {"channel": "web_service"}},
        {**comment, "id": 3, "author_id": 500, "via": {"channel": 5}},  # the connector
        {**comment, "id": 4, "author_id": 502, "via": {"channel": 0}},  # web form, by hand
    ]
    listing["users"] = [{"id": 500, "role": "admin"}, {"id": 502, "role": "agent"}]
    rsps.get(f"{API}/tickets/35436/comments", json=listing)
    rsps.get(f"{API}/users/me", json=fixture("me.json"))
    authors = [(c.author, c.from_integration) for c in zd.list_comments(35436)]
    assert authors == [(AUTHOR_AGENT, True), (AUTHOR_AGENT, True), (AUTHOR_CONNECTOR, True),
                       (AUTHOR_AGENT, False)]


def test_a_merge_note_is_marked_merged_however_via_is_written(
    rsps: responses.RequestsMock, zd: ZendeskClient
) -> None:
    # Merging tickets leaves a note on the surviving ticket by the agent who merged, via "merge"
    # (via id 19): an event, never a reply to text
    # (https://developer.zendesk.com/documentation/ticketing/reference-guides/via-types/).
    listing = fixture("comments_desc_users.json")
    comment = listing["comments"][0]
    listing["comments"] = [
        {**comment, "id": 1, "author_id": 502, "via": {"channel": "merge"}},
        {**comment, "id": 2, "author_id": 502, "via": {"channel": 19}},
        {**comment, "id": 3, "author_id": 502, "via": {"channel": "web"}},
    ]
    listing["users"] = [{"id": 500, "role": "admin"}, {"id": 502, "role": "agent"}]
    rsps.get(f"{API}/tickets/35436/comments", json=listing)
    assert [c.merged for c in zd.list_comments(35436)] == [True, True, False]
