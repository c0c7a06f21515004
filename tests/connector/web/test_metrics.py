"""``GET /metrics``: what the store holds and what the worker did, in Prometheus' text format.

The flow test runs a signed inbound text through the app and the worker against the in-process
sandbox and reads the scrape with Prometheus' own parser; the rest pin the pieces: the call
counters (429s included), the bearer token against hostile headers, a database that blinks.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
import responses
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, insert, update

from adapters.http import set_call_observer
from connector.config import settings_from_dict
from connector.errors import RateLimited, TransientError
from connector.jobs.queue import enqueue
from connector.runtime import Runtime
from connector.sandbox.runner import start_sandbox
from connector.sandbox.signing import twilio_signature
from connector.sandbox.stack import SUPPORT_NUMBER, sandbox_config
from connector.store import jobs, metadata, schema, timers_table
from connector.store.counters import CounterBuffer, totals
from connector.store.optouts import record_opt_out
from connector.web import create_app

PUBLIC = "http://127.0.0.1:9"  # the connector's public URL: nothing listens, nothing is called
CUSTOMER = "+12025550142"
TOKEN = "s3cret-metrics-token"


def scrape(http, **headers) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the scrape, parsed by Prometheus' own parser: {(name, labels): value}."""
    answer = http.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.get_data(as_text=True))
            for sample in family.samples}


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples, name: str, **labels: str) -> float:
    """The sum over every series of ``name`` whose labels include ``labels``."""
    return sum(v for (n, ls), v in samples.items()
               if n == name and set(labels.items()) <= set(ls))


@pytest.fixture
def world(tmp_path):
    """The app and its runtime wired to the in-process sandbox (helpdesk and SMS stand-ins)."""
    sandbox = start_sandbox(zendesk_port=0, twilio_port=0)
    data = sandbox_config(sandbox, connector_url=PUBLIC,
                          database_url=f"sqlite:///{tmp_path / 'c.db'}")
    runtime = Runtime(settings_from_dict(data))
    runtime.prepare_schema()
    yield create_app(runtime=runtime).test_client(), runtime
    runtime.close()
    sandbox.stop()


def text_in(http, runtime: Runtime, sid: str, body: str):
    params = {"MessageSid": sid, "AccountSid": runtime.settings.section("twilio").account_sid,
              "From": CUSTOMER, "To": SUPPORT_NUMBER, "Body": body}
    token = runtime.settings.section("twilio").auth_token
    return http.post("/webhooks/sms/twilio", data=urlencode(params), headers={
        "X-Twilio-Signature": twilio_signature(token, PUBLIC + "/webhooks/sms/twilio", params),
        "Content-Type": "application/x-www-form-urlencoded"})


def test_the_counters_move_when_texts_flow(world):
    http, runtime = world
    before = scrape(http)
    assert value(before, "sms_connector_store_up") == 1
    assert total(before, "sms_connector_texts_in") == 0

    assert text_in(http, runtime, "SM" + "1" * 32, "my order never arrived").status_code == 200
    queued = scrape(http)
    assert value(queued, "sms_connector_texts_in", provider="twilio", state="pending") == 1
    assert value(queued, "sms_connector_queue_depth", kind="inbound", status="ready") == 1
    assert value(queued, "sms_connector_queue_oldest_age_seconds", kind="inbound") >= 0
    assert value(queued, "sms_connector_webhook_seconds_count",
                 endpoint="/webhooks/sms/<provider>", source="twilio") == 1

    worker = runtime.make_worker()
    while worker.run_once():
        pass
    runtime.housekeeping()  # what the worker loop does every few seconds: the call counts go in
    after = scrape(http)
    assert value(after, "sms_connector_texts_in", provider="twilio", state="delivered") == 1
    assert value(after, "sms_connector_texts_in", provider="twilio", state="pending") == 0
    assert total(after, "sms_connector_queue_depth") == 0
    assert value(after, "sms_connector_jobs", status="done") >= 1
    # The ticket's creation (and whatever it took) went to the helpdesk, the acknowledgement out
    # through the SMS provider: both counted by the worker, read by the web side from the store.
    assert value(after, "sms_connector_helpdesk_calls_total", helpdesk="zendesk",
                 outcome="ok") >= 2
    assert value(after, "sms_connector_helpdesk_rate_limited_total", helpdesk="zendesk") == 0
    assert value(after, "sms_connector_sms_api_calls_total", provider="twilio", outcome="ok") >= 1
    assert total(after, "sms_connector_texts_out", provider="twilio", state="sent") >= 1

    # A second text: the counters only go up.
    assert text_in(http, runtime, "SM" + "2" * 32, "still nothing").status_code == 200
    while worker.run_once():
        pass
    runtime.housekeeping()
    again = scrape(http)
    assert value(again, "sms_connector_texts_in", provider="twilio", state="delivered") == 2
    assert (value(again, "sms_connector_helpdesk_calls_total", helpdesk="zendesk", outcome="ok")
            > value(after, "sms_connector_helpdesk_calls_total", helpdesk="zendesk", outcome="ok"))


