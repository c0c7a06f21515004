"""The outbound job against a fake helpdesk: which comments become texts, once, and how."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select

from connector.config import settings_from_dict
from connector.errors import PermanentError
from connector.jobs.queue import Job
from connector.model import (
    AUTHOR_AGENT,
    AUTHOR_CONNECTOR,
    AUTHOR_CUSTOMER,
    Attachment,
    Comment,
)
from connector.pipeline.agent_reply import handle_outbound, handlers
from connector.pipeline.media_links import check_media_token, media_key, media_token
from connector.runtime import Runtime
from connector.store import conversations, jobs, media_blobs, messages, outbound, reading, schema
from connector.store.optouts import record_opt_out
from connector.text.sms_text import TRUNCATED_NOTE

PHONE = "+12025550142"
NUMBER = "+12025550100"
SERVICE = "MG" + "a" * 32
TICKET = 501
API_USER = 1
AGENT = 2
CUSTOMER = 3
T0 = 1_800_000_000.0


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakeHelpdesk:
    """The part of the Helpdesk port the agent-reply job uses; comments in core words."""

    comments: list[Comment] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    def list_comments(self, ticket_id: int) -> list[Comment]:
        self.calls.append("list_comments")
        return list(reversed(self.comments))

    def add_private_note(self, ticket_id: int, text: str) -> None:
        self.notes.append((ticket_id, text))

    def download_attachment(self, attachment: Attachment, *, max_bytes: int,
                            allowed_types: Any) -> tuple[bytes, str]:
        self.calls.append("download_attachment")
        return self.files[attachment.url]


def comment(cid: int, body: str, *, author_id: int = AGENT, author: str = AUTHOR_AGENT,
            public: bool = True, at: float = T0 + 60, api: bool = False, html: str | None = None,
            attachments: tuple[Attachment, ...] = (), merged: bool = False) -> Comment:
    return Comment(id=cid, author_id=author_id, author=author, public=public, body=body,
                   html_body=html, created_at=iso(at), from_integration=api,
                   attachments=attachments, merged=merged)


@pytest.fixture
def runtime(database_url, engine):
    settings = settings_from_dict({
        "zendesk": {"subdomain": "acme"}, "database": {"url": database_url},
        "twilio": {"account_sid": "AC" + "0" * 32, "auth_token": "tok"},
        "server": {"public_url": "https://sms.example.com"},
        "channels": [{"number": NUMBER}, {"messaging_service_sid": SERVICE}],
    })
    rt = Runtime(settings)
    schema.upgrade(rt.engine)
    rt.__dict__["helpdesk"] = FakeHelpdesk()
    with rt.engine.begin() as conn:
        conn.execute(insert(conversations).values(
            id=1, customer_phone=PHONE, channel_key=NUMBER, helpdesk="zendesk", ticket_id=TICKET,
            ticket_status="open", ticket_created_at=T0, created_at=T0, updated_at=T0))
    yield rt
    rt.close()


def run(rt: Runtime, ticket_id: int = TICKET) -> None:
    job = Job(id=1, kind="outbound", conversation_key=f"ticket:{ticket_id}",
              payload={"ticket_id": ticket_id}, attempts=1, max_attempts=8, lease_token="t",
              lease_expires_at=time.time() + 60)
    handle_outbound(rt, job)


def texts(rt: Runtime) -> list[dict[str, Any]]:
    with reading(rt.engine) as conn:
        return [dict(r) for r in conn.execute(select(outbound).order_by(outbound.c.id))
                .mappings()]


def send_jobs(rt: Runtime) -> int:
    with reading(rt.engine) as conn:
        return len(conn.execute(select(jobs.c.id).where(jobs.c.kind == "send_sms")).all())


def test_handlers_are_registered(runtime):
    assert set(handlers(runtime)) == {"outbound", "sms_status", "delivery_note"}
    from connector.pipeline import build_handlers

    assert {"outbound", "sms_status", "delivery_note"} <= set(build_handlers(runtime))


def test_only_public_agent_comments_since_the_ticket_began_are_texted(runtime):
    zd = runtime.helpdesk
    zd.comments = [
        comment(10, "my refund?", author_id=CUSTOMER, author=AUTHOR_CUSTOMER, api=True),
        comment(11, "old history", at=T0 - 3600),
        comment(12, "internal note", public=False),
        comment(13, "Logged by the connector", author_id=API_USER, author=AUTHOR_CONNECTOR,
                api=True),
        comment(14, "Refund issued today."),
        comment(15, "Admins reply too.", author_id=9),
        comment(16, "Posted by another integration", author_id=8, api=True),
    ]
    run(runtime)
    rows = texts(runtime)
    assert [(r["source_id"], r["body"]) for r in rows] == [
        ("14", "Refund issued today."), ("15", "Admins reply too.")]
    assert all(r["to_number"] == PHONE and r["from_number"] == NUMBER and r["ticket_id"] == TICKET
               and r["conversation_id"] == 1 and r["send_state"] == "intent" for r in rows)
    assert send_jobs(runtime) == 2
    assert zd.calls == ["list_comments"]  # one helpdesk call per job
    run(runtime)
    assert zd.calls == ["list_comments", "list_comments"]


def test_a_rerun_or_replay_queues_nothing_twice(runtime):
    runtime.helpdesk.comments = [comment(20, "First answer.")]
    run(runtime)
    run(runtime)
    runtime.helpdesk.comments.append(comment(21, "Second answer.", at=T0 + 120))
    run(runtime)
    assert [r["source_id"] for r in texts(runtime)] == ["20", "21"]
    assert send_jobs(runtime) == 2


def test_html_reply_is_rendered_signature_stripped_and_smart_encoded(runtime):
    html = ("<div class=\"zd-comment\"><p>We\u2019ve fixed it \u2014 try again\u2026</p>"
            "<p>Thanks,<br>Alex<br>Acme Support</p></div>")
    runtime.helpdesk.comments = [comment(30, "plain", html=html)]
    run(runtime)
    [row] = texts(runtime)
    assert row["body"] == "We've fixed it - try again..."


def test_a_long_reply_goes_as_numbered_parts_in_one_go(runtime):
    long = " ".join(f"Sentence number {i} explains one more step of the process." for i in
                    range(60))
    runtime.helpdesk.comments = [comment(40, long)]
    run(runtime)
    rows = texts(runtime)
    assert len(rows) >= 2
    assert [r["part"] for r in rows] == list(range(1, len(rows) + 1))
    assert all(r["body"].startswith(f"({r['part']}/{len(rows)}) ") for r in rows)
    assert all(len(r["body"]) <= 1600 for r in rows)


def test_opted_out_customer_gets_one_blocked_row_not_one_per_part(runtime):
    with runtime.engine.begin() as conn:
        record_opt_out(conn, PHONE, NUMBER, source="keyword")
    runtime.helpdesk.comments = [comment(50, "Long. " * 400)]
    run(runtime)
    [row] = texts(runtime)
    assert row["part"] == 1  # send_sms blocks it and notes the ticket once


def test_older_ticket_of_the_conversation_is_found_through_its_texts(runtime):
    with runtime.engine.begin() as conn:
        conn.execute(insert(messages).values(
            provider="twilio", provider_message_id="SM1", conversation_id=1, channel_key=NUMBER,
            from_number=PHONE, to_number=NUMBER, body="hi", media=[], raw={},
            received_at=T0 - 86400, state="delivered", ticket_id=400))
    runtime.helpdesk.comments = [comment(60, "Late answer on the old ticket.", at=T0 - 80000),
                                 comment(59, "before the customer wrote", at=T0 - 90000)]
    run(runtime, ticket_id=400)
    [row] = texts(runtime)
    assert row["source_id"] == "60" and row["ticket_id"] == 400


def test_ticket_without_a_conversation_sends_nothing(runtime):
    runtime.helpdesk.comments = [comment(70, "hello")]
    run(runtime, ticket_id=999)
    assert texts(runtime) == []
    assert runtime.helpdesk.calls == []


def test_messaging_service_channel_sends_through_the_service(runtime):
    with runtime.engine.begin() as conn:
        conn.execute(conversations.update().values(channel_key=SERVICE))
    runtime.helpdesk.comments = [comment(80, "Via the pool.")]
    run(runtime)
    [row] = texts(runtime)
    assert row["messaging_service_sid"] == SERVICE and row["from_number"] is None


def test_channel_removed_from_config_is_a_permanent_error(runtime):
    with runtime.engine.begin() as conn:
        conn.execute(conversations.update().values(channel_key="+19995550000"))
    with pytest.raises(PermanentError, match="channels"):
        run(runtime)


def test_unsendable_attachment_is_noted_once_and_the_text_still_goes(runtime):
    exe = Attachment(name="setup.exe", content_type="application/x-msdownload", size=10,
                     url="https://help.example.com/attachments/token/x/?name=setup.exe")
    runtime.helpdesk.comments = [comment(90, "See attached.", attachments=(exe,))]
    run(runtime)
    run(runtime)
    [row] = texts(runtime)
    assert row["body"] == "See attached." and row["media_urls"] == []
    [(ticket_id, note)] = runtime.helpdesk.notes
    assert ticket_id == TICKET and "setup.exe" in note and "application/x-msdownload" in note


def test_media_tokens_are_signed_and_expire(runtime):
    key = media_key(runtime)
    token = media_token(key, "abc123", 2_000_000_000)
    assert check_media_token(key, token, now=1_900_000_000) == ("ok", "abc123")
    assert check_media_token(key, token, now=2_000_000_001) == ("expired", "")
    assert check_media_token(b"other", token, now=1_900_000_000) == ("forged", "")
    forged = token.replace("2000000000", "2100000000")
    assert check_media_token(key, forged, now=1_900_000_000) == ("forged", "")
    assert check_media_token(key, "abc", now=0) == ("malformed", "")
    assert check_media_token(key, "a/b.1.x", now=0) == ("malformed", "")
    with runtime.engine.begin() as conn:  # expired copies are cleared by the next job
        conn.execute(insert(media_blobs).values(
            key="old", source="agent_reply", source_id="1", position=1, filename="a.png",
            content_type="image/png", content=b"x", expires_at=1.0, created_at=0.0))
    runtime.helpdesk.comments = [comment(95, "hi")]
    run(runtime)
    with reading(runtime.engine) as conn:
        assert conn.execute(select(media_blobs)).all() == []


def test_sendable_attachment_is_copied_and_texted_as_a_signed_link(runtime):
    png = Attachment(name="label.png", content_type="image/png", size=4,
                     url="https://help.example.com/attachments/token/y/?name=label.png")
    runtime.helpdesk.files[png.url] = (b"\x89PNG", "image/png")
    runtime.helpdesk.comments = [comment(97, "Your label.", attachments=(png,))]
    run(runtime)
    [row] = texts(runtime)
    assert row["body"] == "Your label."
    [url] = row["media_urls"]
    assert url.startswith("https://sms.example.com/media/")
    assert runtime.helpdesk.calls == ["list_comments", "download_attachment"]
    with reading(runtime.engine) as conn:
        [blob] = conn.execute(select(media_blobs)).mappings().all()
    assert (blob["filename"], blob["content"]) == ("label.png", b"\x89PNG")


def test_html_nested_past_the_parser_limit_is_texted_from_the_plain_body_and_noted_once(runtime):
    after = "Your refund of $20 was issued today, it shows in 3 days."
    html = ("<p>Hi Ana,</p>" + "<div>" * 300 + "<span>see below</span>" + "</div>" * 300
            + f"<p>{after}</p>")
    runtime.helpdesk.comments = [comment(100, f"Hi Ana,\nsee below\n{after}", html=html)]
    run(runtime)
    run(runtime)  # a retried job notes nothing twice
    [row] = texts(runtime)
    assert row["body"] == f"Hi Ana,\nsee below\n{after}"
    [(ticket_id, note)] = runtime.helpdesk.notes
    assert ticket_id == TICKET and "plain text was texted instead" in note


def test_a_reply_over_the_render_cap_is_cut_and_noted_once(runtime):
    runtime.helpdesk.comments = [comment(101, "Step by step. " * 5000)]
    run(runtime)
    rows = texts(runtime)
    assert rows[-1]["body"].endswith(TRUNCATED_NOTE)
    [(_, note)] = runtime.helpdesk.notes
    assert "only the start was texted" in note
    runtime.helpdesk.comments.append(comment(102, "Short and whole.", at=T0 + 120))
    run(runtime)
    assert len(runtime.helpdesk.notes) == 1


def _png(runtime, name: str, size: int, *, listed: bool = True) -> Attachment:
    attachment = Attachment(name=name, content_type="image/png", size=size if listed else None,
                            url=f"https://help.example.com/attachments/token/{name}")
    runtime.helpdesk.files[attachment.url] = (b"\x89PNG" + b"x" * (size - 4), "image/png")
    return attachment


def test_attachments_past_five_megabytes_in_total_are_noted_not_sent(runtime):
    mb = 1024 * 1024
    files = (_png(runtime, "a.png", 2 * mb), _png(runtime, "b.png", 2 * mb),
             _png(runtime, "c.png", 2 * mb),  # 6 MB with it: left out
             _png(runtime, "d.png", mb - 10, listed=False),  # 5 MB - 10 bytes: fits
             _png(runtime, "e.png", 100, listed=False))  # unlisted size, over once downloaded
    runtime.helpdesk.comments = [comment(110, "Photos.", attachments=files)]
    run(runtime)
    run(runtime)
    [row] = texts(runtime)
    assert len(row["media_urls"]) == 3
    with reading(runtime.engine) as conn:
        blobs = conn.execute(select(media_blobs.c.filename, media_blobs.c.content)
                             .order_by(media_blobs.c.position)).all()
    assert [name for name, _ in blobs] == ["a.png", "b.png", "d.png"]
    assert sum(len(content) for _, content in blobs) <= 5 * mb
    [(_, note)] = runtime.helpdesk.notes
    assert "c.png" in note and "e.png" in note and "5 MB" in note
    assert "a.png" not in note and "d.png" not in note


def test_attachments_past_ten_are_noted_not_sent(runtime):
    files = tuple(_png(runtime, f"{n}.png", 10) for n in range(1, 13))
    runtime.helpdesk.comments = [comment(111, "Many.", attachments=files)]
    run(runtime)
    [row] = texts(runtime)
    assert len(row["media_urls"]) == 10
    [(_, note)] = runtime.helpdesk.notes
    assert "11.png" in note and "12.png" in note and "10.png" not in note


def test_only_what_the_trigger_stands_for_is_texted_ui_and_email_replies(runtime):
    zd = runtime.helpdesk
    # A public comment by another integration (or a macro applied through the API): the trigger
    # does not fire for it, so no job comes now; the next UI reply's job must not text it late.
    zd.comments = [comment(120, "Your order shipped (from the shop system).", author_id=8,
                           api=True),
                   comment(121, "Macro text applied through the API.", api=True, at=T0 + 70)]
    run(runtime)
    assert texts(runtime) == []
    zd.comments.append(comment(122, "Replied in the agent interface.", at=T0 + 80))
    run(runtime)
    zd.comments.append(comment(123, "Replied by email.", at=T0 + 90))
    run(runtime)
    assert [(r["source_id"], r["body"]) for r in texts(runtime)] == [
        ("122", "Replied in the agent interface."), ("123", "Replied by email.")]


def test_a_merge_note_is_never_texted(runtime):
    runtime.helpdesk.comments = [
        comment(130, "Request #77 was closed and merged into this request.", merged=True),
        comment(131, "Merged them; here is the answer.", at=T0 + 90)]
    run(runtime)
    assert [r["source_id"] for r in texts(runtime)] == ["131"]
