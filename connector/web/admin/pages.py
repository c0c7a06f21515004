"""The ``/admin/`` pages: server-rendered HTML, readable without JavaScript.

Every request passes ``_guard`` first (404 without a configured token; 401 and the login form
without a valid session or Bearer token; 403 for a form without its session's CSRF token). The
two actions, retry and discard, are POST forms that redirect back (303) to the list, and are
logged with who did them, from where, and which job ids they touched.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue

from connector.web.admin import readings
from connector.web.admin.auth import (
    Admin,
    Session,
    bearer_token,
    clear_session,
    csrf_ok,
    load_session,
    new_session,
    save_session,
    token_matches,
    who,
)

log = logging.getLogger("sms_connector.admin")

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")

MAX_IDS = 500  # job ids one form may name
_OPEN = frozenset({"admin.login"})
# No script runs on these pages; inline style only; forms post to this origin only.
_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def _runtime() -> Any:
    return current_app.extensions["sms_connector"]


def _token() -> str:
    return str(_runtime().settings.server.admin_token or "")


def _secure() -> bool:
    public_url = str(_runtime().settings.server.public_url or "")
    return request.is_secure or public_url.lower().startswith("https://")


def _remote() -> str | None:
    return request.remote_addr


@bp.before_request
def _guard() -> ResponseReturnValue | None:
    token = _token()
    if not token:
        abort(404)
    bearer = bearer_token(request)
    if bearer is not None:  # a script: the header decides alone, no cookie, no CSRF
        if not token_matches(bearer, token):
            log.warning("admin auth failed", extra={"who": "bearer", "remote": _remote(),
                                                    "path": request.path})
            return _unauthorized(bearer=True)
        g.admin = Admin("bearer", None)
        return None
    session = load_session(request, token)
    g.session = session
    if request.endpoint in _OPEN:
        return None
    if session is None or not session.authenticated:
        return _unauthorized(bearer=False)
    g.admin = Admin(who(session), session)
    if request.method == "POST" and not csrf_ok(session, request.form.get("csrf_token")):
        return _forbidden_csrf(g.admin.who)
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _unauthorized(*, bearer: bool) -> Response:
    """401 with the login form as its body (a pre-login session carries its CSRF token)."""
    if bearer:
        response = make_response(render_template("admin/error.html", status=401,
                                                 message="wrong or missing admin token"), 401)
        response.headers["WWW-Authenticate"] = 'Bearer realm="sms-connector admin"'
        return response
    return _login_page(401, next_path=request.full_path if request.method == "GET" else None)


def _login_page(status: int, *, next_path: str | None = None, error: str | None = None
                ) -> Response:
    session = g.get("session")
    if session is None or session.authenticated:
        session = new_session(authenticated=False)
    response = make_response(render_template(
        "admin/login.html", csrf_token=session.csrf, next=_safe_next(next_path), error=error),
        status)
    response.headers["WWW-Authenticate"] = 'Bearer realm="sms-connector admin"'
    save_session(response, session, _token(), secure=_secure())
    return response


def _forbidden_csrf(actor: str) -> Response:
    log.warning("admin form refused: CSRF token missing or wrong",
                extra={"who": actor, "remote": _remote(), "path": request.path})
    return make_response(render_template(
        "admin/error.html", status=403,
        message="the form's security token is missing or out of date: reload the page and "
                "try again"), 403)


def _safe_next(path: str | None) -> str:
    """Only a path of these pages: never another host (``//evil``) nor a scheme."""
    path = (path or "").rstrip("?")
    if (path.startswith("/admin/") and "//" not in path and "\\" not in path
            and path.isascii() and path.isprintable() and len(path) < 512):
        return path
    return "/admin/"


def _bad_request(message: str) -> Response:
    return make_response(render_template("admin/error.html", status=400, message=message), 400)


# -- login / logout -------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if request.method == "GET":
        session = g.get("session")
        if g.get("admin") is not None or (session is not None and session.authenticated):
            return redirect(_safe_next(request.args.get("next")), 303)
        return _login_page(200, next_path=request.args.get("next"))
    if not csrf_ok(g.get("session"), request.form.get("csrf_token")):
        return _forbidden_csrf("login")
    given = request.form.get("token", "")
    if not token_matches(given, _token()):
        log.warning("admin login failed", extra={"who": "login", "remote": _remote(),
                                                 "token_chars": len(given)})
        return _login_page(401, next_path=request.form.get("next"),
                           error="That is not the admin token.")
    # A fresh id and CSRF token: a cookie planted before login is worth nothing after it.
    session = new_session(authenticated=True)
    log.info("admin login", extra={"who": who(session), "remote": _remote()})
    response = redirect(_safe_next(request.form.get("next")), 303)
    save_session(response, session, _token(), secure=_secure())
    return response


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    log.info("admin logout", extra={"who": g.admin.who, "remote": _remote()})
    response = redirect(url_for("admin.login"), 303)
    clear_session(response, secure=_secure())
    return response


# -- pages ----------------------------------------------------------------------------------------


def _page(template: str, **context: Any) -> str:
    session: Session | None = g.admin.session
    return render_template(template, csrf_token=session.csrf if session else "",
                           bearer=session is None, nav=True, **context)


@bp.get("/")
def dashboard() -> ResponseReturnValue:
    runtime = _runtime()
    now = runtime.clock.now()
    report = readings.latest_report(runtime)
    return _page("admin/dashboard.html", health=readings.health(runtime, now), now=now,
                 report=report, report_folder=readings.report_folder(runtime))


@bp.get("/dead-letters")
def dead_letters() -> ResponseReturnValue:
    done = {key: request.args.get(key, type=int) for key in ("retried", "discarded")}
    return _page("admin/dead_letters.html", rows=readings.dead_letters(_runtime()), done=done)


@bp.post("/dead-letters/retry")
def retry() -> ResponseReturnValue:
    return _act("retry", lambda ids: _runtime().queue.retry_dead(ids), "retried")


@bp.post("/dead-letters/discard")
def discard() -> ResponseReturnValue:
    return _act("discard", lambda ids: len(_runtime().queue.discard_dead(ids)), "discarded")


def _act(action: str, run: Callable[[list[int]], int], done: str) -> ResponseReturnValue:
    raw = request.form.getlist("id")
    if not raw:
        return _bad_request("name at least one job id")
    if len(raw) > MAX_IDS:
        return _bad_request(f"at most {MAX_IDS} job ids at once")
    # ASCII digits only: int() would also take " 12", "+12", "1_2" and other scripts' digits.
    if not all(value.isascii() and value.isdigit() and len(value) < 20 for value in raw):
        return _bad_request("job ids are positive whole numbers")
    ids = sorted({int(value) for value in raw})
    if any(not 0 < i < 2**63 for i in ids):
        return _bad_request("job ids are positive whole numbers")
    count = run(ids)
    log.info(f"admin {action}", extra={"who": g.admin.who, "remote": _remote(),
                                       "action": action, "job_ids": ids, "count": count})
    query: dict[str, Any] = {done: count}
    return redirect(url_for("admin.dead_letters", **query), 303)


@bp.get("/conversations")
def conversations() -> ResponseReturnValue:
    return _page("admin/conversations.html", rows=readings.recent_conversations(_runtime()))


@bp.get("/opt-outs")
def opt_outs() -> ResponseReturnValue:
    return _page("admin/opt_outs.html", rows=readings.opt_out_list(_runtime()))


@bp.get("/timers")
def timers() -> ResponseReturnValue:
    runtime = _runtime()
    return _page("admin/timers.html", rows=readings.pending_timers(runtime),
                 now=runtime.clock.now())


@bp.get("/coverage")
def coverage() -> ResponseReturnValue:
    runtime = _runtime()
    try:
        rows, error = readings.coverage_rows(runtime), None
    except Exception as exc:  # a pack that does not load: say so, keep the other pages up
        rows, error = [], f"{type(exc).__name__}: {exc}"
    from mappings.policy import format_duration

    return _page("admin/coverage.html", rows=rows, error=error,
                 helpdesk=runtime.settings.helpdesk.kind, format_duration=format_duration)


@bp.get("/report")
def report() -> ResponseReturnValue:
    """The newest file in ``[report] weekly_to``, as it is (the report writes HTML without
    scripts; the page's CSP forbids them anyway)."""
    path = readings.latest_report(_runtime())
    if path is None:
        return make_response(render_template("admin/error.html", status=404,
                                             message="no report yet"), 404)
    kind = mimetypes.guess_type(path.name)[0] or "text/plain"
    if kind not in ("text/html", "application/json", "text/plain", "text/csv"):
        kind = "text/plain"
    try:
        body = path.read_bytes()
    except OSError:
        abort(404)
    response = make_response(body, 200)
    response.headers["Content-Type"] = f"{kind}; charset=utf-8"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'")
    return response


# -- template filters -----------------------------------------------------------------------------


@bp.app_template_filter("admin_time")
def _admin_time(value: float | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@bp.app_template_filter("admin_age")
def _admin_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = int(abs(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = f"{days}d {hours}h"
    elif hours:
        text = f"{hours}h {minutes}m"
    elif minutes:
        text = f"{minutes}m {secs}s"
    else:
        text = f"{secs}s"
    return ("-" if seconds < 0 else "") + text
