"""A lean, paced HTTP load client in its own process (used by bench_inbound.py).

    python benchmarks/load_client.py REQUESTS.json RATE

REQUESTS.json: {"url": ..., "requests": [{"body": str, "headers": {...}}, ...]} — pre-signed, so
the client spends its time sending, not signing. Requests start at a fixed rate (open loop: a slow
answer does not slow the schedule) over keep-alive connections of http.client, one per thread.
Prints a JSON list of [latency_seconds, status] to stdout.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from queue import Queue
from urllib.parse import urlsplit


def main() -> None:
    with open(sys.argv[1]) as fh:
        spec = json.load(fh)
    rate = float(sys.argv[2])
    split = urlsplit(spec["url"])
    path = split.path
    jobs: Queue[tuple[float, dict[str, object]] | None] = Queue()
    results: list[tuple[float, int]] = []
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection(split.hostname, split.port, timeout=30)
        while True:
            item = jobs.get()
            if item is None:
                conn.close()
                return
            scheduled, request = item
            while (delay := scheduled - time.perf_counter()) > 0:
                time.sleep(delay)
            try:
                conn.request("POST", path, body=request["body"], headers=request["headers"])
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(split.hostname, split.port, timeout=30)
                status = 0
            # Latency from the scheduled start: queueing in the client counts against us too.
            elapsed = time.perf_counter() - scheduled
            with lock:
                results.append((elapsed, status))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    start = time.perf_counter() + 0.2
    for n, request in enumerate(spec["requests"]):
        jobs.put((start + n / rate, request))
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join()
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
