"""A tiny real HTTP server that records what the sandboxes post to it (webhooks, callbacks)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, request

from connector.sandbox.common import SandboxServer


@dataclass
class Received:
    method: str
    url: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records every request; answers with ``status`` / ``body`` / ``content_type``."""

    status: int = 200
    body: str = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
    content_type: str = "text/xml"
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: SandboxServer | None = None

    def __post_init__(self) -> None:
        app = Flask("receiver")

        @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT"])
        @app.route("/<path:path>", methods=["GET", "POST", "PUT"])
        def record(path: str) -> Response:
            with self._lock:
                self.received.append(
                    Received(
                        method=request.method,
                        url=request.url,
                        path=request.path,
                        headers=dict(request.headers),
                        form=request.form.to_dict(),
                        body=request.get_data(),
                    )
                )
            return Response(self.body, status=self.status, content_type=self.content_type)

        self._server = SandboxServer(app)

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url

    def requests_to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def __enter__(self) -> Receiver:
        assert self._server is not None
        self._server.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.stop()
