"""Replace each uvicorn worker after ``HEALTHD["RECYCLE_SECONDS"]`` (default six hours).

Why: see :mod:`healthd.util.recycling`. uvicorn has no age limit (its
``--limit-max-requests`` counts requests, as gunicorn's ``max_requests`` does), but its
multiprocess supervisor (``--workers N``, as ``healthd run --asgi`` starts it) starts a
fresh worker for one that exited. So when its time comes a worker closes its listeners,
gives the connections it has just accepted a second to send their request, then sets
its server's ``should_exit``, which is what uvicorn's own SIGTERM handler sets: it
finishes the requests it holds, runs the lifespan shutdown (which withdraws its published
state) and exits 0, while the other workers go on accepting on the shared socket and the
supervisor starts the replacement within half a second. Written by hand because uvicorn
has no hook for it; the server is found through the SIGTERM handler it installs (its
bound ``handle_exit``), so no other server is touched. A uvicorn of one process (no
``--workers``, or ``--reload``) is not replaced: nothing would start it again.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from healthd.local import draining
from healthd.util import recycling
from healthd.util.logs import get_logger

logger = get_logger("healthd.local")

ACCEPT_GRACE = 1.0  # seconds between closing the listeners and uvicorn's shutdown


def supervised_server(handler: Callable[..., Any] | None) -> Any | None:
    """The uvicorn ``Server`` whose ``handle_exit`` is ``handler``, when a supervisor of
    several workers started it (so one exiting is replaced); None otherwise."""
    server = getattr(handler, "__self__", None)
    config = getattr(server, "config", None)
    if server is None or config is None or not hasattr(server, "should_exit"):
        return None
    if getattr(config, "should_reload", False) or getattr(config, "workers", 1) <= 1:
        return None
    return server


def start(handler: Callable[..., Any] | None) -> threading.Timer | None:
    """In a uvicorn worker (lifespan startup), given the server's own SIGTERM handler:
    set its replacement in motion. Returns the timer, or None when there is none (off,
    or a server nothing would start again, which is logged)."""
    if recycling.period() <= 0:
        return None
    server = supervised_server(handler)
    if server is None:
        logger.info("web process %d is not replaced after HEALTHD['RECYCLE_SECONDS']: "
                    "it is not one of several uvicorn workers (--workers N), so nothing "
                    "would start it again", os.getpid())
        return None
    return recycling.start(lambda after: _recycle(server, after))


def _recycle(server: Any, after: float) -> None:
    if draining.is_draining():
        return  # the server is stopping: this worker goes with it
    logger.info("replacing web worker %d after %.0f s (HEALTHD['RECYCLE_SECONDS'])",
                os.getpid(), after)
    _stop_accepting(server)
    # uvicorn's shutdown closes every connection with no request in hand, one it has just
    # accepted included: so first stop accepting (the other workers take the new
    # connections), and leave those just accepted the time to send their request.
    time.sleep(ACCEPT_GRACE)
    server.should_exit = True


def _stop_accepting(server: Any) -> None:
    """Close this worker's listeners (uvicorn's shutdown does it too, later), from the
    timer thread through each listener's event loop."""
    for listener in getattr(server, "servers", None) or []:
        listener.get_loop().call_soon_threadsafe(listener.close)
