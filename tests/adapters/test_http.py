"""adapters/http.py: the media download never sends credentials to a host other than the
provider's, however the URL is written.

Two real loopback servers stand in for the provider (127.0.0.1) and an attacker (127.0.0.2); each
records the Authorization header of every request it receives, so the tests see where the
credentials actually went, not what a URL parser thinks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from adapters.http import download, same_origin
from connector.errors import MediaUnavailable

AUTH = ("AC0123", "secret-auth-token")


@dataclass
class Recorder:
    host: str
    redirect_to: str | None = None
    seen: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Authorization)
    server: ThreadingHTTPServer | None = None

    @property
    def netloc(self) -> str:
        assert self.server is not None
        return f"{self.host}:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.netloc}"

    def with_auth(self) -> list[str]:
        return [path for path, authorization in self.seen if authorization]


def _serve(recorder: Recorder) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            recorder.seen.append((self.path, self.headers.get("Authorization")))
            if recorder.redirect_to and not self.path.startswith("/final"):
                self.send_response(302)
                self.send_header("Location", recorder.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b"\x89PNG fake"
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer((recorder.host, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                     daemon=True).start()
    return server


@pytest.fixture
def provider() -> Iterator[Recorder]:
    recorder = Recorder("127.0.0.1")
    recorder.server = _serve(recorder)
    yield recorder
    recorder.server.shutdown()
    recorder.server.server_close()


@pytest.fixture
def evil() -> Iterator[Recorder]:
    recorder = Recorder("127.0.0.2")  # all of 127/8 is loopback on Linux
    recorder.server = _serve(recorder)
    yield recorder
    recorder.server.shutdown()
    recorder.server.server_close()


def fetch(url: str, base_url: str) -> tuple[bytes, str] | MediaUnavailable:
    session = requests.Session()
    session.trust_env = False  # no proxy, no .netrc: only what download() decides goes out
    try:
        return download(session, url, provider="test", base_url=base_url, auth=AUTH,
                        max_bytes=1024, allowed_types=["image/png"], timeout=5)
    except MediaUnavailable as exc:
        return exc
    finally:
        session.close()


def hostile_urls(host: str, evil: str) -> list[str]:
    """URLs one parser reads as ``host`` and another (possibly the HTTP library) as ``evil``."""
    evil_host = evil.split(":")[0]
    return [
        f"http://{evil}\\@{host}/media",  # urllib3 connects to evil; urllib.parse sees host
        f"http://{evil}%5C@{host}/media",
        f"http://{host}@{evil}/media",
        f"http://{host}:80@{evil}/media",
        f"http://{host}\\@{evil}/media",
        f"http://{evil}\t@{host}/media",
        f"http://{evil}\n@{host}/media",
        f"http://{evil}\r\n@{host}/media",
        f"http://{host}\t/media",
        f" http://{host}/media",
        f"http://{host}/media\r\nHost: {evil_host}",
        f"http://{host}/me\x00dia",
        f"http://[::1]@{evil}/media",
        f"http://{host}\u3002@{evil}/media",
        f"http://user:pass@{host}/media",
    ]


def test_no_hostile_url_takes_the_credentials_anywhere_but_the_provider(provider, evil):
    results = {url: fetch(url, provider.url) for url in hostile_urls(provider.netloc, evil.netloc)}
    assert evil.with_auth() == []
    for url, result in results.items():
        assert isinstance(result, MediaUnavailable), url
        assert result.reason == "malformed_url", url
    assert provider.with_auth() == []  # refused before any request at all
    assert evil.seen == []


def test_the_backslash_url_reached_the_other_host_before(provider, evil):
    """The trap itself: requests connects where urllib3 reads the host, not urllib.parse."""
    url = f"http://{evil.netloc}\\@{provider.netloc}/media"
    requests.get(url, timeout=5, auth=AUTH)
    assert evil.with_auth() and not provider.seen
    assert not same_origin(url, provider.url)


def test_credentials_go_on_the_first_hop_to_the_provider_only(provider, evil):
    provider.redirect_to = evil.url + "/final/file.png"
    body, content_type = fetch(provider.url + "/media/ME1", provider.url)  # type: ignore[misc]
    assert (body, content_type) == (b"\x89PNG fake", "image/png")
    assert provider.with_auth() == ["/media/ME1"]
    assert [path for path, _ in evil.seen] == ["/final/file.png"]
    assert evil.with_auth() == []


def test_a_redirect_back_to_the_provider_carries_no_credentials(provider):
    provider.redirect_to = provider.url + "/final/file.png"
    fetch(provider.url + "/media/ME1", provider.url)
    assert provider.with_auth() == ["/media/ME1"]
    assert [path for path, _ in provider.seen] == ["/media/ME1", "/final/file.png"]


def test_a_redirect_to_a_malformed_url_is_not_followed(provider, evil):
    provider.redirect_to = f"http://{evil.netloc}\\@{provider.netloc}/final"
    result = fetch(provider.url + "/media/ME1", provider.url)
    assert isinstance(result, MediaUnavailable) and result.reason == "malformed_redirect"
    assert evil.seen == []


def test_another_host_is_fetched_without_credentials(provider, evil):
    body, _ = fetch(evil.url + "/final/x.png", provider.url)  # type: ignore[misc]
    assert body == b"\x89PNG fake"
    assert evil.seen == [("/final/x.png", None)]


@pytest.mark.parametrize(("url", "base", "same"), [
    ("https://api.twilio.com/2010-04-01/x", "https://api.twilio.com", True),
    ("https://API.Twilio.COM/x", "https://api.twilio.com", True),
    ("https://api.twilio.com:443/x", "https://api.twilio.com", True),
    ("HTTPS://api.twilio.com/x", "https://api.twilio.com", True),
    ("https://api.twilio.com#@evil/x", "https://api.twilio.com", True),  # both read the host
    ("https://api.twilio.com?@evil/x", "https://api.twilio.com", True),
    ("https://[::1]:8443/x", "https://[::1]:8443", True),
    ("https://[::1]/x", "https://[::1]:443", True),
    ("https://[::1]:8443/x", "https://[::1]", False),
    ("https://[::1]@evil/x", "https://[::1]", False),
    ("https://api.twilio.com:8443/x", "https://api.twilio.com", False),
    ("http://api.twilio.com/x", "https://api.twilio.com", False),
    ("https://api.twilio.com.evil.com/x", "https://api.twilio.com", False),
    ("https://evil\\@api.twilio.com/x", "https://api.twilio.com", False),
    ("https://evil%5C@api.twilio.com/x", "https://api.twilio.com", False),
    ("https://api.twilio.com@evil/x", "https://api.twilio.com", False),
    ("https://api.twilio.com:443@evil/x", "https://api.twilio.com", False),
    ("https://evil\t@api.twilio.com/x", "https://api.twilio.com", False),
    ("https://evil\n@api.twilio.com/x", "https://api.twilio.com", False),
    ("https://api.twilio.com\t/x", "https://api.twilio.com", False),
    ("https://api.twilio.com%2F@evil/x", "https://api.twilio.com", False),
    ("https://api.twilio.com\u3002/x", "https://api.twilio.com", False),
    ("ftp://api.twilio.com/x", "ftp://api.twilio.com", False),
    ("https:///x", "https://api.twilio.com", False),
    ("https://api.twilio.com:99999/x", "https://api.twilio.com", False),
    ("", "https://api.twilio.com", False),
])
def test_same_origin(url, base, same):
    assert same_origin(url, base) is same
