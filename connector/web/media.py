"""``GET /media/<token>``: outbound MMS attachments, fetched by the SMS provider.

An SMS provider fetches a media URL without credentials, so the URL itself is the credential: an
HMAC-signed token naming the stored copy and its expiry (connector/pipeline/media_links.py makes
them). The bytes come from the connector's database; nothing outside is called here.
A token with a wrong signature answers 403; a malformed, expired or unknown one 404.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from connector.pipeline.media_links import check_media_token, media_key
from connector.runtime import Runtime
from connector.store import media_blobs, reading

bp = Blueprint("media", __name__)


@bp.get("/media/<token>")
def media(token: str) -> ResponseReturnValue:
    runtime: Runtime = current_app.extensions["sms_connector"]
    verdict, blob_key = check_media_token(media_key(runtime), token)
    if verdict == "forged":
        abort(403, description="media token signature does not match")
    if verdict != "ok":
        abort(404, description=f"media link {verdict}")
    with reading(runtime.engine) as conn:
        row = conn.execute(select(media_blobs.c.content, media_blobs.c.content_type,
                                  media_blobs.c.filename)
                           .where(media_blobs.c.key == blob_key)).first()
    if row is None:
        abort(404, description="media not found")
    response = Response(bytes(row.content), mimetype=row.content_type)
    # Private to the provider's fetch; nothing in between should keep a customer's file.
    response.headers["Cache-Control"] = "private, no-store"
    safe_name = "".join(ch for ch in row.filename if ch.isalnum() or ch in "._-") or "attachment"
    response.headers["Content-Disposition"] = f'inline; filename="{safe_name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
