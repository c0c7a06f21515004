"""The ``inbound`` job: a conversation's pending texts reach the helpdesk, exactly once.

One job per conversation at a time (the queue's conversation key), so texts reach the ticket in the
order the customer sent them, and every text pending when the job runs goes into ONE helpdesk
write: a burst of five texts is one update, not five (helpdesks count updates per ticket, in a few
dozen per ten minutes).

Exactly once: the write is recorded on the conversation (``inflight``: the operation's key, when it
was first tried, what it writes) before the call. A retry that finds it asks the helpdesk adapter to
settle it first (``resume_create`` / ``resume_update``): the adapter knows how its helpdesk finds
an earlier attempt whose answer was lost. Nothing found means nothing was written, and the write is
made again.

Threading: the conversation's ticket from the store. A solved ticket is reopened within
``threading.reopen_within``; after that, or once closed, a new ticket follows the old one (the
adapter links them the way its helpdesk can); a ticket deleted in the helpdesk (TicketGone) is
forgotten and the texts go to a new ticket. Every update names the ticket version last seen, so
an update that raced an agent is refused (StaleUpdate): the ticket is read again and the decision
made again.

Opt-out keywords take effect before any helpdesk call, so a STOP holds even while the helpdesk is
down; the text itself still reaches the ticket.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, update

from connector.config import ChannelSettings
from connector.errors import (
    MediaUnavailable,
    PermanentError,
    StaleUpdate,
    TicketClosed,
    TicketGone,
)
from connector.jobs.queue import Job, enqueue
from connector.jobs.worker import Reschedule
from connector.model import (
    KEYWORD_HELP,
    KEYWORD_START,
    KEYWORD_STOP,
    TICKET_CLOSED,
    TICKET_SOLVED,
    TICKET_UNKNOWN,
    NewTicket,
    Ticket,
    TicketUpdate,
    Triage,
    iso_epoch,
)
from connector.pipeline import conversation_events, guards, outage
from connector.pipeline.escalation import disarm
from connector.pipeline.outbox import queue_sms
from connector.pipeline.receive import conversation_key
from connector.store import (
    conversations,
    helpdesk_users,
    insert_ignore,
    messages,
    outbound,
    reading,
)
from connector.store.optouts import clear_opt_out, is_opted_out, record_opt_out
from connector.text.compliance import keyword_of
from connector.text.phones import mask_phone, normalize_phone
from connector.text.triage import triage

if TYPE_CHECKING:
    from connector.runtime import Runtime

log = logging.getLogger("sms_connector.inbound")

OPTED_OUT_TAG = "sms_opted_out"
MAX_ROUNDS = 3  # 409 / 422 make the job decide again; never loop forever inside one job


def handle_inbound(runtime: Runtime, job: Job) -> None:
    if "message_id" in job.payload:  # a held text, retried by an admin after fixing channels
        conversation_id = _adopt_held(runtime, int(job.payload["message_id"]))
    else:
        conversation_id = int(job.payload["conversation_id"])
    InboundRun(runtime, conversation_id, yield_after_ack=True).run()


def _adopt_held(runtime: Runtime, message_id: int) -> int:
    with runtime.engine.begin() as conn:
        row = conn.execute(select(messages).where(messages.c.id == message_id)).mappings().one()
        if row["conversation_id"]:
            return int(row["conversation_id"])
        # A held text keeps the sender pool its provider named in channel_key (receive.py).
        channel = runtime.settings.channel_for(messaging_service_sid=row["channel_key"],
                                              to_number=row["to_number"])
        if channel is None or channel.provider != row["provider"]:
            raise PermanentError(f"still no [[channels]] entry of provider {row['provider']} "
                                 f"for To={row['to_number']}")
        try:
            phone = normalize_phone(row["from_number"])
        except ValueError as exc:
            raise PermanentError(f"the sender {row['from_number']!r} is not a phone number: "
                                 f"{exc}") from None
        now = runtime.clock.now()
        insert_ignore(conn, conversations, {
            "customer_phone": phone, "channel_key": channel.key,
            "helpdesk": runtime.settings.helpdesk.kind, "created_at": now, "updated_at": now})
        conversation_id = conn.execute(
            select(conversations.c.id).where(conversations.c.customer_phone == phone,
                                             conversations.c.channel_key == channel.key)
        ).scalar_one()
        conn.execute(update(messages).where(messages.c.id == message_id)
                     .values(conversation_id=conversation_id, channel_key=channel.key,
                             from_number=phone, state="pending"))
        # Run behind any job already queued for this conversation, in order.
        enqueue(conn, "inbound", {"conversation_id": conversation_id},
                conversation_key=conversation_key(conversation_id), coalesce=True)
    return int(conversation_id)


def compose(texts: Sequence[str], notes: Sequence[str] = ()) -> str:
    """Each text its own paragraph, in the order sent; notes about media after them."""
    paragraphs = [t.strip() for t in texts if t and t.strip()]
    paragraphs.extend(notes)
    return "\n\n".join(paragraphs) or "(empty text)"


def _ticket_state(ticket: Ticket) -> dict[str, Any]:
    """What the conversation remembers of its ticket after a helpdesk answer. An answer that
    does not carry the ticket's state (a note on a helpdesk without versions: UNKNOWN) leaves
    the remembered state, which that helpdesk's status deliveries keep (``EVENT_STATE``), as it
    was."""
    if ticket.state == TICKET_UNKNOWN:
        return {"ticket_updated_stamp": ticket.version} if ticket.version else {}
    solved = ticket.state == TICKET_SOLVED
    return {"ticket_status": ticket.state, "ticket_updated_stamp": ticket.version,
            "solved_at": iso_epoch(ticket.updated_at) if solved else None}


def new_ticket(inflight: dict[str, Any]) -> NewTicket:
    """The creation an ``inflight`` record stands for, the same on every retry."""
    follows = inflight.get("follows", inflight.get("followup_of"))
    # Records written before states were named carried only the closed ticket they followed.
    state = inflight.get("follows_state", TICKET_CLOSED if follows else None)
    return NewTicket(
        requester_id=int(inflight["requester_id"]), subject=inflight["subject"],
        body=inflight["body"], key=inflight["key"], attempted_at=float(inflight["at"]),
        priority=inflight["priority"], tags=tuple(inflight["tags"]),
        uploads=tuple(inflight["uploads"]), follows=follows, follows_state=state,
        # Records written before groups were carried name none.
        group=inflight.get("group"))


def ticket_update(inflight: dict[str, Any]) -> TicketUpdate:
    """The update an ``inflight`` record stands for, the same on every retry."""
    reopen = inflight.get("reopen", inflight.get("status") is not None)
    return TicketUpdate(
        body=inflight["body"], author_id=inflight["requester_id"],
        uploads=tuple(inflight["uploads"]), reopen=bool(reopen),
        add_tags=tuple(inflight["add_tags"]), remove_tags=tuple(inflight["remove_tags"]),
        expected_version=inflight["stamp"])


class InboundRun:
    def __init__(self, runtime: Runtime, conversation_id: int, *,
                 yield_after_ack: bool = False) -> None:
        """``yield_after_ack``: as a queue job, step aside once a new acknowledgement is queued
        (``Reschedule(0)``, no attempt used), so a worker sends it before this job's helpdesk
        calls; the job then runs again and finds the ack already queued."""
        self.yield_after_ack = yield_after_ack
        self.runtime = runtime
        self.settings = runtime.settings
        self.engine = runtime.engine
        self.conversation_id = conversation_id
        self.helpdesk = runtime.helpdesk
        # The runtime's clock: reopen windows and attempt ages are judged on the same clock
        # the scheduler uses, so a test can move it instead of sleeping.
        self.now = runtime.clock.now

    # -- store helpers ---------------------------------------------------------------------------

    def _conversation(self, conn: Connection) -> dict[str, Any]:
        row = conn.execute(select(conversations).where(
            conversations.c.id == self.conversation_id)).mappings().one()
        return dict(row)

    def _save(self, conn: Connection, **values: Any) -> None:
        conn.execute(update(conversations).where(conversations.c.id == self.conversation_id)
                     .values(updated_at=self.now(), **values))

    def _pending(self, conn: Connection) -> list[dict[str, Any]]:
        rows = conn.execute(
            select(messages).where(messages.c.conversation_id == self.conversation_id,
                                   messages.c.state == "pending").order_by(messages.c.id)
        ).mappings()
        return [dict(r) for r in rows]

    def _delivered(self, conn: Connection, message_ids: Sequence[int], ticket_id: int) -> None:
        conn.execute(update(messages).where(messages.c.id.in_(list(message_ids)))
                     .values(state="delivered", ticket_id=ticket_id, delivered_at=self.now()))

    # -- the job ---------------------------------------------------------------------------------

    def run(self) -> None:
        for _ in range(MAX_ROUNDS):
            # Reads take no write lock: on SQLite a webhook never waits for this look.
            with reading(self.engine) as conn:
                conv = self._conversation(conn)
                pending = [] if conv["inflight"] else self._pending(conn)
            if conv["inflight"]:
                # Settle the earlier attempt first, then look again at what is still pending.
                self._finish_inflight(conv, conv["inflight"])
                continue
            if not pending:
                return
            keywords = {m["id"]: k for m in pending if not m["keyword"]
                        and (k := self._keyword(m)) is not None}
            if keywords:
                with self.engine.begin() as conn:
                    self._keywords(conn, conv, pending, keywords)
                    conv = self._conversation(conn)
            if not self._deliver(conv, pending):
                continue
            return
        raise PermanentError("the ticket kept changing under the connector (409/422 loop)")

    def _keyword(self, message: dict[str, Any]) -> str | None:
        """What the provider's own fields say (its opt-out handling), else the words."""
        sms = self.runtime.sms(message["provider"])
        return sms.keyword_hint(message["raw"] or {}) or keyword_of(message["body"])

    def _keywords(self, conn: Connection, conv: dict[str, Any],
                  pending: list[dict[str, Any]], keywords: dict[int, str]) -> None:
        """Record STOP / START first, and (connector mode) queue the one confirmation / HELP."""
        phone, channel_key = conv["customer_phone"], conv["channel_key"]
        channel = self._channel(channel_key)
        # The provider answers STOP / HELP itself unless told not to (then the connector does).
        connector_mode = not self.runtime.sms(channel.provider).answers_keywords
        for message in pending:
            keyword = keywords.get(message["id"])
            if keyword is None:
                continue
            conn.execute(update(messages).where(messages.c.id == message["id"])
                         .values(keyword=keyword))
            message["keyword"] = keyword
            reply = None
            if keyword == KEYWORD_STOP:
                record_opt_out(conn, phone, channel_key, source="keyword")
                if connector_mode:
                    reply = ("stop_confirmation", self.runtime.policy.render_stop_confirmation())
            elif keyword == KEYWORD_START:
                clear_opt_out(conn, phone, channel_key)
            elif (keyword == KEYWORD_HELP and connector_mode
                  and not is_opted_out(conn, phone, channel_key)):
                reply = ("help", self.runtime.policy.render_help())
            if reply is not None:
                queue_sms(conn, source=reply[0], source_id=message["provider_message_id"],
                          to_number=phone, body=reply[1], channel=channel,
                          conversation_id=self.conversation_id, ticket_id=conv["ticket_id"])
        log.info("keywords handled", extra={"conversation": self.conversation_id})

    def _channel(self, channel_key: str) -> ChannelSettings:
        channel = self.runtime.channel(channel_key)
        if channel is None:
            raise PermanentError(f"conversation {self.conversation_id}: no [[channels]] entry "
                                 f"with key {channel_key} any more")
        return channel

    # -- deciding and writing ----------------------------------------------------------------------

    def _deliver(self, conv: dict[str, Any], pending: list[dict[str, Any]]) -> bool:
        """Write the pending texts; False when the ticket changed: decide again."""
        ticket_id = conv["ticket_id"]
        status = conv["ticket_status"]
        now = self.now()
        tag_changes = self._tag_changes(pending)
        if ticket_id and status == TICKET_CLOSED:
            return self._create(conv, pending, follows=(ticket_id, TICKET_CLOSED))
        if ticket_id and status == TICKET_SOLVED:
            solved_at = conv["solved_at"] or now
            if now - solved_at <= self.settings.threading.reopen_within:
                return self._update(conv, pending, reopen=True, tags=tag_changes)
            return self._create(conv, pending, follows=(ticket_id, TICKET_SOLVED))
        if ticket_id:
            return self._update(conv, pending, reopen=False, tags=tag_changes)
        return self._create(conv, pending, follows=None)

    @staticmethod
    def _tag_changes(pending: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
        last = None
        for message in pending:
            if message["keyword"] in (KEYWORD_STOP, KEYWORD_START):
                last = message["keyword"]
        if last == KEYWORD_STOP:
            return [OPTED_OUT_TAG], []
        if last == KEYWORD_START:
            return [], [OPTED_OUT_TAG]
        return [], []

    def _media(self, pending: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
        """Fetch every attachment and upload it; what cannot be had becomes a note."""
        tokens: list[str] = []
        notes: list[str] = []
        for message in pending:
            sms = self.runtime.sms(message["provider"])
            for index, media in enumerate(message["media"] or []):
                label = f"Attachment {index + 1} ({media.get('content_type') or 'unknown type'})"
                try:
                    content, content_type = sms.fetch_media(
                        media["url"], max_bytes=sms.media_max_bytes,
                        allowed_types=sms.media_content_types)
                except MediaUnavailable as exc:
                    notes.append(f"[{label} could not be attached: {exc.reason}. "
                                 f"The text above arrived in full.]")
                    continue
                extension = content_type.split("/")[-1].split(";")[0] or "bin"
                filename = f"sms-{message['provider_message_id']}-{index + 1}.{extension}"
                tokens.append(self.helpdesk.upload(filename, content, content_type))
        return tokens, notes

    def _requester(self, phone: str) -> int:
        """The helpdesk's person for this number: asked once, then kept in the store (asking
        again would overwrite a name an agent gave them)."""
        key = f"sms:{phone}"
        helpdesk = self.settings.helpdesk.kind
        cache = helpdesk_users.c
        with self.engine.begin() as conn:
            cached = conn.execute(select(cache.user_id).where(
                cache.helpdesk == helpdesk, cache.external_id == key)).scalar()
        if cached is not None:
            return int(cached)
        user = self.helpdesk.ensure_requester(phone, name=f"SMS {phone}")
        with self.engine.begin() as conn:
            insert_ignore(conn, helpdesk_users, {"helpdesk": helpdesk, "external_id": key,
                                                 "user_id": user.id, "updated_at": self.now()})
        return int(user.id)

    def _create(self, conv: dict[str, Any], pending: list[dict[str, Any]],
                follows: tuple[int, str] | None) -> bool:
        """A new ticket; ``follows`` is the earlier ticket (id, state) it continues."""
        phone = conv["customer_phone"]
        texts = [m["body"] for m in pending]
        plain = [m["body"] for m in pending if not m["keyword"]]
        result: Triage = triage(" ".join(plain) or " ".join(texts), self.runtime.policy)
        opted_in_keyword = any(m["keyword"] for m in pending[:1])
        ack = None
        told: int | None = None  # the open outage whose text the ack is
        with self.engine.begin() as conn:
            opted_out = is_opted_out(conn, phone, conv["channel_key"])
        if not opted_out and not opted_in_keyword:
            # After business hours the ack promises the next opening, not minutes.
            at = datetime.fromtimestamp(self.now(), UTC)
            ack = self.runtime.policy.render_ack(result.category, at)
            # An outage report while many customers' outage is open hears of that outage.
            if (outage_ack := outage.ack_for(self.runtime, result)) is not None:
                ack, told = outage_ack
        # The acknowledgement goes first, before any helpdesk call: the customer hears back in
        # seconds even while the helpdesk is slow, rate-limited or down. Its id is the first
        # pending text's, so a retried job (or a creation started over) queues it once.
        ack_id = f"{self.conversation_id}:ack:{pending[0]['id']}"
        held: str | None = None  # why the guards held the ack back (connector/pipeline/guards.py)
        if ack:
            with self.engine.begin() as conn:
                earlier = conn.execute(select(outbound.c.send_state, outbound.c.error_code).where(
                    outbound.c.source == "ack", outbound.c.source_id == ack_id)).first()
                if earlier is not None:  # a retried job: the first run decided
                    held = earlier.error_code if earlier.send_state == "suppressed" else None
                else:
                    held = guards.hold_back(conn, self.settings.escalation, phone, self.now())
                queued = queue_sms(conn, source="ack", source_id=ack_id, to_number=phone,
                                   body=ack, channel=self._channel(conv["channel_key"]),
                                   conversation_id=self.conversation_id, suppressed=held)
            self.runtime.notify()
            if queued is not None and self.yield_after_ack:
                raise Reschedule(0.0)
        requester_id = self._requester(phone)
        uploads, notes = self._media(pending)
        tags = list(result.tags)
        add, _remove = self._tag_changes(pending)
        tags.extend(t for t in add if t not in tags)
        if held == guards.FLOOD and guards.FLOOD_TAG not in tags:
            tags.append(guards.FLOOD_TAG)
        body = compose(texts, notes)
        if ack and held:
            why = ("the number is flooding us" if held == guards.FLOOD
                   else "an automated text went to this customer moments ago")
            body += f"\n\n— No auto-reply texted ({why})."
        elif ack:
            # What the customer was told, where the agent reads first: no extra API call.
            body += f"\n\n— Auto-reply texted to the customer: \u201c{ack}\u201d"
        key = uuid.uuid4().hex
        snippet = " ".join((plain or texts or ["(media)"])[0].split())[:60]
        inflight = {
            "op": "create", "key": key, "at": self.now(),
            "message_ids": [m["id"] for m in pending],
            "requester_id": requester_id,
            "subject": f"SMS from {phone}: {snippet}" if snippet else f"SMS from {phone}",
            "body": body, "uploads": uploads, "priority": result.priority, "tags": tags,
            "follows": follows[0] if follows else None,
            "follows_state": follows[1] if follows else None,
            "category": result.category, "tier": result.tier, "group": result.group,
            "ack_id": ack_id if ack else None,
        }
        with self.engine.begin() as conn:
            self._save(conn, inflight=inflight, requester_id=requester_id,
                       category=result.category, tier=result.tier)
            # Counted toward an outage once the ticket exists (runs after this job).
            outage.queue_report(self.runtime, conn, result, conversation_id=self.conversation_id,
                                message_id=pending[0]["id"], told=told)
        self.runtime.notify()
        return self._send_create(inflight)

    def _send_create(self, inflight: dict[str, Any]) -> bool:
        ticket, replayed = self.helpdesk.create_ticket(new_ticket(inflight))
        self._created(inflight, ticket)
        log.info("ticket created", extra={"conversation": self.conversation_id,
                                          "ticket_id": ticket.id, "replayed": replayed,
                                          "category": inflight["category"]})
        return True

    def _created(self, inflight: dict[str, Any], ticket: Ticket) -> None:
        ticket_id = ticket.id
        with self.engine.begin() as conn:
            self._delivered(conn, inflight["message_ids"], ticket_id)
            self._save(conn, inflight=None, ticket_id=ticket_id, ticket_status=ticket.state,
                       ticket_updated_stamp=ticket.version, ticket_created_at=inflight["at"],
                       solved_at=None, followup_source_id=new_ticket(inflight).follows)
            # The ledger row and the timers are set with the ticket, so a crash cannot leave a
            # ticket the connector watches without them.
            conversation_events.ticket_opened(
                self.runtime, conn, ticket_id=ticket_id, conversation_id=self.conversation_id,
                scenario_id=inflight.get("category"), tier=inflight.get("tier"),
                message_ids=inflight["message_ids"], created_at=float(inflight["at"]))
            # The acknowledgement was queued before the ticket existed; tie it to it now so a
            # delivery failure can be noted on the ticket (records written before the ack went
            # first named it by the creation's key).
            from connector.pipeline.status import FAILED, NOTE_JOB

            ack_id = inflight.get("ack_id") or f"{self.conversation_id}:{inflight['key']}"
            mine = (outbound.c.source == "ack") & (outbound.c.source_id == ack_id)
            conn.execute(update(outbound).where(mine).values(ticket_id=ticket_id))
            # Its failure may have been reported before there was a ticket to note it on.
            for row in conn.execute(select(outbound.c.id).where(
                    mine, outbound.c.status.in_(FAILED), outbound.c.noted.is_(False))):
                enqueue(conn, NOTE_JOB, {"outbound_id": row.id},
                        conversation_key=f"ticket:{ticket_id}:notes")

    def _update(self, conv: dict[str, Any], pending: list[dict[str, Any]], *, reopen: bool,
                tags: tuple[list[str], list[str]]) -> bool:
        uploads, notes = self._media(pending)
        with reading(self.engine) as conn:
            if guards.flooding(conn, self.settings.escalation, conv["customer_phone"],
                               self.now()) and guards.FLOOD_TAG not in tags[0]:
                tags = ([*tags[0], guards.FLOOD_TAG], tags[1])
        inflight = {
            "op": "update", "key": uuid.uuid4().hex, "at": self.now(),
            "ticket_id": conv["ticket_id"], "message_ids": [m["id"] for m in pending],
            "body": compose([m["body"] for m in pending], notes), "uploads": uploads,
            "reopen": reopen, "add_tags": tags[0], "remove_tags": tags[1],
            "requester_id": conv["requester_id"], "stamp": conv["ticket_updated_stamp"],
        }
        with self.engine.begin() as conn:
            self._save(conn, inflight=inflight)
        return self._send_update(conv, inflight)

    def _send_update(self, conv: dict[str, Any], inflight: dict[str, Any]) -> bool:
        change = ticket_update(inflight)
        try:
            ticket = self.helpdesk.update(inflight["ticket_id"], change)
        except StaleUpdate:
            # Someone (an agent) changed the ticket since we last saw it: nothing was written.
            try:
                fresh = self.helpdesk.get_ticket(inflight["ticket_id"])
            except TicketGone:  # and deleted since
                self._forget_ticket(inflight["ticket_id"])
                return False
            with self.engine.begin() as conn:
                self._save(conn, inflight=None, **_ticket_state(fresh))
            return False
        except TicketClosed:
            with self.engine.begin() as conn:
                self._save(conn, inflight=None, ticket_status=TICKET_CLOSED)
                disarm(conn, inflight["ticket_id"])  # closed: nothing left to escalate
            return False
        except TicketGone:
            self._forget_ticket(inflight["ticket_id"])
            return False
        with self.engine.begin() as conn:
            self._delivered(conn, inflight["message_ids"], inflight["ticket_id"])
            self._wrote(conn, conv, inflight, ticket)
            self._save(conn, inflight=None, **_ticket_state(ticket))
        if ticket.state == TICKET_SOLVED and not change.reopen:
            # Solved so close to our last write that its version did not change (a helpdesk
            # whose versions are whole seconds cannot tell): it was solved just now, well
            # inside reopen_within.
            ticket = self.helpdesk.update(inflight["ticket_id"], TicketUpdate(reopen=True))
            with self.engine.begin() as conn:
                self._save(conn, **_ticket_state(ticket))
        log.info("texts added to ticket", extra={"conversation": self.conversation_id,
                                                 "ticket_id": inflight["ticket_id"],
                                                 "texts": len(inflight["message_ids"])})
        return True

    def _wrote(self, conn: Connection, conv: dict[str, Any], inflight: dict[str, Any],
               ticket: Ticket) -> None:
        """The ledger and the rules hear of texts added to an open ticket (and of a reopening)."""
        ticket_id = int(inflight["ticket_id"])
        if inflight.get("reopen") and conv.get("ticket_status") in (TICKET_SOLVED,
                                                                    TICKET_CLOSED):
            conversation_events.ticket_changed(self.runtime, conn, ticket_id=ticket_id,
                                               state=ticket.state,
                                               previous=conv.get("ticket_status"),
                                               at=self.now())
        conversation_events.customer_wrote(self.runtime, conn, ticket_id=ticket_id,
                                           conversation_id=self.conversation_id,
                                           message_ids=inflight["message_ids"])

    def _forget_ticket(self, ticket_id: int) -> None:
        """The ticket was deleted in the helpdesk: nothing was written to it, so the pending
        texts stay pending and the next round files them on a new ticket; the conversation (its
        customer, channel and opt-out) goes on."""
        with self.engine.begin() as conn:
            self._save(conn, inflight=None, ticket_id=None, ticket_status=None,
                       ticket_updated_stamp=None, solved_at=None, followup_source_id=None)
        log.warning("ticket no longer exists in the helpdesk; the texts go to a new ticket",
                    extra={"conversation": self.conversation_id, "ticket_id": ticket_id})

    # -- reconciling an earlier attempt ------------------------------------------------------------

    def _finish_inflight(self, conv: dict[str, Any], inflight: dict[str, Any]) -> bool:
        """Settle a write whose outcome is unknown; True when it is now done."""
        if inflight["op"] == "create":
            ticket = self.helpdesk.resume_create(new_ticket(inflight))
            if ticket is not None:
                self._created(inflight, ticket)
                log.info("earlier ticket creation settled", extra={
                    "conversation": self.conversation_id, "ticket_id": ticket.id})
                return True
            with self.engine.begin() as conn:  # never created: start over with a fresh key
                self._save(conn, inflight=None)
            log.warning("earlier ticket creation never landed; creating again",
                        extra={"conversation": self.conversation_id,
                               "phone": mask_phone(conv["customer_phone"])})
            return False
        try:
            landed = self.helpdesk.resume_update(inflight["ticket_id"], ticket_update(inflight))
        except TicketGone:
            self._forget_ticket(inflight["ticket_id"])
            return False
        if landed is None:
            return self._send_update(conv, inflight)
        with self.engine.begin() as conn:
            self._delivered(conn, inflight["message_ids"], inflight["ticket_id"])
            self._wrote(conn, conv, inflight, landed)
            self._save(conn, inflight=None, **_ticket_state(landed))
        return True
