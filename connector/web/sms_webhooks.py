"""SMS provider webhooks: ``POST /webhooks/sms/<provider>`` (a customer's text) and
``POST /webhooks/sms/<provider>/status`` (a delivery receipt), for every registered provider.

Verify → record → answer, with no outside call in the request: the adapter the URL names checks
the signature and reads the fields (connector/web/adapting.py hands it the request without Flask),
connector/pipeline/receive.py records the text or receipt in one transaction, and the adapter
says what to answer (an empty reply document, say). A name that is not registered is a
404; a missing or wrong signature 403; a signed body without what the connector needs 400; a
genuine text that cannot be routed is kept and held, never refused.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app
from flask import request as flask_request
from flask.typing import ResponseReturnValue

from connector.errors import UnreadableInbound
from connector.pipeline.receive import hold_text, record_receipt, record_text
from connector.pipeline.status import KNOWN
from connector.web.adapting import answer, rejected, sms_adapter, webhook_request

log = logging.getLogger("sms_connector.inbound")
bp = Blueprint("sms_webhooks", __name__)


@bp.post("/webhooks/sms/<provider>")
def inbound(provider: str) -> ResponseReturnValue:
    runtime = current_app.extensions["sms_connector"]
    adapter = sms_adapter(runtime, provider)
    request = webhook_request(runtime)
    now = runtime.clock.now()
    with rejected():
        try:
            sms = adapter.inbound(request)
        except UnreadableInbound as exc:
            # Genuine, so kept: held for an admin; answered as a success (no retry would help).
            hold_text(runtime, exc.message, reason=exc.description, now=now)
            return answer(adapter.inbound_answer)
    record_text(runtime, sms, now=now)
    return answer(adapter.inbound_answer)


@bp.post("/webhooks/sms/<provider>/status")
def status(provider: str) -> ResponseReturnValue:
    runtime = current_app.extensions["sms_connector"]
    adapter = sms_adapter(runtime, provider)
    request = webhook_request(runtime)
    with rejected():
        receipt = adapter.status(request)
    # Our own id of the text, in the status URL the send asked for; trusted only because the
    # provider signed the URL with its query (verified just above).
    named = flask_request.args.get("outbound", "")
    outbound_id = int(named) if named.isascii() and named.isdigit() and len(named) <= 18 else None
    outcome = record_receipt(runtime, receipt, now=runtime.clock.now(), outbound_id=outbound_id)
    if outcome != KNOWN:
        # Not a text of ours (ignored), or parked until its send stores the id. Providers do not
        # retry status callbacks, and there is nothing to retry for: a success either way.
        log.info("status callback for an unknown message", extra={
            "sid": receipt.provider_message_id, "status": receipt.status, "parked": outcome})
    return answer(adapter.status_answer)
