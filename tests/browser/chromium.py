"""Headless Chromium for tests: Debian's ``chromium`` driven by the ``playwright`` package.

Never ``playwright install`` (it downloads a browser build of its own): the browser is the
system's, at ``$SMS_CONNECTOR_CHROMIUM`` or ``/usr/bin/chromium`` (``.ci/run`` installs it with
apt-get). Without it, or without the package, tests that need a browser skip and say why.

- ``launch()``: a context manager yielding a ``playwright.sync_api.Browser``;
- ``serve(app)``: a WSGI app over real HTTP on a loopback port, in a thread (its base URL);
- ``screenshot_html(browser, html, out)``: open an HTML file and save a full-page PNG;
- ``artifact_path(name)``: where screenshots go (``$SMS_CONNECTOR_ARTIFACTS`` or
  ``tests/artifacts/``, gitignored).

The fixtures in tests/browser/conftest.py wrap these; other test folders import them from here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM_ENV = "SMS_CONNECTOR_CHROMIUM"
ARTIFACTS_ENV = "SMS_CONNECTOR_ARTIFACTS"
REPO = Path(__file__).resolve().parents[2]


def chromium_path() -> str | None:
    """The system Chromium, or None when there is none."""
    configured = os.environ.get(CHROMIUM_ENV)
    for candidate in ([configured] if configured else ["/usr/bin/chromium",
                                                       "/usr/bin/chromium-browser"]):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("chromium")
    return found


def unavailable() -> str | None:
    """Why no browser test can run here, or None when one can."""
    path = chromium_path()
    if path is None:
        return (f"no Chromium: install Debian's package (apt-get install -y chromium) or set "
                f"{CHROMIUM_ENV}; .ci/run installs it")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: ./scripts/bootstrap test installs it"
    return None


@contextlib.contextmanager
def launch(**kwargs: Any) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    assert path is not None, unavailable()
    with sync_playwright() as playwright:
        # Playwright passes --no-sandbox itself (chromium_sandbox=False): CI runs as root.
        browser = playwright.chromium.launch(executable_path=path, headless=True, **kwargs)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """``app`` served by werkzeug on 127.0.0.1 (a free port) while the block runs."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="browser-test-http",
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def artifact_path(name: str) -> Path:
    folder = Path(os.environ.get(ARTIFACTS_ENV) or REPO / "tests" / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def screenshot_html(browser: Any, html: Path, out: Path, *,
                    width: int = 1200, height: int = 900) -> str:
    """Open ``html`` (a file) in a fresh page with JavaScript off (what a mail reader shows),
    save a full-page PNG at ``out``; returns the rendered page's HTML."""
    context = browser.new_context(viewport={"width": width, "height": height},
                                  java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(html.resolve().as_uri())
        page.screenshot(path=str(out), full_page=True)
        return str(page.content())
    finally:
        context.close()
