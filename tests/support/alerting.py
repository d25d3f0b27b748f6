"""What the alerting tests share: a real HTTP server on loopback that records what it is
sent (a webhook receiver, an Apprise json:// endpoint, a Sentry ingest that counts
envelopes), and the receivers a worker process is given."""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis
from django.conf import settings

from healthd import signals


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self) -> object:
        return json.loads(self.body)


class LoopbackServer:
    """Answers POSTs with the next status of ``statuses`` (then 200) and keeps each one."""

    def __init__(self, statuses: list[int] | None = None):
        self.statuses = list(statuses or [])
        self.received: list[Received] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with server.lock:
                    server.received.append(Received(
                        self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    status = server.statuses.pop(0) if server.statuses else 200
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def bodies(self) -> list[object]:
        with self.lock:
            return [r.json() for r in self.received]


def envelope_items(request: Received) -> Iterator[tuple[dict, bytes]]:
    """The (item header, payload) pairs of one Sentry envelope as sent over HTTP."""
    body = request.body
    encoding = request.headers.get("content-encoding", "")
    if encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding == "deflate":
        body = zlib.decompress(body)
    _, _, rest = body.partition(b"\n")  # the envelope header
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        header = json.loads(line)
        if "length" in header:
            payload, rest = rest[:header["length"]], rest[header["length"]:]
            rest = rest[1:] if rest.startswith(b"\n") else rest
        else:
            payload, _, rest = rest.partition(b"\n")
        yield header, payload


def sentry_events(server: LoopbackServer) -> list[dict]:
    """Every error or message event the server received (not sessions, not check-ins)."""
    events = []
    with server.lock:
        received = list(server.received)
    for request in received:
        for header, payload in envelope_items(request):
            if header.get("type") == "event":
                events.append(json.loads(payload))
    return events


# --- receivers for worker processes (tests/site/celery_app.py connects them) ---------------

def _flags() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, decode_responses=True)


def receiver_key(name: str) -> str:
    return f"{settings.KEY_PREFIX}alerting-receiver:{name}"


def connect_blocking_receiver() -> None:
    """A check_failed receiver that records each call and blocks inside the first one
    (until the test releases it, at most a minute), so the test can kill the worker."""
    def blocking(sender, check, transition_id, **kwargs):
        flags = _flags()
        flags.rpush(receiver_key("calls"), f"{check}:{transition_id}")
        if flags.set(receiver_key("blocked-once"), "1", nx=True):
            deadline = time.monotonic() + 60
            while not flags.get(receiver_key("release")) and time.monotonic() < deadline:
                time.sleep(0.05)

    signals.check_failed.connect(blocking, weak=False)
