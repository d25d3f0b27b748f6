"""Draining for an ASGI server (uvicorn, as ``healthd run --asgi`` starts it).

In the site's ASGI module, outermost::

    application = drains(probes(get_asgi_application()))

uvicorn has no hook around its SIGTERM handling: its ``Server`` installs its own handler
when it starts serving and, on SIGTERM, closes its listeners at once. Its lifespan
startup runs after that handler is installed and in the main thread, so :func:`drains`
answers the lifespan protocol (Django's ASGI handler does not speak it) and, on startup,
wraps the server's SIGTERM handler: the first SIGTERM raises this process's drain flag
(``/readyz`` answers 503 "draining", every other request is served) and hands the signal
to uvicorn only ``HEALTHD["DRAIN_SECONDS"]`` later, from a timer thread (uvicorn's
handler only sets the flag its main loop polls). A second SIGTERM goes to uvicorn at
once. With ``--workers N`` uvicorn's parent sends SIGTERM to each worker, which drains.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

from healthd.local import asgi_recycle, draining, instances
from healthd.util.logs import get_logger

logger = get_logger("healthd.local")

Scope = dict[str, Any]
Receive = Callable[..., Awaitable[Any]]
Send = Callable[..., Awaitable[Any]]
ASGIApplication = Callable[[Scope, Receive, Send], Awaitable[None]]
Handler = Callable[[int, FrameType | None], Any]


def wrap_sigterm() -> Handler | None:
    """Make the server's SIGTERM handler wait out the drain window first, and return that
    handler of the server's; None when there is none to wrap (or this is not the main
    thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return None
    server_handler: Handler = previous
    started = threading.Event()

    def drain_then_stop(sig: int, frame: FrameType | None) -> None:
        if started.is_set() or draining.is_draining():
            server_handler(sig, frame)  # a second SIGTERM, or drained already: stop now
            return
        started.set()
        seconds = draining.drain_seconds()
        draining.begin()
        if seconds <= 0:
            server_handler(sig, frame)
            return
        timer = threading.Timer(seconds, server_handler, (sig, None))
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, drain_then_stop)
    return server_handler


def drains(application: ASGIApplication) -> ASGIApplication:
    """``application`` with the lifespan protocol answered here: on startup the server's
    SIGTERM is made to drain first, this process starts publishing its state and its
    replacement is set (:mod:`.asgi_recycle`); on shutdown its published state is
    withdrawn. Other scopes go to ``application``."""

    async def draining_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await application(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                server_handler = wrap_sigterm()
                if server_handler is None:
                    logger.warning("no server SIGTERM handler to wrap: this process will "
                                   "not drain before it stops")
                instances.start()
                try:
                    asgi_recycle.start(server_handler)
                except Exception as exc:  # broad: a worker must serve even if the settings are odd
                    logger.warning("could not read HEALTHD['RECYCLE_SECONDS']: %s", exc)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                instances.withdraw()
                await send({"type": "lifespan.shutdown.complete"})
                return

    return draining_app
