"""The Freshdesk stand-in's API over real loopback HTTP: shapes, errors, paging, rate limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connector.sandbox.common import Faults, SandboxControls, SandboxServer
from connector.sandbox.freshdesk import FreshdeskSandbox, create_app

AUTH = ("sandbox-api-key", "X")


class Api:
    def __init__(self, base: str, sandbox: FreshdeskSandbox) -> None:
        self.base = base
        self.sandbox = sandbox
        self.session = requests.Session()
        self.session.auth = AUTH

    def __call__(self, method: str, path: str, body: Any = None, **kw: Any) -> requests.Response:
        if body is not None:
            kw["json"] = body
        return self.session.request(method, self.base + path, timeout=10, **kw)

    def ticket(self, **extra: Any) -> dict[str, Any]:
        body = {"subject": "SMS from +12025550142", "description": "<p>my order is late</p>",
                "phone": "+12025550142", "name": "SMS +12025550142", "tags": ["sms"],
                "source": 101, **extra}
        r = self("POST", "/api/v2/tickets", body)
        assert r.status_code == 201, r.text
        return dict(r.json())


@pytest.fixture
def controls() -> SandboxControls:
    return SandboxControls()


@pytest.fixture
def api(controls: SandboxControls) -> Iterator[Api]:
    app = create_app(controls=controls)
    with SandboxServer(app) as server:
        client = Api(server.url, app.extensions["freshdesk_sandbox"])
        yield client
        client.session.close()


def errors_of(r: requests.Response) -> list[tuple[str, str]]:
    body = r.json()
    assert body["description"] == "Validation failed"
    return [(e["field"], e["code"]) for e in body["errors"]]


# ---------------------------------------------------------------------- auth, agents, limits


def test_extension_and_agent_me(api: Api) -> None:
    assert isinstance(api.sandbox, FreshdeskSandbox)
    assert api.sandbox.api_key == "sandbox-api-key"
    assert api.sandbox.domain == "sandbox.freshdesk.com"
    me = api("GET", "/api/v2/agents/me")
    assert me.status_code == 200
    assert me.json()["id"] == api.sandbox.agent_id
    assert me.json()["contact"]["email"]


def test_bad_credentials_are_401_with_a_code(api: Api) -> None:
    r = requests.get(api.base + "/api/v2/tickets", auth=("wrong-key", "X"), timeout=5)
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_credentials"
    assert requests.get(api.base + "/api/v2/tickets", timeout=5).status_code == 401


def test_rate_headers_on_every_answer_and_429_with_retry_after(
    api: Api, controls: SandboxControls
) -> None:
    ok = api("GET", "/api/v2/agents/me")
    assert ok.headers["X-RateLimit-Total"] == "10000"
    assert ok.headers["X-RateLimit-Used-CurrentRequest"] == "1"
    missing = api("GET", "/api/v2/tickets/4242")
    assert missing.status_code == 404 and "X-RateLimit-Remaining" in missing.headers
    controls.update({"per_minute": 2})
    first = api("GET", "/api/v2/agents/me")
    assert first.headers["X-RateLimit-Total"] == "2"
    assert first.headers["X-RateLimit-Remaining"] == "1"
    api("GET", "/api/v2/agents/me")
    limited = api("GET", "/api/v2/agents/me")
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert "X-RateLimit-Remaining" not in limited.headers
    # Sandbox routes are never limited.
    assert requests.get(api.base + "/_sandbox/state", timeout=5).status_code == 200


def test_account_budget_counts_invalid_requests_and_follows_the_clock(api: Api) -> None:
    r = requests.post(api.base + "/_sandbox/account", json={"requests_per_minute": 2}, timeout=5)
    assert r.status_code == 200
    assert requests.get(api.base + "/api/v2/tickets", auth=("nope", "X"), timeout=5
                        ).status_code == 401
    assert api("GET", "/api/v2/agents/me").headers["X-RateLimit-Remaining"] == "0"
    assert api("GET", "/api/v2/agents/me").status_code == 429
    requests.post(api.base + "/_sandbox/clock", json={"advance_seconds": 61}, timeout=5)
    assert api("GET", "/api/v2/agents/me").status_code == 200
    bad = requests.post(api.base + "/_sandbox/account", json={"requests_per_minute": 0},
                        timeout=5)
    assert bad.status_code == 400


def test_faults_down_and_sandbox_routes_untouched(api: Api, controls: SandboxControls) -> None:
    controls.update({"down": True})
    assert api("GET", "/api/v2/agents/me").status_code == 503
    assert requests.get(api.base + "/_sandbox/state", timeout=5).status_code == 200


def test_drop_after_commit_commits_the_ticket(api: Api, controls: SandboxControls) -> None:
    controls.update({"drop_after_commit": 1})
    with pytest.raises(requests.ConnectionError):
        api.ticket()
    assert [t["id"] for t in api.sandbox.state()["tickets"]] == [1]


# ---------------------------------------------------------------------- contacts


def test_contact_lookup_is_an_exact_string_match(api: Api) -> None:
    cid = api.sandbox.add_contact("Ann", phone="+12025550142")
    api.sandbox.add_contact("Bob", mobile="+12025550199")
    found = api("GET", "/api/v2/contacts", params={"phone": "+12025550142"})
    assert [c["id"] for c in found.json()] == [cid]
    # A '+' sent unencoded arrives as a space: nothing matches.
    assert api("GET", "/api/v2/contacts?phone=+12025550142").json() == []
    # Another spelling of the same number is another string.
    assert api("GET", "/api/v2/contacts", params={"phone": "12025550142"}).json() == []
    assert api("GET", "/api/v2/contacts", params={"phone": "+12025550199"}).json() == []
    assert len(api("GET", "/api/v2/contacts", params={"mobile": "+12025550199"}).json()) == 1
    assert api("GET", f"/api/v2/contacts/{cid}").json()["name"] == "Ann"
    assert api("GET", "/api/v2/contacts/123").status_code == 404
    unknown = api("GET", "/api/v2/contacts", params={"phone_number": "x"})
    assert errors_of(unknown) == [("phone_number", "invalid_field")]


def test_create_contact_validation_and_conflict(api: Api) -> None:
    r = api("POST", "/api/v2/contacts", {"phone": "+12025550142"})
    assert r.status_code == 400 and ("name", "missing_field") in errors_of(r)
    r = api("POST", "/api/v2/contacts", {"name": "Nobody"})
    assert r.status_code == 400 and errors_of(r)[0][1] == "missing_field"
    r = api("POST", "/api/v2/contacts", {"name": "A", "phone": "+1", "nickname": "x"})
    assert ("nickname", "invalid_field") in errors_of(r)
    first = api("POST", "/api/v2/contacts", {"name": "Ann", "email": "ann@example.com"})
    assert first.status_code == 201
    dup = api("POST", "/api/v2/contacts", {"name": "Ann 2", "email": "ANN@example.com"})
    assert dup.status_code == 409
    error = dup.json()["errors"][0]
    assert error["code"] == "duplicate_value"
    assert error["additional_info"] == {"user_id": first.json()["id"]}
    # Phone numbers are not unique: a second contact with the same phone is created.
    one = api("POST", "/api/v2/contacts", {"name": "P1", "phone": "+12025550142"})
    two = api("POST", "/api/v2/contacts", {"name": "P2", "phone": "+12025550142"})
    assert one.status_code == two.status_code == 201
    r = api("POST", "/api/v2/contacts", data=b"{not json", headers={
        "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_json"
    r = api("POST", "/api/v2/contacts", data=b"name=x", headers={
        "Content-Type": "text/plain"})
    assert r.status_code == 415


def test_sandbox_contacts_route(api: Api) -> None:
    r = requests.post(api.base + "/_sandbox/contacts",
                      json={"name": "Walk-in", "mobile": "+15550001"}, timeout=5)
    assert r.status_code == 201 and r.json()["contact"]["mobile"] == "+15550001"
    bad = requests.post(api.base + "/_sandbox/contacts", json={"name": 5}, timeout=5)
    assert bad.status_code == 400
    assert requests.post(api.base + "/_sandbox/contacts", data=b"[", timeout=5).status_code == 400


# ---------------------------------------------------------------------- tickets


def test_create_ticket_with_phone_makes_or_reuses_a_contact_by_exact_match(api: Api) -> None:
    first = api.ticket()
    again = api.ticket()
    assert first["requester_id"] == again["requester_id"]
    assert (first["id"], again["id"]) == (1, 2)
    assert first["source"] == 101 and first["status"] == 2 and first["priority"] == 1
    assert first["created_at"].endswith("Z") and "T" in first["created_at"]
    # A differently written number is a different contact: a duplicate.
    other = api.ticket(phone="+1 202-555-0142")
    assert other["requester_id"] != first["requester_id"]
    # A contact holding the number as mobile is not found by phone either.
    mobile_owner = api.sandbox.add_contact("M", mobile="+13035550100")
    made = api.ticket(phone="+13035550100", name="SMS +13035550100")
    assert made["requester_id"] != mobile_owner
    assert api.ticket(requester_id=mobile_owner, phone=None, name=None)["requester_id"] == \
        mobile_owner


def test_create_ticket_validation(api: Api) -> None:
    base = {"subject": "s", "description": "d"}
    r = api("POST", "/api/v2/tickets", {**base, "phone": "+12025550142"})
    assert r.status_code == 400 and ("name", "missing_field") in errors_of(r)
    r = api("POST", "/api/v2/tickets", base)
    assert ("requester_id", "missing_field") in errors_of(r)
    r = api("POST", "/api/v2/tickets", {"email": "a@example.com"})
    assert {("subject", "missing_field"), ("description", "missing_field")} <= set(errors_of(r))
    r = api("POST", "/api/v2/tickets", {**base, "email": "a@example.com", "priority": 5,
                                        "status": 6, "source": 4})
    assert {f for f, _ in errors_of(r)} == {"priority", "status", "source"}
    r = api("POST", "/api/v2/tickets", {**base, "email": "a@example.com", "tags": ["x" * 33]})
    assert errors_of(r) == [("tags", "invalid_value")]
    r = api("POST", "/api/v2/tickets", {**base, "email": "a@example.com", "tags": ["a,b"]})
    assert errors_of(r) == [("tags", "invalid_value")]
    r = api("POST", "/api/v2/tickets", {**base, "email": "a@example.com", "sms": True})
    assert errors_of(r) == [("sms", "invalid_field")]
    r = api("POST", "/api/v2/tickets", {**base, "requester_id": 999})
    assert errors_of(r) == [("requester_id", "invalid_value")]
    r = api("POST", "/api/v2/tickets", {**base, "requester_id": "12"})
    assert errors_of(r) == [("requester_id", "datatype_mismatch")]
    r = api("POST", "/api/v2/tickets", [1, 2])
    assert r.status_code == 400 and r.json()["code"] == "invalid_json"
    r = api("POST", "/api/v2/tickets", {**base, "email": "a@example.com", "attachments": []})
    assert errors_of(r) == [("attachments", "datatype_mismatch")]
    assert api("GET", "/api/v2/tickets/abc").status_code == 404
    assert api("PATCH", "/api/v2/tickets/1").status_code == 405
    assert api.sandbox.tickets == {}


def test_create_ticket_multipart_with_attachments(api: Api) -> None:
    r = api("POST", "/api/v2/tickets", data={
        "subject": "MMS", "description": "<p>photo</p>", "phone": "+12025550142",
        "name": "SMS +12025550142", "tags[]": ["sms", "mms"], "priority": "2",
        "source": "101", "custom_fields[cf_channel]": "sms",
    }, files=[("attachments[]", ("a.jpg", b"\xff\xd8jpeg", "image/jpeg")),
              ("attachments[]", ("b.txt", b"text", "text/plain"))])
    assert r.status_code == 201, r.text
    ticket = r.json()
    assert ticket["tags"] == ["sms", "mms"] and ticket["priority"] == 2
    assert ticket["custom_fields"] == {"cf_channel": "sms"}
    names = [(a["name"], a["content_type"], a["size"]) for a in ticket["attachments"]]
    assert names == [("a.jpg", "image/jpeg", 6), ("b.txt", "text/plain", 4)]
    download = requests.get(ticket["attachments"][0]["attachment_url"], timeout=5)
    assert download.status_code == 200 and download.content == b"\xff\xd8jpeg"
    wrong = ticket["attachments"][0]["attachment_url"].rsplit("/", 1)[0] + "/guess"
    assert requests.get(wrong, timeout=5).status_code == 404


def test_ticket_fields_list_custom_sources(api: Api) -> None:
    fields = {f["name"]: f for f in api("GET", "/api/v2/ticket_fields").json()}
    assert fields["source"]["choices"]["SMS"] == 101
    assert fields["source"]["choices"]["Phone"] == 3
    assert fields["priority"]["choices"]["Urgent"] == 4


def test_update_replaces_tags_and_fields(api: Api) -> None:
    ticket = api.ticket(tags=["sms", "vip"])
    r = api("PUT", f"/api/v2/tickets/{ticket['id']}",
            {"status": 3, "priority": 4, "tags": ["sms"], "group_id": 7,
             "custom_fields": {"cf_x": "1"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["priority"], body["tags"], body["group_id"]) == \
        (3, 4, ["sms"], 7)
    r = api("PUT", f"/api/v2/tickets/{ticket['id']}", {"status": 9})
    assert errors_of(r) == [("status", "invalid_value")]
    assert api("PUT", "/api/v2/tickets/77", {"status": 3}).status_code == 404


def test_tracker_and_tracker_id(api: Api) -> None:
    a, b, c = api.ticket(), api.ticket(), api.ticket()
    tracker = api.ticket(email="ops@example.com", phone=None, name=None,
                         related_ticket_ids=[a["id"], b["id"]])
    assert tracker["association_type"] == 3
    assert tracker["associated_tickets_list"] == [a["id"], b["id"]]
    assert api("GET", f"/api/v2/tickets/{a['id']}").json()["association_type"] == 4
    linked = api("PUT", f"/api/v2/tickets/{c['id']}", {"tracker_id": tracker["id"]})
    assert linked.status_code == 200 and linked.json()["association_type"] == 4
    shown = api("GET", f"/api/v2/tickets/{tracker['id']}").json()
    assert shown["associated_tickets_list"] == [a["id"], b["id"], c["id"]]
    r = api("PUT", f"/api/v2/tickets/{a['id']}", {"tracker_id": c["id"]})
    assert errors_of(r) == [("tracker_id", "invalid_value")]
    r = api.session.post(api.base + "/api/v2/tickets", timeout=5, json={
        "email": "x@example.com", "subject": "s", "description": "d",
        "related_ticket_ids": [9999]})
    assert errors_of(r) == [("related_ticket_ids", "invalid_value")]


def test_delete_keeps_show_and_refuses_writes(api: Api) -> None:
    ticket = api.ticket()
    assert api("DELETE", f"/api/v2/tickets/{ticket['id']}").status_code == 204
    shown = api("GET", f"/api/v2/tickets/{ticket['id']}")
    assert shown.status_code == 200 and shown.json()["deleted"] is True
    assert api("PUT", f"/api/v2/tickets/{ticket['id']}", {"status": 3}).status_code == 404
    assert api("POST", f"/api/v2/tickets/{ticket['id']}/notes", {"body": "x"}).status_code == 404
    assert api("GET", "/api/v2/tickets").json() == []
    assert api("DELETE", "/api/v2/tickets/999").status_code == 404


def test_list_tickets_window_filters_order_and_paging(api: Api) -> None:
    old = api.ticket()
    requests.post(api.base + "/_sandbox/clock", json={"advance_seconds": 31 * 86400}, timeout=5)
    new = [api.ticket() for _ in range(3)]
    listed = api("GET", "/api/v2/tickets").json()
    # Without updated_since only the last 30 days, newest first.
    assert [t["id"] for t in listed] == [n["id"] for n in reversed(new)]
    since = api("GET", "/api/v2/tickets", params={
        "updated_since": "2000-01-01T00:00:00Z", "order_by": "created_at",
        "order_type": "asc", "requester_id": old["requester_id"]}).json()
    assert [t["id"] for t in since] == [old["id"], *[n["id"] for n in new]]
    page1 = api("GET", "/api/v2/tickets", params={"per_page": 2})
    assert len(page1.json()) == 2 and 'rel="next"' in page1.headers["Link"]
    next_url = page1.headers["Link"].split(">")[0].lstrip("<")
    page2 = api.session.get(next_url, timeout=5)
    assert len(page2.json()) == 1 and "Link" not in page2.headers
    for params, field in (({"order_by": "priority"}, "order_by"),
                          ({"per_page": 101}, "per_page"),
                          ({"updated_since": "yesterday"}, "updated_since"),
                          ({"phone": "+1"}, "phone")):
        r = api("GET", "/api/v2/tickets", params=params)
        assert r.status_code == 400 and field in [f for f, _ in errors_of(r)]


# ---------------------------------------------------------------------- conversations


def test_notes_default_private_and_conversations_page(api: Api) -> None:
    ticket = api.ticket()
    tid = ticket["id"]
    private = api("POST", f"/api/v2/tickets/{tid}/notes", {"body": "<p>ack sent</p>"})
    assert private.status_code == 201
    assert private.json()["private"] is True and private.json()["incoming"] is False
    assert private.json()["user_id"] == api.sandbox.agent_id
    customer = api("POST", f"/api/v2/tickets/{tid}/notes", {
        "body": "<p>second text</p>", "private": False, "incoming": True,
        "user_id": ticket["requester_id"]})
    assert customer.status_code == 201 and customer.json()["body_text"] == "second text"
    reply = api("POST", f"/api/v2/tickets/{tid}/reply", {"body": "<p>on its way</p>"})
    assert reply.status_code == 201 and reply.json()["source"] == 0
    page = api("GET", f"/api/v2/tickets/{tid}/conversations", params={"per_page": 2})
    items = page.json()
    assert [c["id"] for c in items] == [private.json()["id"], customer.json()["id"]]
    keys = {"id", "body", "body_text", "incoming", "private", "user_id", "source",
            "ticket_id", "created_at", "updated_at", "attachments"}
    assert keys <= set(items[0])
    assert 'rel="next"' in page.headers["Link"]
    rest = api.session.get(page.headers["Link"][1:].split(">")[0], timeout=5).json()
    assert [c["source"] for c in rest] == [0]


def test_note_validation(api: Api) -> None:
    tid = api.ticket()["id"]
    r = api("POST", f"/api/v2/tickets/{tid}/notes", {})
    assert errors_of(r) == [("body", "missing_field")]
    r = api("POST", f"/api/v2/tickets/{tid}/notes", {"body": "x", "private": "no"})
    assert errors_of(r) == [("private", "datatype_mismatch")]
    r = api("POST", f"/api/v2/tickets/{tid}/notes", {"body": "x", "user_id": 12345})
    assert errors_of(r) == [("user_id", "invalid_value")]
    r = api("POST", f"/api/v2/tickets/{tid}/notes", {"body": "x", "public": True})
    assert errors_of(r) == [("public", "invalid_field")]
    contact = api.sandbox.add_contact("C", phone="+1")
    r = api("POST", f"/api/v2/tickets/{tid}/reply", {"body": "x", "user_id": contact})
    assert errors_of(r) == [("user_id", "invalid_value")]
    assert api("GET", "/api/v2/tickets/999/conversations").status_code == 404


def test_note_multipart_attachment_downloads(api: Api) -> None:
    tid = api.ticket()["id"]
    r = api("POST", f"/api/v2/tickets/{tid}/notes", data={"body": "<p>photo</p>",
                                                         "private": "false"},
            files={"attachments[]": ("p.png", b"\x89PNG", "image/png")})
    assert r.status_code == 201 and r.json()["private"] is False
    att = r.json()["attachments"][0]
    assert set(att) >= {"id", "name", "content_type", "size", "attachment_url"}
    assert requests.get(att["attachment_url"], timeout=5).content == b"\x89PNG"


def test_timestamps_follow_the_sandbox_clock(api: Api) -> None:
    before = api.ticket()
    requests.post(api.base + "/_sandbox/clock", json={"advance_seconds": 3600}, timeout=5)
    note = api("POST", f"/api/v2/tickets/{before['id']}/notes", {"body": "later"}).json()
    from connector.sandbox.freshdesk_store import parse_iso

    assert (parse_iso(note["created_at"]) or 0) - (parse_iso(before["created_at"]) or 0) >= 3600
    shown = api("GET", f"/api/v2/tickets/{before['id']}").json()
    assert shown["updated_at"] == note["created_at"]


def test_sandbox_agent_reply_and_status_routes(api: Api) -> None:
    tid = api.ticket()["id"]
    r = requests.post(api.base + "/_sandbox/agent_reply",
                      json={"ticket_id": tid, "body": "<p>hello</p>"}, timeout=5)
    assert r.status_code == 200
    conversation = r.json()["conversation"]
    assert (conversation["source"], conversation["private"]) == (0, False)
    assert conversation["user_id"] != api.sandbox.agent_id  # another agent, in the UI
    r = requests.post(api.base + "/_sandbox/agent_reply",
                      json={"ticket_id": tid, "body": "internal", "public": False}, timeout=5)
    assert r.json()["conversation"]["private"] is True
    r = requests.post(api.base + f"/_sandbox/tickets/{tid}/status",
                      json={"status": "resolved"}, timeout=5)
    assert r.status_code == 200 and r.json()["ticket"]["status"] == 4
    for bad in ({"status": 1}, {"status": "solved"}, {"status": True}):
        r = requests.post(api.base + f"/_sandbox/tickets/{tid}/status", json=bad, timeout=5)
        assert r.status_code == 400
    r = requests.post(api.base + "/_sandbox/tickets/999/status", json={"status": 5}, timeout=5)
    assert r.status_code == 404
    r = requests.post(api.base + "/_sandbox/agent_reply", json={"ticket_id": tid}, timeout=5)
    assert r.status_code == 400
    state = requests.get(api.base + "/_sandbox/state", timeout=5).json()
    assert [len(t["conversations"]) for t in state["tickets"]] == [2]
    assert state["tickets"][0]["status"] == 4 and state["tickets"][0]["tags"] == ["sms"]


def test_faults_validated(controls: SandboxControls) -> None:
    with pytest.raises(ValueError):
        SandboxControls(Faults(per_minute=0))
    assert controls.snapshot()["per_minute"] is None
