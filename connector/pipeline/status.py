"""Delivery status: the provider's status callbacks move an outbound text's status forward only, and
a text that failed or went undelivered becomes ONE private note on its ticket.

Callbacks repeat and arrive out of order (../shared/docs/reference/sms.md), so a status is written
only when it ranks above the stored one (the provider adapter's ``status_rank``); the note job is
queued in the same transaction as the status that calls for it, and ``note_once`` keeps it to one
note per text however often ``undelivered`` is repeated.

A callback can overtake the send's own answer: a provider may call back as soon as the message is
queued, sometimes before ``send_sms`` has stored the ``MessageSid``. Such a receipt (genuine: it was
signed) for a number with a text in flight is parked as a ``sms_status`` job and applied once the
sid is known, instead of being lost. The send asks for receipts at ``<status path>?outbound=<id>``
(the provider signs the URL with its query): a receipt naming a row still ``sending`` ties the
provider's message id to it at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, update

from connector.errors import RetryableError, TicketClosed
from connector.jobs.queue import Job, enqueue
from connector.model import ERROR_OPT_OUT, STATUS_FAILED, STATUS_UNDELIVERED
from connector.pipeline.notes import note_once
from connector.store import conversations, outbound
from connector.store.optouts import record_opt_out

if TYPE_CHECKING:
    from connector.ports import SmsProvider
    from connector.runtime import Runtime

log = logging.getLogger("sms_connector.status")

STATUS_JOB = "sms_status"
NOTE_JOB = "delivery_note"
FAILED = frozenset({STATUS_FAILED, STATUS_UNDELIVERED})
PARKED_ATTEMPTS = 8  # ~ a few seconds of waiting for the send to store its sid
PARKED_RETRY = 0.5

KNOWN, UNKNOWN, IN_FLIGHT = "known", "unknown", "in_flight"


def apply_receipt(conn: Connection, payload: dict[str, Any], *, rank: Callable[[str | None], int],
                  now: float | None = None,
                  opted_out: Callable[[Any], bool] | None = None) -> str:
    """Record a receipt in ``conn``'s transaction; KNOWN, IN_FLIGHT (sid not stored yet, a text
    to that number is being sent) or UNKNOWN (not a text of ours: ignore).

    ``opted_out(error_code)``: the provider's error table says the recipient unsubscribed (a
    sender pool can refuse so only after accepting the text): the opt-out is recorded, as for
    the same refusal at send time."""
    now = time.time() if now is None else now
    row = conn.execute(select(outbound).where(
        outbound.c.provider == payload["provider"],
        outbound.c.provider_message_id == payload["sid"])).mappings().first()
    if row is None and payload.get("outbound_id"):
        row = _tie(conn, payload)
    if row is None:
        in_flight = payload.get("to") and conn.execute(select(outbound.c.id).where(
            outbound.c.to_number == payload["to"], outbound.c.send_state == "sending",
            outbound.c.provider_message_id.is_(None)).limit(1)).first()
        return IN_FLIGHT if in_flight else UNKNOWN
    code = payload.get("error_code")
    if code and opted_out is not None and opted_out(code):
        _record_opt_out(conn, row, code, now)
    status = payload["status"]
    if rank(status) <= rank(row["status"]):
        return KNOWN  # a repeat or an older status arriving late
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if payload.get("error_code"):
        values["error_code"] = str(payload["error_code"])
    # Guarded by the rank read above: a concurrent callback that wrote a higher status wins.
    same = (outbound.c.status.is_(None) if row["status"] is None
            else outbound.c.status == row["status"])
    result = conn.execute(update(outbound).where(outbound.c.id == row["id"], same)
                          .values(**values))
    if result.rowcount and status in FAILED and row["ticket_id"] and not row["noted"]:
        enqueue(conn, NOTE_JOB, {"outbound_id": row["id"]},
                conversation_key=f"ticket:{row['ticket_id']}:notes", now=now)
        log.warning("text not delivered", extra={"outbound_id": row["id"], "status": status,
                                                 "code": payload.get("error_code")})
    return KNOWN


def _tie(conn: Connection, payload: dict[str, Any]) -> Any:
    """The first receipt of a text names our own outbound id (the signed status URL's query):
    it ties the provider's message id to the row, even before the send's answer is stored, so a
    send whose answer is lost is known sent without searching the provider's lists."""
    where = [outbound.c.id == int(payload["outbound_id"]),
             outbound.c.provider == payload["provider"],
             outbound.c.send_state == "sending", outbound.c.provider_message_id.is_(None)]
    if payload.get("to"):
        where.append(outbound.c.to_number == payload["to"])
    tied = conn.execute(update(outbound).where(*where)
                        .values(provider_message_id=payload["sid"]))
    if not tied.rowcount:
        return None
    log.info("message id tied to its text by the first receipt",
             extra={"outbound_id": payload["outbound_id"], "sid": payload["sid"]})
    return conn.execute(select(outbound).where(
        outbound.c.id == int(payload["outbound_id"]))).mappings().one()


def _record_opt_out(conn: Connection, row: Any, code: Any, now: float) -> None:
    channel_key = conn.execute(select(conversations.c.channel_key).where(
        conversations.c.id == row["conversation_id"])).scalar() if row["conversation_id"] else None
    if channel_key and record_opt_out(conn, row["to_number"], channel_key,
                                      source=f"provider_{code}", now=now):
        log.warning("the provider says the customer unsubscribed; opt-out recorded",
                    extra={"outbound_id": row["id"], "code": code})


def opt_out_check(sms: SmsProvider) -> Callable[[Any], bool]:
    """Whether an error code of ``sms`` means the recipient unsubscribed."""
    return lambda code: sms.error_kind(code) == ERROR_OPT_OUT


def handle_status(runtime: Runtime, job: Job) -> None:
    """A parked receipt: apply it once the send has stored the sid, else give up quietly."""
    sms = runtime.sms(job.payload["provider"])
    with runtime.engine.begin() as conn:
        outcome = apply_receipt(conn, job.payload, rank=sms.status_rank,
                                now=runtime.clock.now(), opted_out=opt_out_check(sms))
    if outcome == KNOWN:
        runtime.notify()
        return
    if outcome == IN_FLIGHT and job.attempts < PARKED_ATTEMPTS:
        raise RetryableError("the send has not stored this MessageSid yet",
                             retry_after=PARKED_RETRY)
    log.info("status callback for a message the connector does not know; ignored",
             extra={"sid": job.payload.get("sid"), "status": job.payload.get("status")})


def handle_note(runtime: Runtime, job: Job) -> None:
    outbound_id = int(job.payload["outbound_id"])
    with runtime.engine.begin() as conn:
        row = conn.execute(select(outbound).where(outbound.c.id == outbound_id)).mappings().one()
    try:
        note_once(runtime, outbound_id,
                  failure_note(row, runtime.sms(row["provider"]).describe_error))
    except TicketClosed:
        log.info("ticket closed; delivery failure not noted", extra={"outbound_id": outbound_id})


def failure_note(row: Any, describe_error: Callable[[Any], str]) -> str:
    code = row["error_code"]
    what = {
        "agent_reply": "Your reply was not delivered by text",
        "ack": "The automatic acknowledgement was not delivered by text",
    }.get(row["source"], "A text to the customer was not delivered")
    body = " ".join(str(row["body"] or "").split())
    snippet = body if len(body) <= 120 else body[:117] + "..."
    shown = f" (\u201c{snippet}\u201d)" if snippet else ""
    return (f"{what}{shown}: {row['status'] or 'failed'}, error {code or 'none given'}: "
            f"{describe_error(code)}.")
