"""The sandbox plumbing: limiter, faults, real loopback server, webhook sender."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import requests
from flask import Flask, Response, jsonify

from connector.sandbox.common import (
    Faults,
    SandboxControls,
    SandboxServer,
    SlidingWindowLimiter,
    WebhookSender,
    install_controls,
)
from tests.connector.sandbox.receiver import Receiver


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_counts_within_the_window_and_says_when_to_retry() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 60, clock)
    assert limiter.limit == 2
    assert limiter.hit("a") is None
    clock.now += 10
    assert limiter.hit("a") is None
    assert limiter.remaining("a") == 0
    assert limiter.hit("a") == pytest.approx(50)
    assert limiter.hit("b") is None  # keys are independent
    clock.now += 50  # the first hit leaves the window
    assert limiter.remaining("a") == 1
    assert limiter.hit("a") is None
    assert limiter.hit("a") == pytest.approx(10)


def test_limiter_refused_hits_are_not_counted() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 1, clock)
    assert limiter.hit("k") is None
    for _ in range(5):
        assert limiter.hit("k") is not None
    clock.now += 1
    assert limiter.hit("k") is None


def test_controls_validate_and_name_the_bad_key() -> None:
    controls = SandboxControls(Faults(latency_ms=5))
    assert controls.snapshot()["latency_ms"] == 5
    with pytest.raises(ValueError, match="nonsense"):
        controls.update({"nonsense": 1})
    with pytest.raises(ValueError, match="slow_ms"):
        controls.update({"slow_ms": -1})
    with pytest.raises(ValueError, match="down"):
        controls.update({"down": "yes"})
    with pytest.raises(ValueError, match="drop_paths"):
        controls.update({"drop_paths": "("})
    with pytest.raises(ValueError, match="per_minute"):
        controls.update({"per_minute": 0})
    # all or nothing: a bad key leaves the good ones unapplied
    with pytest.raises(ValueError):
        controls.update({"slow_ms": 7, "bogus": 1})
    assert controls.snapshot()["slow_ms"] == 0
    assert controls.remaining() is None
    controls.update({"per_minute": 3})
    assert controls.remaining() == 3
    controls.update({"per_minute": None})
    assert controls.limiter is None


def test_take_drop_only_for_mutating_requests_on_matching_paths() -> None:
    controls = SandboxControls(Faults(drop_after_commit=2, drop_paths=r"^/tickets"))
    assert not controls.take_drop("GET", "/tickets/1")
    assert not controls.take_drop("POST", "/users")
    assert controls.take_drop("PUT", "/tickets/1")
    assert controls.take_drop("POST", "/tickets.json")
    assert not controls.take_drop("POST", "/tickets.json")
    assert controls.snapshot()["drop_after_commit"] == 0


@pytest.fixture
def demo() -> Iterator[tuple[str, list[int], SandboxControls, requests.Session]]:
    """A small app with controls installed, on a real port, and a client session."""
    app = Flask("demo")
    created: list[int] = []
    controls = SandboxControls()

    @app.post("/things")
    def make_thing() -> tuple[Response, int]:
        created.append(len(created) + 1)
        return jsonify(id=created[-1]), 201

    @app.get("/things")
    def list_things() -> Response:
        return jsonify(things=created)

    def rate_limited(retry_after: float) -> Response:
        response = jsonify(error="slow down")
        response.status_code = 429
        response.headers["Retry-After"] = str(int(retry_after) + 1)
        return response

    def rate_headers(response: Response) -> None:
        remaining = controls.remaining()
        if remaining is not None:
            response.headers["X-Rate-Limit-Remaining"] = str(remaining)

    install_controls(app, controls, rate_limited=rate_limited, rate_headers=rate_headers)
    with SandboxServer(app) as server, requests.Session() as session:
        yield server.url, created, controls, session


def test_down_answers_503_but_sandbox_routes_still_work(demo) -> None:
    url, _, _, session = demo
    assert session.post(f"{url}/_sandbox/faults", json={"down": True}).json()["down"] is True
    response = session.get(f"{url}/things")
    assert response.status_code == 503
    assert response.json()["error"] == "ServiceUnavailable"
    assert session.get(f"{url}/_sandbox/faults").json()["down"] is True
    session.post(f"{url}/_sandbox/faults", json={"down": False})
    assert session.get(f"{url}/things").status_code == 200


def test_faults_route_rejects_unknown_keys_by_name(demo) -> None:
    url, _, _, session = demo
    response = session.post(f"{url}/_sandbox/faults", json={"dwon": True})
    assert response.status_code == 400
    assert "dwon" in response.json()["error"]
    assert session.post(f"{url}/_sandbox/faults", data="x").status_code == 400


def test_latency_and_slow_add_up(demo) -> None:
    url, _, controls, session = demo
    controls.update({"latency_ms": 100, "slow_ms": 150})
    started = time.monotonic()
    session.get(f"{url}/things")
    assert time.monotonic() - started >= 0.25
    started = time.monotonic()
    session.get(f"{url}/_sandbox/faults")  # never slowed
    assert time.monotonic() - started < 0.2


def test_account_budget_gives_429_with_retry_after_and_headers(demo) -> None:
    url, _, _, session = demo
    session.post(f"{url}/_sandbox/faults", json={"per_minute": 2})
    first = session.get(f"{url}/things")
    assert first.headers["X-Rate-Limit-Remaining"] == "1"
    assert session.get(f"{url}/things").status_code == 200
    refused = session.get(f"{url}/things")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 61


def test_drop_after_commit_commits_then_drops_the_connection(demo) -> None:
    url, created, _, session = demo
    session.post(f"{url}/_sandbox/faults", json={"drop_after_commit": 1})
    assert session.get(f"{url}/things").status_code == 200  # reads never drop
    with pytest.raises(requests.ConnectionError):
        session.post(f"{url}/things")
    assert created == [1]  # the state changed although the client saw no answer
    assert session.post(f"{url}/things").status_code == 201  # one drop only
    assert created == [1, 2]
    assert session.get(f"{url}/_sandbox/faults").json()["drop_after_commit"] == 0


def test_drop_paths_limits_the_drop(demo) -> None:
    url, created, _, session = demo
    session.post(
        f"{url}/_sandbox/faults", json={"drop_after_commit": 1, "drop_paths": "^/elsewhere"}
    )
    assert session.post(f"{url}/things").status_code == 201
    assert session.get(f"{url}/_sandbox/faults").json()["drop_after_commit"] == 1
    assert created == [1]


def test_server_picks_a_free_port_and_stops_cleanly() -> None:
    app = Flask("x")
    app.add_url_rule("/", "root", lambda: "ok")
    server = SandboxServer(app)
    with server:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.port != 0
        with requests.get(server.url, timeout=5) as response:
            assert response.text == "ok"
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", server.port)) != 0  # nothing listens any more


def test_webhook_sender_posts_in_order_and_records_attempts() -> None:
    sender = WebhookSender(timeout=2)
    seen: list[str] = []
    try:
        with Receiver() as receiver:
            sender.send(f"{receiver.url}/hook", data={"n": "1"}, label="first")
            sender.call(lambda: seen.append("between"))
            sender.send(
                f"{receiver.url}/hook",
                json={"n": 2},
                headers={"X-Test": "yes"},
                on_done=lambda attempt: seen.append(str(attempt["status"])),
            )
            assert sender.flush(5)
            hooks = receiver.requests_to("/hook")
            assert [h.form.get("n") for h in hooks] == ["1", None]
            assert hooks[1].body == b'{"n": 2}'
            assert hooks[1].headers["X-Test"] == "yes"
            assert seen == ["between", "200"]
        # the receiver is gone now: the attempt records the error instead of raising
        sender.send(f"{receiver.url}/hook", data={"n": "3"})
        assert sender.flush(5)
        attempts = sender.attempts
        assert [a["status"] for a in attempts] == [200, 200, None]
        assert attempts[0]["label"] == "first"
        assert "ConnectionError" in attempts[2]["error"]
    finally:
        sender.close()
    with pytest.raises(RuntimeError):
        sender.send("http://127.0.0.1:9/", data={})


def test_webhook_sender_without_sends_owns_no_thread() -> None:
    sender = WebhookSender()
    assert sender.flush(0.1)
    sender.close()
