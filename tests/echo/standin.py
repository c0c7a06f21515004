"""The Echo stand-in: Echo's API as its documentation (tests/echo/__init__.py) states it, on a
real loopback port, built on the sandbox's server and webhook sender.

``POST /_sandbox/text`` makes a handset text the support number (a signed inbound webhook to the
connector, answered synchronously); ``GET /_sandbox/state`` shows messages and handsets.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from typing import Any

import requests
from flask import Flask, Response, jsonify, request

from connector.sandbox.common import SandboxServer, WebhookSender, register_closer

API_KEY = "echo-api-key"
SIGNING_SECRET = "echo-signing-secret"
SUPPORT_NUMBER = "+12025550100"
UNREACHABLE_SUFFIX = "3003"  # texts to such numbers fail with E301 after "sent"
INVALID_SUFFIX = "0001"  # refused at once with E101
MEDIA = b"\x89PNG\r\n\x1a\n echo media"


def _signed(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    mac = hmac.new(SIGNING_SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    return {"Content-Type": "application/json", "X-Echo-Timestamp": stamp,
            "X-Echo-Signature": mac.hexdigest()}


def signed_post(url: str, payload: dict[str, Any], timeout: float = 20.0) -> requests.Response:
    body = json.dumps(payload).encode()
    return requests.post(url, data=body, headers=_signed(body), timeout=timeout)


def make_app(connector_url: str = "") -> Flask:
    app = Flask("echo_standin")
    lock = threading.Lock()
    ids = itertools.count(1)
    messages: list[dict[str, Any]] = []
    handsets: dict[str, list[dict[str, Any]]] = {}
    sender = WebhookSender(user_agent="echo-webhooks")
    register_closer(app, sender.close)
    app.config["connector_url"] = connector_url

    def authorized() -> bool:
        return request.headers.get("Authorization") == f"Bearer {API_KEY}"

    def callback(url: str | None, message: dict[str, Any], status: str,
                 code: str | None = None) -> None:
        if not url:
            return
        payload = {"id": message["id"], "status": status, "error_code": code,
                   "to": message["to"]}
        body = json.dumps(payload).encode()
        sender.send(url, data=body, headers=_signed(body), label=f"status {status}")

    @app.post("/v1/messages")
    def create() -> Any:
        if not authorized():
            return jsonify(error={"code": "E401", "message": "bad key"}), 401
        data = request.get_json(silent=True) or {}
        to = str(data.get("to") or "")
        if not to.startswith("+") or to.endswith(INVALID_SUFFIX):
            return jsonify(error={"code": "E101", "message": "invalid number"}), 400
        with lock:
            message = {"id": f"EC{next(ids):08d}", "to": to, "from": data.get("from"),
                       "text": data.get("text") or "", "media": data.get("media") or [],
                       "status": "accepted", "created": time.time()}
            messages.append(message)
            if not to.endswith(UNREACHABLE_SUFFIX):
                handsets.setdefault(to, []).append({"body": message["text"],
                                                    "media": message["media"]})
        callback(data.get("callback_url"), message, "sent")
        if to.endswith(UNREACHABLE_SUFFIX):
            callback(data.get("callback_url"), message, "failed", "E301")
        else:
            callback(data.get("callback_url"), message, "delivered")
        return jsonify(id=message["id"], status="accepted"), 201

    @app.get("/v1/messages")
    def listing() -> Any:
        if not authorized():
            return jsonify(error={"code": "E401", "message": "bad key"}), 401
        to, from_ = request.args.get("to"), request.args.get("from")
        with lock:
            found = [m for m in reversed(messages) if m["to"] == to
                     and (not from_ or m["from"] == from_)]
        return jsonify(messages=found)

    @app.get("/v1/media/<media_id>")
    def media(media_id: str) -> Any:
        return Response(MEDIA, mimetype="image/png")

    @app.post("/_sandbox/text")
    def text() -> Any:
        data = request.get_json(force=True)
        with lock:
            message_id = f"EI{next(ids):08d}"
        payload = {"id": message_id, "from": data["from"],
                   "to": data.get("to") or SUPPORT_NUMBER, "text": data.get("body", ""),
                   "media": data.get("media") or []}
        url = (data.get("connector_url") or app.config["connector_url"]).rstrip("/")
        answer = signed_post(url + "/webhooks/sms/echo", payload)
        return jsonify(id=message_id, status=answer.status_code, answer=answer.text)

    @app.get("/_sandbox/state")
    def state() -> Any:
        with lock:
            return jsonify(messages=list(messages), handsets=dict(handsets))

    return app


def start(connector_url: str = "", port: int = 0) -> SandboxServer:
    return SandboxServer(make_app(connector_url), port=port).start()


def config(server: SandboxServer) -> dict[str, Any]:
    """The connector's [echo] section and channel for this stand-in."""
    return {"echo": {"base_url": server.url, "api_key": API_KEY,
                     "signing_secret": SIGNING_SECRET},
            "channels": [{"provider": "echo", "number": SUPPORT_NUMBER, "name": "Echo line"}]}
