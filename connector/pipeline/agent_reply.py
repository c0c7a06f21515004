"""The ``outbound`` job: an agent's public replies on an SMS ticket become texts, exactly once.

The helpdesk's rule (installed by ``policy apply``) only says "ticket N changed"; this job reads the
ticket's newest comments, authors classified by the adapter, in ONE call and picks the comments to
text:

- public (a private note never reaches the customer);
- written by an agent (``AUTHOR_AGENT``): not the customer's own texts, not a rule's, and not the
  connector's own writing (the adapter recognises its API user; the helpdesk's rule already skips
  the connector's updates, but a later reply's job sees every comment);
- written by a person, in the agent interface, by email or in the mobile app: exactly what the
  helpdesk's rule fires for. Not ``from_integration`` (any API client: another integration, a
  macro applied through the API), which the rule never fires for, so such a comment would
  otherwise be texted late, with the next UI reply; and never a merge's note (``merged``), which
  the rule excludes too;
- made after the conversation's ticket was created (an old ticket newly tagged ``sms`` does not
  text its history);
- not texted before: each part is recorded with ``queue_sms(source="agent_reply",
  source_id=<comment id>, part=n)``, unique in the store, so a replayed webhook, a retried job or
  two workers racing queue nothing twice.

Each reply is rendered by ``sms_text.render_comment`` (HTML → text, signature and quoted history
dropped, smart encoding, numbered parts over 1,600 characters) and every part of every picked
comment is queued in one transaction. HTML the parser cannot read whole (nested past libxml2's
256 levels, which silently drops the rest) is texted from the comment's plain body instead, and a
reply over the render cap is cut; either way the agent gets one private note per comment.
``send_sms`` (pipeline/send.py) then sends, reconciles and blocks opted-out numbers with a
private note.

Attachments: an SMS provider fetches each media URL itself, without credentials, and a
helpdesk's attachment URLs may need them. So the worker copies each attachment into the
connector's store and the text carries ``<public_url>/media/<token>``: HMAC-signed, expiring after
``server.media_url_ttl`` (connector/web/media.py serves it from the database, no outside call).
An attachment that cannot be sent (type, size, too many) is listed in one private note.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy import Connection, delete, func, select

from connector.config import ChannelSettings
from connector.errors import MediaUnavailable, PermanentError, TicketClosed
from connector.jobs.queue import Job
from connector.model import AUTHOR_AGENT, Attachment, Comment, iso_epoch
from connector.pipeline import conversation_events, outage
from connector.pipeline.media_links import MEDIA_PATH, media_key, media_token
from connector.pipeline.notes import PREFIX as NOTE_PREFIX
from connector.pipeline.outbox import queue_sms
from connector.store import conversations, insert_ignore, media_blobs, messages, outbound, reading
from connector.store.kv import kv_get, kv_set
from connector.store.optouts import is_opted_out
from connector.text.sms_text import MAX_RENDER_CHARS, Rendering, render_comment

if TYPE_CHECKING:
    from connector.ports import SmsProvider
    from connector.runtime import Runtime

log = logging.getLogger("sms_connector.outbound")

OUTBOUND_JOB = "outbound"
SOURCE = "agent_reply"
# The helpdesk's clock and ours: a reply is never older than its ticket, so this slack only
# matters for skew; it is far shorter than any history worth keeping out.
CLOCK_SKEW = 120.0


def handlers(runtime: Runtime) -> dict[str, Callable[[Job], None]]:
    """The jobs of the agent-reply flow, for ``connector.pipeline.build_handlers``."""
    from connector.pipeline.status import NOTE_JOB, STATUS_JOB, handle_note, handle_status

    return {
        OUTBOUND_JOB: partial(handle_outbound, runtime),
        STATUS_JOB: partial(handle_status, runtime),
        NOTE_JOB: partial(handle_note, runtime),
    }


# ---------------------------------------------------------------------- the job


@dataclass(frozen=True)
class Conversation:
    id: int
    phone: str
    channel: ChannelSettings
    cutoff: float  # comments older than this (minus skew) are history: never texted


@dataclass
class MediaCopy:
    """An attachment's bytes, copied for the text's media link."""

    filename: str
    content_type: str
    content: bytes


def knows_ticket(runtime: Runtime, ticket_id: int) -> bool:
    """Whether ``ticket_id`` is, or was, an SMS conversation's ticket (one indexed read each:
    the webhook route asks before queueing anything)."""
    with reading(runtime.engine) as conn:
        if conn.execute(select(conversations.c.id).where(
                conversations.c.helpdesk == runtime.settings.helpdesk.kind,
                conversations.c.ticket_id == ticket_id).limit(1)).first() is not None:
            return True
        if conn.execute(select(messages.c.id).where(
                messages.c.ticket_id == ticket_id).limit(1)).first() is not None:
            return True
        # An outage's problem / tracker ticket the connector filed: its updates are texted.
        return outage.is_problem(conn, runtime.settings.helpdesk.kind, ticket_id)


def find_conversation(runtime: Runtime, ticket_id: int) -> Conversation | None:
    """The conversation of ``ticket_id``: its current ticket, else an older one of its texts."""
    settings = runtime.settings
    with reading(runtime.engine) as conn:
        row = conn.execute(select(conversations).where(
            conversations.c.helpdesk == settings.helpdesk.kind,
            conversations.c.ticket_id == ticket_id)).mappings().first()
        cutoff: float | None
        if row is None:
            found = conn.execute(
                select(messages.c.conversation_id, func.min(messages.c.received_at))
                .where(messages.c.ticket_id == ticket_id, messages.c.conversation_id.is_not(None))
                .group_by(messages.c.conversation_id).limit(1)).first()
            if found is None:
                return None
            row = conn.execute(select(conversations).where(
                conversations.c.id == found[0])).mappings().one()
            cutoff = float(found[1])
        else:
            cutoff = row["ticket_created_at"]
            if cutoff is None:  # a ticket recorded without its creation time: its first text
                cutoff = conn.execute(select(func.min(messages.c.received_at))
                                      .where(messages.c.ticket_id == ticket_id)).scalar()
            if cutoff is None:
                cutoff = row["created_at"]
    channel = next((c for c in settings.channels if c.key == row["channel_key"]), None)
    if channel is None:
        raise PermanentError(f"conversation {row['id']}: no [[channels]] entry with key "
                             f"{row['channel_key']} any more; cannot choose a sender")
    return Conversation(int(row["id"]), row["customer_phone"], channel, float(cutoff or 0.0))


def handle_outbound(runtime: Runtime, job: Job) -> None:
    ticket_id = int(job.payload["ticket_id"])
    conversation = find_conversation(runtime, ticket_id)
    if conversation is None:
        if outage.on_problem_reply(runtime, ticket_id):
            return  # an outage's problem ticket: its update goes to every linked customer
        # Tagged sms by hand, or a ticket of another integration: not a conversation of ours.
        log.info("agent reply on a ticket with no SMS conversation; nothing sent",
                 extra={"ticket_id": ticket_id})
        return
    comments = runtime.helpdesk.list_comments(ticket_id)
    picked = pick_replies(comments, conversation.cutoff)
    if not picked:
        return
    with runtime.engine.begin() as conn:
        # A public agent reply is the first response: no escalation for it; the ledger and the
        # escalation rules hear of it.
        conversation_events.agent_replied(runtime, conn, ticket_id=ticket_id,
                                          conversation_id=conversation.id, comments=picked)
    with reading(runtime.engine) as conn:
        done = set(conn.execute(select(outbound.c.source_id).where(
            outbound.c.source == SOURCE,
            outbound.c.source_id.in_([str(c.id) for c in picked]))).scalars())
        opted_out = is_opted_out(conn, conversation.phone, conversation.channel.key)
    todo = [c for c in picked if str(c.id) not in done]
    if not todo:
        return
    sms = runtime.sms(conversation.channel.provider)
    plans = [(c, *_prepare(runtime, ticket_id, c, sms, skip_media=opted_out)) for c in todo]
    now = time.time()
    queued = 0
    with runtime.engine.begin() as conn:
        conn.execute(delete(media_blobs).where(media_blobs.c.expires_at < now))
        for comment, bodies, attachments in plans:
            queued += _queue_comment(runtime, conn, conversation, ticket_id, comment, bodies,
                                     attachments, opted_out=opted_out, now=now)
    if queued:
        runtime.notify()
    log.info("agent replies queued as texts", extra={
        "ticket_id": ticket_id, "comments": len(plans), "texts": queued})


def pick_replies(comments: list[Comment], cutoff: float) -> list[Comment]:
    """Public agent comments made since ``cutoff`` by a person (not through an API, not by a
    merge), oldest first."""
    picked: list[Comment] = []
    for comment in reversed(comments):  # the list is newest first
        if not comment.public or comment.author != AUTHOR_AGENT:
            continue
        if comment.from_integration or comment.merged:
            continue
        created = iso_epoch(comment.created_at)
        if created is None or created < cutoff - CLOCK_SKEW:
            continue
        picked.append(comment)
    return picked


def _prepare(runtime: Runtime, ticket_id: int, comment: Comment, sms: SmsProvider,
             *, skip_media: bool) -> tuple[list[str], list[MediaCopy]]:
    """The bodies to send and the attachments copied; unsendable attachments are noted, and so is
    a reply that could not be texted as written."""
    rendering = render_comment(comment.body, comment.html_body)
    bodies = rendering.bodies
    if rendering.html_lost or rendering.truncated:
        _note_rendering(runtime, ticket_id, comment.id, rendering)
    attachments: list[MediaCopy] = []
    if skip_media or not comment.attachments:
        return bodies, attachments
    problems: list[str] = []
    # What one text may carry is the provider's (SmsProvider.max_media_per_text / _bytes_):
    # past either it refuses or fails the whole message, so the rest is listed for the agent.
    room = sms.max_media_bytes_per_text
    for index, attachment in enumerate(comment.attachments):
        name = attachment.name or f"attachment {index + 1}"
        if len(attachments) >= sms.max_media_per_text:
            problems.append(f"{name}: a text carries at most {sms.max_media_per_text} "
                            "attachments")
            continue
        try:
            copy = _download(runtime, attachment, name, sms, room=room)
            attachments.append(copy)
            room -= len(copy.content)
        except MediaUnavailable as exc:
            if exc.retryable:
                raise
            problems.append(f"{name}: {exc}")
    if problems:
        _note_media_problems(runtime, ticket_id, comment.id, problems)
    return bodies, attachments


def _download(runtime: Runtime, attachment: Attachment, name: str,
              sms: SmsProvider, *, room: int) -> MediaCopy:
    """Copy one helpdesk attachment, within what ``sms`` can send by MMS and the ``room`` left in
    the text's media total (the adapter keeps its credentials to its own host)."""
    content_type = (attachment.content_type or "").split(";")[0].strip().lower()
    allowed = {t.lower() for t in sms.media_content_types}
    if content_type not in allowed:
        raise MediaUnavailable(f"type {content_type or 'unknown'} cannot be sent by MMS",
                               reason="content_type")
    size = attachment.size
    if size is not None and size > sms.media_max_bytes:
        raise MediaUnavailable(f"{size} bytes is over the {sms.media_max_bytes} byte limit",
                               reason="too_large")
    if size is not None and size > room:
        raise _over_total(size, room, sms.max_media_bytes_per_text)
    if urlsplit(attachment.url).scheme not in ("http", "https"):
        raise MediaUnavailable("no content URL", reason="no_url")
    content, content_type = runtime.helpdesk.download_attachment(
        attachment, max_bytes=sms.media_max_bytes, allowed_types=sms.media_content_types)
    if len(content) > room:  # a size the helpdesk did not list, or listed wrong
        raise _over_total(len(content), room, sms.max_media_bytes_per_text)
    return MediaCopy(name, content_type, content)


