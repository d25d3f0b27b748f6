"""Serving the endpoint tests both ways: Django's WSGI handler and its ASGI handler.

A module that imports :func:`client` from here runs each of its tests twice: with
Django's test client (WSGI) and with its async test client (ASGI), driven from the
synchronous test on one event loop that lives as long as the test session, as a
server's does (so the store's asyncio client is made once, in that loop).

It also has the callers the early-answer tests use: one WSGI or ASGI request against any
application, returning what a server would send.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import AsyncClient, Client


class EventLoopThread:
    """An event loop running in a thread of its own, as a server's does."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="asgi-loop",
                                       daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


_loop: EventLoopThread | None = None


def event_loop_thread() -> EventLoopThread:
    """The session's one event loop, started the first time a test asks for it."""
    global _loop
    if _loop is None:
        _loop = EventLoopThread()
    return _loop


class ASGITestClient:
    """Django's AsyncClient with the synchronous Client's calls: ``HTTP_*`` keywords are
    request headers, as with the WSGI test client."""

    def __init__(self, loop: EventLoopThread) -> None:
        self._client = AsyncClient()
        self._loop = loop

    def _call(self, method: str, path: str, data: Any = None, **extra: Any) -> Any:
        headers = {key[5:].replace("_", "-"): value
                   for key, value in list(extra.items()) if key.startswith("HTTP_")}
        for key in list(extra):
            if key.startswith("HTTP_"):
                del extra[key]
        call = getattr(self._client, method)
        return self._loop.run(call(path, data, headers=headers, **extra))

    def get(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self._call("get", path, data, **extra)

    def head(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self._call("head", path, data, **extra)

    def post(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self._call("post", path, data, **extra)

    def force_login(self, user: Any) -> None:
        """Log ``user`` in for the requests that follow, as the WSGI client does."""
        self._loop.run(self._client.aforce_login(user))


@pytest.fixture(params=["wsgi", "asgi"])
def client(request: pytest.FixtureRequest) -> Iterator[Client | ASGITestClient]:
    """The test client, once per way Django serves a request."""
    if request.param == "wsgi":
        yield Client()
    else:
        yield ASGITestClient(event_loop_thread())


# --- one request against an application, as a server sends it -----------------------------


@dataclass(frozen=True)
class Sent:
    """What a server sends back: the status, the headers in order, the body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    # WSGI's reason phrase (ASGI sends none).
    reason: str = field(default="", compare=False)


def call_wsgi(application: Any, path: str, query: str = "", method: str = "GET",
              host: str = "10.1.2.3:8000", headers: dict[str, str] | None = None,
              scheme: str = "http") -> Sent:
    """One request through a WSGI application, with a pod's IP address as its Host."""
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
        "SCRIPT_NAME": "", "SERVER_NAME": host.split(":")[0], "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": host, "REMOTE_ADDR": "10.1.2.1",
        "wsgi.input": io.BytesIO(), "wsgi.errors": io.StringIO(), "wsgi.url_scheme": scheme,
        "wsgi.version": (1, 0), "wsgi.multithread": False, "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, response_headers: list[tuple[str, str]],
                       exc_info: Any = None) -> None:
        started.append((status, response_headers))

    chunks = application(environ, start_response)
    body = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    status, response_headers = started[0]
    code, _, reason = status.partition(" ")
    return Sent(int(code), tuple(response_headers), body, reason)


async def _call_asgi(application: Any, scope: dict[str, Any]) -> Sent:
    sent: list[dict[str, Any]] = []
    requests = [{"type": "http.request", "body": b"", "more_body": False}]
    disconnected = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if requests:
            return requests.pop()
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            disconnected.set()

    await application(scope, receive, send)
    start = sent[0]
    headers = tuple((name.decode("latin1"), value.decode("latin1"))
                    for name, value in start["headers"])
    return Sent(start["status"], headers, b"".join(m.get("body", b"") for m in sent[1:]))


def call_asgi(application: Any, path: str, query: str = "", method: str = "GET",
              host: str = "10.1.2.3:8000", headers: dict[str, str] | None = None,
              scheme: str = "http") -> Sent:
    """One request through an ASGI application on the session's event loop."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": method, "scheme": scheme, "path": path, "raw_path": path.encode(),
        "query_string": query.encode(), "root_path": "",
        "headers": [(b"host", host.encode()),
                    *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())],
        "client": ("10.1.2.1", 40000), "server": (host.split(":")[0], 8000),
    }
    return event_loop_thread().run(_call_asgi(application, scope))
