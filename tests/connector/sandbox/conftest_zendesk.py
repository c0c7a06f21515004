"""Helpers for the Zendesk stand-in's tests (imported explicitly; not a conftest plugin).

- `spec_checker()`: validates answers against the response schemas of Zendesk's OpenAPI file
  (``../shared/specs/zendesk-support-openapi.yaml`` next to the repository), loaded once per test
  session, with `SPEC_PATCHES` applied; skips with the reason when the file is absent.
- `SignedReceiver`: a tiny real HTTP server that checks ``X-Zendesk-Webhook-Signature`` with
  `adapters.helpdesk.zendesk.verify_zendesk` (403 when it does not verify) and records what it got.
- `make_app()`, `AUTH`: the sandbox app with fast webhook retries, and its credentials.
"""

from __future__ import annotations

import copy
import functools
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, request

from adapters.helpdesk.zendesk import verify_zendesk
from connector.sandbox.common import SandboxServer
from connector.sandbox.zendesk import SPEC_PATCHES, create_app

REPO = Path(__file__).resolve().parents[3]
# Next to the repository, or where this machine kind keeps the shared folder (a clean clone made
# elsewhere, as CI makes it, still finds it); SMS_CONNECTOR_ZENDESK_SPEC names another place.
_SPEC_NAME = Path("shared") / "specs" / "zendesk-support-openapi.yaml"
_SPEC_PLACES = [Path(p) for p in [os.environ.get("SMS_CONNECTOR_ZENDESK_SPEC", "")] if p] + [
    REPO.parent / _SPEC_NAME, Path("/work") / _SPEC_NAME]
SPEC_PATH = next((p for p in _SPEC_PLACES if p.is_file()), _SPEC_PLACES[0])
EMAIL = "connector@example.com"
TOKEN = "sandbox-api-token"
AUTH = (f"{EMAIL}/token", TOKEN)

# The spec has no webhook paths (SPEC_GAPS["webhooks"]); this schema is written from
# https://developer.zendesk.com/api-reference/webhooks/webhooks-api/webhooks/ .
WEBHOOK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "id",
        "name",
        "status",
        "endpoint",
        "http_method",
        "request_format",
        "subscriptions",
        "created_at",
        "created_by",
    ],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "description": {"type": "string", "nullable": True},
        "status": {"type": "string", "enum": ["active", "inactive"]},
        "endpoint": {"type": "string"},
        "http_method": {"type": "string", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
        "request_format": {"type": "string", "enum": ["json", "xml", "form_encoded"]},
        "subscriptions": {"type": "array", "items": {"type": "string"}},
        "created_at": {"type": "string", "format": "date-time"},
        "created_by": {"type": "string"},
        "updated_at": {"type": "string", "format": "date-time", "nullable": True},
        "updated_by": {"type": "string", "nullable": True},
        "authentication": {
            "type": "object",
            "properties": {"type": {"type": "string"}, "add_position": {"type": "string"}},
            "not": {"required": ["data"]},  # credentials are never echoed back
        },
    },
}
LOCAL_SCHEMAS: dict[str, dict[str, Any]] = {
    "WebhookResponse": {
        "type": "object",
        "required": ["webhook"],
        "properties": {"webhook": WEBHOOK_SCHEMA},
    },
    "WebhooksResponse": {
        "type": "object",
        "required": ["webhooks"],
        "properties": {"webhooks": {"type": "array", "items": WEBHOOK_SCHEMA}},
    },
    "SigningSecretResponse": {
        "type": "object",
        "required": ["signing_secret"],
        "properties": {
            "signing_secret": {
                "type": "object",
                "required": ["algorithm", "secret"],
                "properties": {"algorithm": {"const": "sha256"}, "secret": {"type": "string"}},
            }
        },
    },
    # Zendesk's classic error body; not in the spec (SPEC_GAPS["errors"]).
    "ZendeskError": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string"},
            "description": {"type": "string"},
            "details": {"type": "object"},
        },
    },
}