def test_dead_letters_retries_timers_and_opt_outs_by_their_labels(store):
    runtime = store
    now = time.time()
    with runtime.engine.begin() as conn:
        for _ in range(2):
            enqueue(conn, "outbound", {"ticket_id": 1})
        dead = enqueue(conn, "inbound", {})
        conn.execute(update(jobs).where(jobs.c.id == dead).values(status="dead", attempts=8))
        retried = enqueue(conn, "outbound", {"ticket_id": 2})
        conn.execute(update(jobs).where(jobs.c.id == retried)
                     .values(attempts=3, run_at=now - 120))
        conn.execute(insert(timers_table), [
            {"kind": "escalate", "key": f"k{i}", "due_at": now, "created_at": now,
             "payload": {"rule": "first_response", "ticket_id": i},
             "fired_at": now if i < 3 else None} for i in range(4)])
        conn.execute(insert(timers_table).values(kind="remind", key="r", due_at=now,
                                                 created_at=now, payload={}, fired_at=now))
        record_opt_out(conn, CUSTOMER, SUPPORT_NUMBER, source="keyword", now=now)
        record_opt_out(conn, "+12025550143", SUPPORT_NUMBER, source="keyword", now=now)
    samples = scrape(create_app(runtime=runtime).test_client())
    assert value(samples, "sms_connector_dead_letters", kind="inbound") == 1
    assert value(samples, "sms_connector_jobs_retried", kind="inbound") == 1
    assert value(samples, "sms_connector_jobs_retried", kind="outbound") == 1
    assert value(samples, "sms_connector_queue_depth", kind="outbound", status="ready") == 3
    assert value(samples, "sms_connector_queue_oldest_age_seconds", kind="outbound") >= 119
    assert value(samples, "sms_connector_timers_fired", kind="escalate",
                 rule="first_response") == 3
    assert value(samples, "sms_connector_timers_fired", kind="remind", rule="none") == 1
    assert value(samples, "sms_connector_opt_outs", channel=SUPPORT_NUMBER) == 2


def plain_runtime(tmp_path, *, database_url: str | None = None, **server) -> Runtime:
    settings = settings_from_dict({
        "zendesk": {"subdomain": "acme", "email": "a@example.com", "api_token": "t"},
        "database": {"url": database_url or f"sqlite:///{tmp_path / 'c.db'}"},
        "server": {"public_url": PUBLIC, **server}})
    runtime = Runtime(settings)
    schema.upgrade(runtime.engine)
    with runtime.engine.begin() as conn:  # a clean slate on the shared PostgreSQL schema
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    return runtime


@pytest.fixture
def store(tmp_path, database_url):
    """A runtime on SQLite, and on PostgreSQL when the test database is set."""
    runtime = plain_runtime(tmp_path, database_url=database_url)
    yield runtime
    runtime.close()


@responses.activate
def test_helpdesk_429s_and_network_errors_are_counted_by_helpdesk(store):
    runtime = store
    url = "https://acme.zendesk.com/api/v2/tickets/7"
    responses.get(url, status=429, headers={"Retry-After": "30"}, json={"error": "slow down"})
    with pytest.raises(TransientError):  # nothing answers for ticket 8: the connection fails
        runtime.helpdesk.get_ticket(8)
    with pytest.raises(RateLimited):
        runtime.helpdesk.get_ticket(7)
    runtime.counters.flush()
    http = create_app(runtime=runtime).test_client()
    samples = scrape(http)
    assert value(samples, "sms_connector_helpdesk_rate_limited_total", helpdesk="zendesk") == 1
    assert value(samples, "sms_connector_helpdesk_calls_total", helpdesk="zendesk",
                 outcome="rate_limited") == 1
    assert value(samples, "sms_connector_helpdesk_calls_total", helpdesk="zendesk",
                 outcome="network_error") == 1