def _over_total(size: int, room: int, limit: int) -> MediaUnavailable:
    total = limit - room + size
    return MediaUnavailable(
        f"with its {size} bytes the text's attachments would total {total} bytes, over the "
        f"{limit} bytes ({limit / (1024 * 1024):g} MB) one MMS carries",
        reason="too_large_total")


def _note_media_problems(runtime: Runtime, ticket_id: int, comment_id: int,
                         problems: list[str]) -> None:
    _note_once(runtime, ticket_id, f"media-note:{comment_id}",
               "Some attachments of your reply were not texted:\n"
               + "\n".join(f"- {p}" for p in problems)
               + "\nThe text itself goes out; share the file another way if the customer "
               "needs it.")


def _note_rendering(runtime: Runtime, ticket_id: int, comment_id: int,
                    rendering: Rendering) -> None:
    """Tell the agent, once per comment, that the texts do not carry the reply as written."""
    problems = []
    if rendering.html_lost:
        problems.append("its formatting could not be read whole (nested too deeply, say), so "
                        "its plain text was texted instead: check that nothing is missing")
    if rendering.truncated:
        problems.append(f"it is longer than {MAX_RENDER_CHARS:,} characters: only the start "
                        "was texted")
    _note_once(runtime, ticket_id, f"render-note:{comment_id}",
               "Your reply was not texted exactly as written:\n"
               + "\n".join(f"- {p}" for p in problems))


