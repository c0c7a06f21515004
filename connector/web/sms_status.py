"""Twilio's delivery status callbacks: verify → record → answer; no outside call in the request.

Signed like the inbound webhook (connector/web/twilio_auth.py: the public URL + the sorted form
fields). The status moves forward only and a failure queues one private note
(connector/pipeline/status.py). A callback for a message the connector did not send answers 200
and changes nothing: Twilio does not retry status callbacks, and there is nothing to retry for.
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, abort, current_app, request
from flask.typing import ResponseReturnValue

from adapters.sms.twilio import parse_status
from connector.jobs.queue import enqueue
from connector.pipeline.status import (
    IN_FLIGHT,
    KNOWN,
    PARKED_ATTEMPTS,
    STATUS_JOB,
    apply_receipt,
    receipt_payload,
)
from connector.runtime import Runtime
from connector.web.twilio_auth import verified_form

log = logging.getLogger("sms_connector.status")
bp = Blueprint("sms_status", __name__)


@bp.post("/webhooks/sms/twilio/status")
def twilio_status() -> ResponseReturnValue:
    runtime: Runtime = current_app.extensions["sms_connector"]
    form = verified_form(runtime, request)
    try:
        receipt = parse_status(form.to_dict(flat=True))
    except ValueError as exc:
        abort(400, description=str(exc))
    payload = receipt_payload(receipt)
    now = time.time()
    with runtime.engine.begin() as conn:
        outcome = apply_receipt(conn, payload, now=now)
        if outcome == IN_FLIGHT:
            # The callback overtook the send's answer: apply it once the sid is stored.
            enqueue(conn, STATUS_JOB, payload,
                    conversation_key=f"sid:{receipt.provider_message_id}",
                    max_attempts=PARKED_ATTEMPTS, run_at=now + 0.2, now=now)
    if outcome != KNOWN:
        log.info("status callback for an unknown message", extra={
            "sid": receipt.provider_message_id, "status": receipt.status, "parked": outcome})
    runtime.notify()
    return Response("", status=204)
