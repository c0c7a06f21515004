"""``GET /metrics``: Prometheus text format (prometheus_client).

Two kinds of numbers:

- this process's own: HTTP requests and their latency per endpoint, and the webhook answer latency
  per webhook endpoint and sender (``serve`` runs one gunicorn process, so that is all of them);
- the store's, read at scrape time, so every web process reports the same texts, queue, timers and
  opt-outs whichever process (web or worker, this machine or another) wrote them: one query per
  family, on indexed columns, each family skipped — never the scrape failed — when its query fails
  (the database blinked, or the schema is older than this code). The worker's API calls are counted
  in the store's ``counters`` table (connector/store/counters.py says why not in memory).

Counts of stored rows (texts, dead letters, fired timers, opt-outs) are gauges: finished jobs and
fired timers are purged, ``forget`` deletes texts, so they can go down. Only the call counters,
which nothing deletes, are Prometheus counters.

``server.metrics_token``, when set, is asked for as ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection, func, select

from adapters.helpdesk import HELPDESKS
from connector.store import jobs, messages, opt_outs, outbound, reading, timers_table
from connector.store.counters import read_counters

log = logging.getLogger("sms_connector.metrics")
bp = Blueprint("metrics", __name__)

READY, RUNNING, DEAD = "ready", "running", "dead"
NONE = "none"  # a label for "no value": an outbound text without a delivery status yet

Family = Callable[[Connection, float], Iterator[Metric]]


def _label(value: Any) -> str:
    return NONE if value is None or value == "" else str(value)


# -- the store's families: each is one query ------------------------------------------------------


def _jobs_by_status(conn: Connection, _now: float) -> Iterator[Metric]:
    family = GaugeMetricFamily("sms_connector_jobs", "Jobs in the queue by status",
                               labels=["status"])
    counts: dict[str, int] = {
        status: int(n)
        for status, n in conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status))}
    for status in (READY, RUNNING, "done", DEAD):
        family.add_metric([status], int(counts.get(status, 0)))
    yield family


def _texts_in(conn: Connection, _now: float) -> Iterator[Metric]:
    family = GaugeMetricFamily(
        "sms_connector_texts_in", "Inbound texts in the store by provider and state "
        "(pending, delivered to the ticket, held)", labels=["provider", "state"])
    rows = conn.execute(select(messages.c.provider, messages.c.state, func.count())
                        .group_by(messages.c.provider, messages.c.state))
    for provider, state, n in rows:
        family.add_metric([_label(provider), _label(state)], int(n))
    yield family


def _texts_out(conn: Connection, _now: float) -> Iterator[Metric]:
    family = GaugeMetricFamily(
        "sms_connector_texts_out", "Outbound texts in the store by provider, send state (intent, "
        "sending, sent, rejected, unknown) and the provider's delivery status",
        labels=["provider", "state", "status"])
    rows = conn.execute(
        select(outbound.c.provider, outbound.c.send_state, outbound.c.status, func.count())
        .group_by(outbound.c.provider, outbound.c.send_state, outbound.c.status))
    for provider, state, status, n in rows:
        family.add_metric([_label(provider), _label(state), _label(status)], int(n))
    yield family


def _queue(conn: Connection, now: float) -> Iterator[Metric]:
    depth = GaugeMetricFamily("sms_connector_queue_depth",
                              "Jobs waiting (ready) or running, by kind", labels=["kind", "status"])
    oldest = GaugeMetricFamily(
        "sms_connector_queue_oldest_age_seconds",
        "How long the oldest ready job of each kind has been due (0 when none is due yet)",
        labels=["kind"])
    # ix_jobs_status_run_at finds the ready and running rows; the done ones are never read.
    rows = conn.execute(
        select(jobs.c.kind, jobs.c.status, func.count(), func.min(jobs.c.run_at))
        .where(jobs.c.status.in_((READY, RUNNING)))
        .group_by(jobs.c.kind, jobs.c.status))
    for kind, status, n, first_run_at in rows:
        depth.add_metric([kind, status], int(n))
        if status == READY:
            oldest.add_metric([kind], max(0.0, now - float(first_run_at)))
    yield depth
    yield oldest


def _dead_letters(conn: Connection, _now: float) -> Iterator[Metric]:
    family = GaugeMetricFamily("sms_connector_dead_letters", "Dead letters by job kind",
                               labels=["kind"])
    rows = conn.execute(select(jobs.c.kind, func.count()).where(jobs.c.status == DEAD)
                        .group_by(jobs.c.kind))
    for kind, n in rows:
        family.add_metric([kind], int(n))
    yield family


def _retried(conn: Connection, _now: float) -> Iterator[Metric]:
    family = GaugeMetricFamily(
        "sms_connector_jobs_retried", "Jobs in the store that needed more than one attempt, by "
        "kind (finished jobs are purged after a week)", labels=["kind"])
    rows = conn.execute(select(jobs.c.kind, func.count()).where(jobs.c.attempts > 1)
                        .group_by(jobs.c.kind))
    for kind, n in rows:
        family.add_metric([kind], int(n))
    yield family


def _timers_fired(conn: Connection, _now: float) -> Iterator[Metric]:
    family = GaugeMetricFamily(
        "sms_connector_timers_fired", "Timers that fired and are still kept, by kind and the "
        "rule in their payload (escalations: the policy rule)", labels=["kind", "rule"])
    rule = timers_table.c.payload["rule"].as_string()
    rows = conn.execute(select(timers_table.c.kind, rule, func.count())
                        .where(timers_table.c.fired_at.is_not(None))
                        .group_by(timers_table.c.kind, rule))
    for kind, rule_name, n in rows:
        family.add_metric([kind, _label(rule_name)], int(n))
    yield family


def _opt_outs(conn: Connection, _now: float) -> Iterator[Metric]:
    family = GaugeMetricFamily("sms_connector_opt_outs", "Customers opted out, by channel",
                               labels=["channel"])
    rows = conn.execute(select(opt_outs.c.channel_key, func.count())
                        .group_by(opt_outs.c.channel_key))
    for channel, n in rows:
        family.add_metric([_label(channel)], int(n))
    yield family


def _calls(conn: Connection, _now: float) -> Iterator[Metric]:
    helpdesk = CounterMetricFamily(
        "sms_connector_helpdesk_calls", "Helpdesk API calls by helpdesk and outcome (ok, "
        "rate_limited, client_error, server_error, network_error)",
        labels=["helpdesk", "outcome"])
    limited = CounterMetricFamily("sms_connector_helpdesk_rate_limited",
                                  "Helpdesk API calls answered 429, by helpdesk",
                                  labels=["helpdesk"])
    sms = CounterMetricFamily("sms_connector_sms_api_calls",
                              "SMS provider API calls by provider and outcome",
                              labels=["provider", "outcome"])
    rate_limited: dict[str, int] = {name: 0 for name in HELPDESKS}
    for name, labels, value in read_counters(conn):
        if name == "helpdesk_calls":
            helpdesk.add_metric([labels.get("helpdesk", NONE), labels.get("outcome", NONE)], value)
            if labels.get("outcome") == "rate_limited":
                rate_limited[labels.get("helpdesk", NONE)] = value
        elif name == "sms_api_calls":
            sms.add_metric([labels.get("provider", NONE), labels.get("outcome", NONE)], value)
    for name, value in sorted(rate_limited.items()):
        limited.add_metric([name], value)
    yield helpdesk
    yield limited
    yield sms


FAMILIES: tuple[Family, ...] = (_jobs_by_status, _texts_in, _texts_out, _queue, _dead_letters,
                                _retried, _timers_fired, _opt_outs, _calls)


class StoreCollector(Collector):
    """The store's families, read at scrape time."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        runtime = self.app.extensions["sms_connector"]
        try:
            # This process's own calls (rare in a web process) go in before they are read.
            if runtime.counters.pending:
                runtime.counters.flush()
        except Exception:
            log.warning("metrics: could not write this process's call counts", exc_info=True)
        now = runtime.clock.now()
        failed = 0
        for family in FAMILIES:
            try:
                # A connection per family: on PostgreSQL one failed query spoils its transaction.
                with reading(runtime.engine) as conn:
                    metrics = list(family(conn, now))
            except Exception:  # a scrape must not fail because the database blinked
                failed += 1
                log.warning("metrics: %s skipped", family.__name__.lstrip("_"), exc_info=True)
                continue
            yield from metrics
        up = GaugeMetricFamily("sms_connector_store_up",
                               "1 when every store family was read at this scrape, else 0")
        up.add_metric([], 0 if failed else 1)
        yield up