def _load_yaml(path: Path) -> dict[str, Any]:
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc,valid-type]
        pass

    # The spec has unquoted "=" scalars, which PyYAML reads as the "value" tag (reference doc).
    Loader.add_constructor(
        "tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node)
    )
    with path.open("rb") as fh:
        return yaml.load(fh, Loader=Loader)


def _patched_components(spec: dict[str, Any]) -> dict[str, Any]:
    components = copy.deepcopy(spec["components"])
    for pointer, patch in SPEC_PATCHES:
        node = components["schemas"]
        for part in pointer.split("/"):
            node = node[part]
        for key, value in patch.items():
            if value is None:
                node.pop(key, None)
            else:
                node[key] = value
        if patch.get("nullable") and "enum" in node and None not in node["enum"]:
            # openapi-schema-validator checks enum before nullable, so null must be listed too.
            node["enum"] = [*node["enum"], None]
    components["schemas"].update(LOCAL_SCHEMAS)
    return components


@dataclass
class SpecChecker:
    spec: dict[str, Any]
    components: dict[str, Any]

    def schema_for(self, path: str, method: str, status: int) -> dict[str, Any] | None:
        operation = self.spec["paths"].get(path, {}).get(method.lower())
        if operation is None:
            return None
        response = operation.get("responses", {}).get(str(status))
        if response is None:
            raise AssertionError(f"the spec lists no {status} answer for {method} {path}")
        return response.get("content", {}).get("application/json", {}).get("schema")

    def check(self, body: Any, schema: dict[str, Any] | str) -> None:
        from openapi_schema_validator import OAS30ReadValidator, validate

        if isinstance(schema, str):
            schema = {"$ref": f"#/components/schemas/{schema}"}
        validate(body, {**schema, "components": self.components}, cls=OAS30ReadValidator)

    def check_response(
        self, path: str, method: str, status: int, body: Any, fallback: str | None = None
    ) -> None:
        """Validate ``body`` against the spec's schema for that operation and status."""
        schema = self.schema_for(path, method, status)
        if schema is None:
            assert fallback, f"{method} {path} is not in the spec: name a fallback schema"
            schema = {"$ref": f"#/components/schemas/{fallback}"}
        self.check(body, schema)


@functools.cache
def _checker() -> SpecChecker | None:
    if not SPEC_PATH.exists():
        return None
    spec = _load_yaml(SPEC_PATH)
    return SpecChecker(spec, _patched_components(spec))


def spec_checker() -> SpecChecker:
    """The session's checker; skips the calling test when the spec file is not there."""
    checker = _checker()
    if checker is None:
        pytest.skip(f"Zendesk OpenAPI spec not found at {SPEC_PATH} (it lives in ../shared/specs)")
    return checker


def make_app(**kwargs: Any) -> Flask:
    kwargs.setdefault("webhook_retry_delays", (0.05, 0.05, 0.05))
    kwargs.setdefault("webhook_timeout", 5.0)
    return create_app(**kwargs)


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    verified: bool


@dataclass
class SignedReceiver:
    """Receives Zendesk webhooks over real HTTP and verifies them as the connector will."""

    secret: str = ""
    fail_first: int = 0  # answer 503 to this many deliveries first (to see retries)
    deliveries: list[Delivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        app = Flask("zendesk-webhook-receiver")

        @app.post("/hook")
        def hook() -> Response:
            body = request.get_data()
            ok = verify_zendesk(
                self.secret,
                request.headers.get("X-Zendesk-Webhook-Signature-Timestamp"),
                body,
                request.headers.get("X-Zendesk-Webhook-Signature"),
            )
            with self._lock:
                self.deliveries.append(Delivery(dict(request.headers), body, ok))
                failing = self.fail_first > 0
                if failing:
                    self.fail_first -= 1
            if not ok:
                return Response("bad signature", status=403)
            return Response("busy", status=503) if failing else Response("ok")

        self.server = SandboxServer(app)

    @property
    def url(self) -> str:
        return self.server.url + "/hook"

    def __enter__(self) -> SignedReceiver:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
