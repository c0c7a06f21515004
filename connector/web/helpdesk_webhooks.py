"""The helpdesk's "an agent replied" webhook: verify → enqueue → answer; no helpdesk call here.

``POST /webhooks/helpdesk/<kind>`` for every registered helpdesk (``adapters.helpdesk.HELPDESKS``;
404 for any other name). The registered adapter verifies the delivery (its signature scheme, a
freshness window, constant-time) and reads the ticket id from it; the route knows neither.

The secret: the helpdesk section's own setting, else the one ``policy apply`` brought back from
the helpdesk (connector.sync.policy.webhook_secret). Without either, everything is refused.

A replay inside the adapter's freshness window is not told apart from a genuine delivery (two
agent replies on one ticket within one second can be signed identically, so refusing "seen"
signatures would drop real replies). A replay is harmless instead: the job it queues finds no
comment that was not sent already. One ``outbound`` job waits per ticket at most (coalesced): a
burst of replies is read in one ``list_comments`` call. A delivery the adapter says is a status
change (``EVENT_STATE``: helpdesks without conditional writes) queues a ``ticket_state`` job
instead (connector/pipeline/ticket_state.py), coalesced the same way.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, jsonify
from flask.typing import ResponseReturnValue

from adapters.helpdesk import HELPDESKS
from connector.errors import WebhookRejected
from connector.jobs.queue import enqueue
from connector.model import EVENT_STATE
from connector.pipeline.agent_reply import knows_ticket
from connector.pipeline.ticket_state import STATE_JOB
from connector.runtime import Runtime
from connector.store import reading
from connector.sync.policy import webhook_secret
from connector.web.adapting import rejected, webhook_request

log = logging.getLogger("sms_connector.helpdesk_webhook")
bp = Blueprint("helpdesk_webhooks", __name__)

OUTBOUND_JOB = "outbound"


def ticket_key(ticket_id: int) -> str:
    return f"ticket:{ticket_id}"


@bp.post("/webhooks/helpdesk/<kind>")
def helpdesk_webhook(kind: str) -> ResponseReturnValue:
    adapter = HELPDESKS.get(kind)
    if adapter is None:
        abort(404, description="no such helpdesk")
    runtime: Runtime = current_app.extensions["sms_connector"]
    settings = runtime.settings
    secret = adapter.webhook_secret_setting(settings.section(kind))
    if not secret and kind == settings.helpdesk.kind:
        # What policy apply stored belongs to the helpdesk in use.
        with reading(runtime.engine) as conn:
            secret = webhook_secret(conn, settings)
    if not secret:
        log.error("helpdesk webhook refused: no signing secret (run `sms-connector policy "
                  "apply` or set %s.webhook_secret)", kind)
        abort(403, description="no webhook signing secret configured")
    with rejected():
        delivery = webhook_request(runtime)
        if not adapter.verify_webhook(delivery, secret):
            raise WebhookRejected(403, "signature missing, wrong or outside its time window")
        ticket_id = adapter.webhook_ticket_id(delivery)
        event = adapter.webhook_event(delivery)
    if kind == settings.helpdesk.kind and not knows_ticket(runtime, ticket_id):
        # A ticket tagged sms by hand, another integration's, or an id made up: nothing of ours
        # to text, and saying so lets the sender see it (the helpdesk retries, then gives up).
        log.info("helpdesk webhook for a ticket with no SMS conversation",
                 extra={"ticket_id": ticket_id})
        return jsonify(error="no SMS conversation on this ticket", ticket_id=ticket_id), 404
    job = STATE_JOB if event == EVENT_STATE else OUTBOUND_JOB
    with runtime.engine.begin() as conn:
        job_id = enqueue(conn, job, {"ticket_id": ticket_id},
                         conversation_key=ticket_key(ticket_id), coalesce=True,
                         max_attempts=settings.queue.max_attempts)
    runtime.notify()
    return jsonify(status="queued" if job_id is not None else "coalesced", ticket_id=ticket_id,
                   event=event)
