"""``GET /metrics``: Prometheus text format (prometheus_client).

Request counts and latencies per endpoint come from this process; queue depth and dead letters are
read from the database at scrape time, so every web process reports the same shared queue.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

bp = Blueprint("metrics", __name__)


class QueueCollector(Collector):
    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        runtime = self.app.extensions["sms_connector"]
        family = GaugeMetricFamily("sms_connector_jobs", "Jobs in the queue by status",
                                   labels=["status"])
        try:
            counts = runtime.queue.counts()
        except Exception:  # a scrape must not fail because the database blinked
            counts = {}
        for status in ("ready", "running", "done", "dead"):
            family.add_metric([status], counts.get(status, 0))
        yield family


@bp.record_once
def _setup(state: Any) -> None:
    app: Flask = state.app
    registry = CollectorRegistry()
    requests_total = Counter("sms_connector_http_requests", "HTTP requests answered",
                             ["endpoint", "status"], registry=registry)
    latency = Histogram("sms_connector_http_request_seconds", "Time to answer a request",
                        ["endpoint"], registry=registry,
                        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
    registry.register(QueueCollector(app))
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
            latency.labels(endpoint).observe(time.perf_counter() - started)
        return response


@bp.get("/metrics")
def metrics() -> Response:
    registry = current_app.extensions["sms_connector_metrics"]
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")
