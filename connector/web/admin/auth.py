"""Who may see ``/admin/``: the admin token, as a signed session cookie or a Bearer header.

- No ``server.admin_token`` configured: every ``/admin`` URL answers 404, so an instance nobody
  secured does not even show that admin pages exist.
- A person logs in once with the token (``POST /admin/login``); the answer sets a cookie signed
  with a key derived from the token (itsdangerous, 12 hours, HttpOnly, SameSite=Lax, Secure when
  the request or ``server.public_url`` is https). Changing the token logs everyone out.
- A script sends ``Authorization: Bearer <token>`` on each request; a header that is present but
  wrong is refused, never topped up by a cookie.
- Every form carries the session's CSRF token in a hidden field, the login form too (a login
  CSRF would sign a victim into the attacker's session). Bearer requests need none: a browser
  never adds that header on its own.

Tokens are compared with ``hmac.compare_digest`` on UTF-8 bytes: any length, any characters,
no early exit. The token is never logged; a session is named in the log by a hash of its id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from flask import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

__all__ = [
    "COOKIE",
    "SESSION_SECONDS",
    "Admin",
    "Session",
    "bearer_token",
    "clear_session",
    "csrf_ok",
    "load_session",
    "new_session",
    "save_session",
    "token_matches",
    "who",
]

COOKIE = "sms_connector_admin"
SESSION_SECONDS = 12 * 3600
_SALT = "sms-connector admin session"


@dataclass(frozen=True)
class Session:
    sid: str  # random; rotated at login so a planted pre-login cookie is worth nothing
    csrf: str  # the hidden field every form of this session carries
    authenticated: bool


@dataclass(frozen=True)
class Admin:
    """Who is acting, for the log: ``bearer`` or ``session:<12 hex of the id's hash>``."""

    who: str
    session: Session | None  # None for Bearer requests (no cookie, no CSRF)


def token_matches(given: str | None, token: str) -> bool:
    if given is None or not token:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("utf-8", "replace"))


def bearer_token(request: Request) -> str | None:
    """The Bearer credential, "" for an Authorization header of another kind, None without one."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _serializer(token: str) -> URLSafeTimedSerializer:
    # A key of its own, derived from the token: the cookie never carries or reveals the token.
    key = hmac.new(token.encode("utf-8", "replace"), _SALT.encode(), hashlib.sha256).digest()
    return URLSafeTimedSerializer(key, salt=_SALT)


def new_session(*, authenticated: bool) -> Session:
    return Session(secrets.token_urlsafe(18), secrets.token_urlsafe(24), authenticated)


def load_session(request: Request, token: str) -> Session | None:
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > 1024:
        return None
    try:
        data: Any = _serializer(token).loads(raw, max_age=SESSION_SECONDS)
    except BadSignature:  # forged, expired, or signed with a token since changed
        return None
    if not (isinstance(data, dict) and isinstance(data.get("sid"), str)
            and isinstance(data.get("csrf"), str)):
        return None
    return Session(data["sid"], data["csrf"], data.get("auth") is True)


def save_session(response: Response, session: Session, token: str, *, secure: bool) -> None:
    value = _serializer(token).dumps({"sid": session.sid, "csrf": session.csrf,
                                      "auth": session.authenticated})
    response.set_cookie(COOKIE, value, max_age=SESSION_SECONDS, path="/admin", secure=secure,
                        httponly=True, samesite="Lax")


def clear_session(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE, path="/admin", secure=secure, httponly=True, samesite="Lax")


def csrf_ok(session: Session | None, submitted: str | None) -> bool:
    if session is None or not submitted:
        return False
    return hmac.compare_digest(session.csrf.encode(), submitted.encode("utf-8", "replace"))


def who(session: Session) -> str:
    return "session:" + hashlib.sha256(session.sid.encode()).hexdigest()[:12]
