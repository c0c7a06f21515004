"""Checking that a request really comes from Twilio, before anything in it is trusted.

Twilio signs the URL it called plus the sorted form fields. Behind a proxy the request's own URL
differs from the one Twilio called, so the URL is rebuilt from ``server.public_url`` + the path
(+ query), never taken from the request (https://www.twilio.com/docs/usage/security).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from flask import Request, abort
from werkzeug.datastructures import MultiDict

from adapters.sms.twilio import verify_webhook
from connector.runtime import Runtime

FORM_TYPE = "application/x-www-form-urlencoded"


def signed_url(runtime: Runtime, request: Request) -> str:
    url = runtime.public_url(request.path)
    query = request.query_string.decode("latin-1")
    return f"{url}?{query}" if query else url


def verified_form(runtime: Runtime, request: Request) -> MultiDict[str, str]:
    """The request's form fields once the signature checks out; aborts 403 / 400 otherwise.

    Order: no signature → 403 before reading further; a body that is not a UTF-8 form → 400;
    a signature that does not match → 403.
    """
    headers = request.headers
    if not headers.get("X-Twilio-Signature"):
        abort(403, description="missing X-Twilio-Signature")
    if request.mimetype != FORM_TYPE:
        abort(400, description=f"expected {FORM_TYPE}")
    raw = request.get_data(cache=True)
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, strict_parsing=False,
                          encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        abort(400, description="body is not valid UTF-8 form data")
    form: MultiDict[str, str] = MultiDict(pairs)
    tw = runtime.settings.twilio
    if not verify_webhook(signed_url(runtime, request), form, dict(headers),
                          auth_token=tw.auth_token,
                          signing_secret=tw.webhook_signing_secret or None):
        abort(403, description="X-Twilio-Signature does not match")
    return form