def test_call_counts_are_summed_across_flushes_and_kept_when_a_flush_fails(store, tmp_path):
    runtime = store
    buffer = CounterBuffer(runtime.engine)
    for _ in range(3):
        buffer.add("helpdesk_calls", {"helpdesk": "zendesk", "outcome": "ok"})
    assert buffer.flush() == 1
    good = buffer.engine
    buffer.engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")  # cannot open
    buffer.add("helpdesk_calls", {"outcome": "ok", "helpdesk": "zendesk"})  # same series
    with pytest.raises(Exception):  # noqa: B017 (whatever the driver raises)
        buffer.flush()
    buffer.engine = good
    assert buffer.flush() == 1
    assert totals(runtime.engine) == [("helpdesk_calls", {"helpdesk": "zendesk", "outcome": "ok"},
                                       4)]
    assert not buffer.pending


def test_the_runtime_counts_calls_only_while_it_is_open(tmp_path):
    runtime = plain_runtime(tmp_path)
    from adapters import http as plumbing

    assert plumbing._observer is not None
    runtime.close()
    assert plumbing._observer is None
    set_call_observer(None)


def test_a_scrape_survives_a_database_that_blinks(tmp_path):
    runtime = plain_runtime(tmp_path)
    http = create_app(runtime=runtime).test_client()
    http.get("/healthz")
    working = runtime.engine
    runtime.engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    samples = scrape(http)
    assert value(samples, "sms_connector_store_up") == 0
    assert not any(name.startswith("sms_connector_texts_in") for name, _ in samples)
    assert value(samples, "sms_connector_http_requests_total", endpoint="/healthz",
                 status="200") == 1
    runtime.engine = working
    assert value(scrape(http), "sms_connector_store_up") == 1
    runtime.close()


def test_a_made_up_sender_name_is_no_series_of_its_own(tmp_path):
    runtime = plain_runtime(tmp_path)
    http = create_app(runtime=runtime).test_client()
    for name in ("nope", "x" * 200):
        assert http.post(f"/webhooks/sms/{name}", data="a=b").status_code == 404
    samples = scrape(http)
    assert value(samples, "sms_connector_webhook_seconds_count",
                 endpoint="/webhooks/sms/<provider>", source="unknown") == 2
    assert not any("x" * 200 in str(labels) for _, labels in samples)
    runtime.close()


# -- server.metrics_token -------------------------------------------------------------------------


@pytest.fixture
def guarded(tmp_path):
    runtime = plain_runtime(tmp_path, metrics_token=TOKEN)
    yield create_app(runtime=runtime).test_client()
    runtime.close()


def test_the_token_opens_the_metrics(guarded):
    assert value(scrape(guarded, Authorization=f"Bearer {TOKEN}"), "sms_connector_store_up") == 1
    assert guarded.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200


@pytest.mark.parametrize("header", [
    None,
    "",
    "Bearer",
    "Bearer ",
    "Bearer wrong",
    f"Basic {TOKEN}",
    f"Bearer {TOKEN}x",
    f"Bearer {TOKEN[:-1]}",
    "Bearer t\u00f6k\u00e9n",  # non-ASCII (latin-1 on the wire)
    "Bearer " + "\u00ff" * 64,
    "Bearer " + "A" * 7 * 1024,  # 7 KB
    f"{TOKEN}",
])
def test_without_the_right_token_the_answer_is_401(guarded, header):
    headers = {} if header is None else {"Authorization": header}
    answer = guarded.get("/metrics", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert b"sms_connector" not in answer.get_data()


def test_a_non_ascii_token_in_the_config_is_a_401_not_a_500(tmp_path):
    runtime = plain_runtime(tmp_path, metrics_token="t\u00f6k\u00e9n-\u2603")
    http = create_app(runtime=runtime).test_client()
    assert http.get("/metrics", headers={"Authorization": "Bearer token"}).status_code == 401
    runtime.close()


def test_without_a_token_configured_metrics_are_open(tmp_path):
    runtime = plain_runtime(tmp_path)
    assert create_app(runtime=runtime).test_client().get("/metrics").status_code == 200
    runtime.close()
