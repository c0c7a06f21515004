"""The helpdesk's "an agent replied" webhook: verify → enqueue → answer; no helpdesk call here.

Zendesk signs every delivery: ``X-Zendesk-Webhook-Signature`` = base64(HMAC-SHA256(secret,
timestamp + raw body)), the timestamp in ``X-Zendesk-Webhook-Signature-Timestamp``
(https://developer.zendesk.com/documentation/webhooks/verifying/). It signs no nonce, so a
timestamp outside ±5 minutes is refused. A replay inside that window is not told apart from a
genuine delivery: two agent replies on one ticket within one second are signed identically (same
body, same whole-second timestamp), so refusing "seen" signatures would drop real replies. A
replay is harmless instead: the job it queues finds no comment that was not sent already.

The payload carries ids only (``{"ticket_id": "123"}``, from the trigger ``policy apply``
installs): placeholders with comment text are escaped unreliably, so the worker reads the comments
through the API instead. One ``outbound`` job waits per ticket at most (coalesced): a burst of
replies is read in one ``list_comments`` call.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from adapters.helpdesk.zendesk import verify_zendesk
from connector.jobs.queue import enqueue
from connector.runtime import Runtime
from connector.store import reading
from connector.sync.policy import webhook_secret

log = logging.getLogger("sms_connector.helpdesk_webhook")
bp = Blueprint("helpdesk_webhooks", __name__)

OUTBOUND_JOB = "outbound"
SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"


def ticket_key(ticket_id: int) -> str:
    return f"ticket:{ticket_id}"


@bp.post("/webhooks/helpdesk/zendesk")
def zendesk_webhook() -> ResponseReturnValue:
    runtime: Runtime = current_app.extensions["sms_connector"]
    signature = request.headers.get(SIGNATURE_HEADER)
    timestamp = request.headers.get(TIMESTAMP_HEADER)
    if not signature or not timestamp:
        abort(403, description=f"missing {SIGNATURE_HEADER} / {TIMESTAMP_HEADER}")
    with reading(runtime.engine) as conn:
        secret = webhook_secret(conn, runtime.settings)
    if not secret:
        log.error("Zendesk webhook refused: no signing secret (run `sms-connector policy apply` "
                  "or set zendesk.webhook_secret)")
        abort(403, description="no webhook signing secret configured")
    raw = request.get_data(cache=True)
    if not verify_zendesk(secret, timestamp, raw, signature):
        abort(403, description="signature does not match or timestamp outside ±5 minutes")
    ticket_id = _ticket_id(raw)
    with runtime.engine.begin() as conn:
        job_id = enqueue(conn, OUTBOUND_JOB, {"ticket_id": ticket_id},
                         conversation_key=ticket_key(ticket_id), coalesce=True,
                         max_attempts=runtime.settings.queue.max_attempts)
    runtime.notify()
    return jsonify(status="queued" if job_id is not None else "coalesced", ticket_id=ticket_id)


def _ticket_id(raw: bytes) -> int:
    """The ticket id of a genuine delivery; 400 when the body does not carry one."""
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        abort(400, description="body is not JSON")
    value = payload.get("ticket_id") if isinstance(payload, dict) else None
    if isinstance(value, bool) or value is None:
        abort(400, description="ticket_id missing")
    text = str(value).strip()
    if not text.isdigit() or int(text) <= 0:
        abort(400, description="ticket_id is not a ticket id")
    return int(text)
