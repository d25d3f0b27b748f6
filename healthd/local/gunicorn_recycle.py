"""Replace each gunicorn worker after ``HEALTHD["RECYCLE_SECONDS"]`` (default six hours).

Why: see :mod:`healthd.util.recycling`; a web worker's RSS rises by about half a
megabyte an hour with its age, not with the requests it served.

gunicorn's own bound, ``max_requests``, counts requests: a worker serving thousands of
probes a second would be replaced every few seconds, and one behind a single kubelet
probe almost never. gunicorn has no age limit, so this hook adds one, written by hand:
when its time comes the worker sends itself SIGTERM, gunicorn's own graceful exit for
one worker. It finishes the request in hand, ``worker_exit`` withdraws its published
state, and the arbiter, still listening on the socket, forks a fresh worker; no
connection is refused meanwhile. A worker of a server that is draining is not replaced:
the server stops anyway.
"""

from __future__ import annotations

import os
import signal
import threading

from healthd.local import draining
from healthd.util import recycling
from healthd.util.logs import get_logger

logger = get_logger("healthd.local")


def start() -> threading.Timer | None:
    """In a gunicorn worker (``post_worker_init``): set its replacement in motion.
    Returns the timer, or None when recycling is off."""
    return recycling.start(_recycle)


def _recycle(after: float) -> None:
    if draining.is_draining():
        return  # the server is stopping: this worker goes with it
    logger.info("replacing web worker %d after %.0f s (HEALTHD['RECYCLE_SECONDS'])",
                os.getpid(), after)
    os.kill(os.getpid(), signal.SIGTERM)
