"""A throw-away SMS provider, "Echo", written the way ADDING_PROVIDERS.md asks a new provider to
be written — but inside the test package, so it ships nowhere. It proves the house: Echo passes
the SMS contract suite (tests/adapters/sms/test_echo_contract.py) and the end-to-end story
(tests/e2e/test_story.py) with nothing under connector/ changed for it.

- ``adapter.py``: the adapter (what would be ``adapters/sms/echo.py``);
- ``standin.py``: its stand-in service (what would be ``connector/sandbox/echo.py``);
- ``register()``: the registry line (``"echo": EchoAdapter`` in ``adapters/sms/__init__.py``);
- ``serve.py``: ``sms-connector`` with Echo registered, for a connector in its own process.

Echo's API, as its (fictional) documentation states it:

- ``POST /v1/messages`` JSON ``{"to", "from", "text", "media": [url…], "callback_url"}``,
  ``Authorization: Bearer <api key>`` → 201 ``{"id": "EC…", "status": "accepted"}``; a refusal
  is 400 ``{"error": {"code": "E1xx", "message"}}`` (E101 invalid number, E102 unsubscribed); 429
  with ``Retry-After`` when sending too fast.
- ``GET /v1/messages?to=&from=`` → ``{"messages": [{"id", "to", "from", "text", "status",
  "created": UNIX seconds}]}``, newest first.
- Webhooks (inbound texts and status callbacks) are JSON, signed:
  ``X-Echo-Timestamp: <UNIX seconds>`` and ``X-Echo-Signature: hex(HMAC-SHA256(signing secret,
  timestamp + "." + raw body))``; receivers refuse timestamps more than 5 minutes off. Inbound:
  ``{"id", "from", "to", "text", "media": [{"url", "type"}]}``; status:
  ``{"id", "status": accepted|sent|delivered|failed, "error_code"}`` (E301 unreachable).
- Media: ``GET /v1/media/<id>``, no credentials (the id is unguessable).
- Echo never answers STOP / HELP itself.
"""

from __future__ import annotations

from tests.echo.adapter import EchoAdapter

NAME = "echo"


def register() -> None:
    """The registry line a real provider adds to adapters/sms/__init__.py."""
    from adapters.sms import PROVIDERS

    PROVIDERS[NAME] = EchoAdapter


def unregister() -> None:
    from adapters.sms import PROVIDERS

    PROVIDERS.pop(NAME, None)