# -- this process's own ---------------------------------------------------------------------------

WEBHOOK_PREFIX = "/webhooks/"


def _webhook_source() -> str:
    """The provider or helpdesk a webhook route was called for, when it is a registered one (a
    made-up name in the URL must not become a series of its own)."""
    args = request.view_args or {}
    name = args.get("provider") or args.get("kind")
    runtime = current_app.extensions["sms_connector"]
    known = set(runtime.sms_names) | set(HELPDESKS)
    return str(name) if name in known else "unknown"


@bp.record_once
def _setup(state: Any) -> None:
    app: Flask = state.app
    registry = CollectorRegistry()
    requests_total = Counter("sms_connector_http_requests", "HTTP requests answered",
                             ["endpoint", "status"], registry=registry)
    latency = Histogram("sms_connector_http_request_seconds", "Time to answer a request",
                        ["endpoint"], registry=registry,
                        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
    # Senders time out and retry after 10 to 15 s: the buckets reach to where an answer is as
    # good as lost.
    webhook_latency = Histogram(
        "sms_connector_webhook_seconds", "Time to answer a webhook, by route and sender",
        ["endpoint", "source"], registry=registry,
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
    registry.register(StoreCollector(app))
    app.extensions["sms_connector_metrics"] = registry

    @app.before_request
    def _start() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        requests_total.labels(endpoint, str(response.status_code)).inc()
        started = g.get("metrics_started")
        if started is not None:
            elapsed = time.perf_counter() - started
            latency.labels(endpoint).observe(elapsed)
            if endpoint.startswith(WEBHOOK_PREFIX):
                webhook_latency.labels(endpoint, _webhook_source()).observe(elapsed)
        return response


def _authorized(header: str, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time. Bytes, not str: compare_digest
    raises TypeError on a non-ASCII str, and a hostile header must be a 401, not a 500."""
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8", "surrogatepass"),
                               token.encode("utf-8", "surrogatepass"))


@bp.get("/metrics")
def metrics() -> Response | tuple[Response, int, dict[str, str]]:
    token = current_app.extensions["sms_connector"].settings.server.metrics_token
    if token and not _authorized(request.headers.get("Authorization", ""), token):
        body = jsonify(error="Unauthorized", description="a bearer token is required",
                       status=401)
        return body, 401, {"WWW-Authenticate": 'Bearer realm="metrics"'}
    registry = current_app.extensions["sms_connector_metrics"]
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")
