"""A lean, paced HTTP load client in its own process (used by bench_inbound.py).

    python benchmarks/load_client.py REQUESTS.json RATE

REQUESTS.json: {"url": ..., "requests": [{"body": str, "headers": {...}}, ...], "warmup": N} — the
first N requests are sent but not reported (cold threads, connections, caches); pre-signed and
encoded up front, so the client spends its time sending, not signing. Requests start at a fixed
rate (open loop: a slow answer does not slow the schedule; latency counts from each request's
scheduled start, so queueing in the client counts against the server too).

One thread and a ``selectors`` loop over keep-alive connections: a thread per connection would
make the client's own GIL hand-offs part of every measured latency. A request whose start finds
every connection busy opens a new one.
Prints a JSON list of [latency_seconds, status] to stdout.
"""

from __future__ import annotations

import json
import selectors
import socket
import sys
import time
from urllib.parse import urlsplit


class Connection:
    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.buffer = b""
        self.started = 0.0
        self.index = 0
        self.closing = False  # the server said "Connection: close" (e.g. gunicorn's sync worker)

    def usable(self) -> bool:
        """False once the server closed this idle connection (gunicorn's keep-alive timeout)."""
        try:
            return self.sock.recv(1, socket.MSG_PEEK) != b""
        except BlockingIOError:
            return True

    def response(self) -> int | None:
        """The status once the whole answer is in the buffer, else None."""
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        head = self.buffer[:head_end].decode("latin-1").split("\r\n")
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
            elif name.strip().lower() == "connection" and value.strip().lower() == "close":
                self.closing = True
        end = head_end + 4 + length
        if len(self.buffer) < end:
            return None
        self.buffer = self.buffer[end:]
        return int(head[0].split()[1])


def main() -> None:
    with open(sys.argv[1]) as fh:
        spec = json.load(fh)
    rate = float(sys.argv[2])
    split = urlsplit(spec["url"])
    address = (split.hostname or "127.0.0.1", split.port or 80)
    payloads = []
    for request in spec["requests"]:
        body = request["body"].encode()
        head = [f"POST {split.path} HTTP/1.1", f"Host: {split.netloc}",
                f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in request["headers"].items()]
        payloads.append(("\r\n".join(head) + "\r\n\r\n").encode() + body)

    selector = selectors.DefaultSelector()
    idle: list[Connection] = []
    results: list[tuple[float, int]] = []
    warmup = int(spec.get("warmup", 0))

    def record(conn: Connection, status: int) -> None:
        if conn.index >= warmup:
            results.append((time.perf_counter() - conn.started, status))

    start = time.perf_counter() + 0.2
    sent = 0
    in_flight = 0
    while sent < len(payloads) or in_flight:
        now = time.perf_counter()
        while sent < len(payloads) and start + sent / rate <= now:
            while idle and not idle[-1].usable():
                idle.pop().sock.close()
            conn = idle.pop() if idle else Connection(address)
            try:
                conn.sock.sendall(payloads[sent])  # small bodies: the socket buffer takes them
            except OSError:  # closed between the check and the send: a fresh connection
                conn.sock.close()
                conn = Connection(address)
                conn.sock.sendall(payloads[sent])
            conn.started, conn.index = start + sent / rate, sent
            selector.register(conn.sock, selectors.EVENT_READ, conn)
            sent += 1
            in_flight += 1
        timeout = max(0.0, start + sent / rate - time.perf_counter()) if sent < len(payloads) \
            else 30.0
        events = selector.select(timeout)
        if not events and sent == len(payloads):  # 30 s without an answer: count the rest lost
            for key in list(selector.get_map().values()):
                record(key.data, 0)
            break
        for key, _ in events:
            conn = key.data
            try:
                chunk = conn.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:  # closed by the server: count as a failure
                selector.unregister(conn.sock)
                conn.sock.close()
                record(conn, 0)
                in_flight -= 1
                continue
            conn.buffer += chunk
            status = conn.response()
            if status is not None:
                record(conn, status)
                selector.unregister(conn.sock)
                if conn.closing:
                    conn.sock.close()
                else:
                    idle.append(conn)
                in_flight -= 1
    for conn in idle:
        conn.sock.close()
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