def _note_once(runtime: Runtime, ticket_id: int, key: str, text: str) -> None:
    """One private note per ``key``: a retried or replayed job does not repeat it."""
    with reading(runtime.engine) as conn:
        if kv_get(conn, key) is not None:
            return
    try:
        runtime.helpdesk.add_private_note(ticket_id, f"{NOTE_PREFIX} {text}")
    except TicketClosed:
        return
    with runtime.engine.begin() as conn:
        kv_set(conn, key, "noted")


def _queue_comment(runtime: Runtime, conn: Connection, conversation: Conversation,
                   ticket_id: int, comment: Comment, bodies: list[str],
                   attachments: list[MediaCopy], *, opted_out: bool, now: float) -> int:
    media_urls = _store_media(runtime, conn, comment.id, attachments, now)
    if not bodies and media_urls:
        bodies = [""]  # an attachment-only reply: a media message needs no body
    if not bodies:
        log.info("agent reply renders to nothing (signature / quote only); not texted",
                 extra={"ticket_id": ticket_id, "comment_id": comment.id})
        return 0
    if opted_out:
        # One row is enough: send_sms blocks it and tells the agent once.
        bodies = bodies[:1]
    queued = 0
    for part, body in enumerate(bodies, start=1):
        outbound_id = queue_sms(
            conn, source=SOURCE, source_id=str(comment.id), part=part,
            to_number=conversation.phone, body=body, channel=conversation.channel,
            conversation_id=conversation.id, ticket_id=ticket_id,
            media_urls=media_urls if part == 1 else (),
            max_attempts=runtime.settings.queue.max_attempts, now=now,
        )
        queued += outbound_id is not None
    return queued


def _store_media(runtime: Runtime, conn: Connection, comment_id: int,
                 attachments: list[MediaCopy], now: float) -> list[str]:
    if not attachments:
        return []
    key = media_key(runtime)
    expires = int(now + runtime.settings.server.media_url_ttl)
    urls = []
    for position, attachment in enumerate(attachments, start=1):
        insert_ignore(conn, media_blobs, {
            "key": secrets.token_hex(16), "source": SOURCE, "source_id": str(comment_id),
            "position": position, "filename": attachment.filename[:255],
            "content_type": attachment.content_type, "content": attachment.content,
            "expires_at": float(expires), "created_at": now,
        })
        blob_key = conn.execute(select(media_blobs.c.key).where(
            media_blobs.c.source == SOURCE, media_blobs.c.source_id == str(comment_id),
            media_blobs.c.position == position)).scalar_one()
        urls.append(runtime.public_url(MEDIA_PATH + media_token(key, blob_key, expires)))
    return urls
