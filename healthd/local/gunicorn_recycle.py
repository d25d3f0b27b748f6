"""Replace each gunicorn worker after ``HEALTHD["WEB_RECYCLE_SECONDS"]`` (default six hours).

Why: over a soak (``python -m bench.soak``) a web worker's resident memory keeps rising
by about half a megabyte an hour while its Python objects, its allocator's heap and its
garbage stay flat; the rise follows the hours the worker has lived, not the requests it
served. A fresh worker starts from the bottom again, so a worker's growth is bounded by
what it gains in one period (a few megabytes), not by the months a pod runs.

gunicorn's own bound, ``max_requests``, counts requests: a worker serving thousands of
probes a second would be replaced every few seconds, and one behind a single kubelet
probe almost never. gunicorn has no age limit, so this hook adds one, written by hand:
when its time comes (plus up to a tenth more, so a server's workers do not go together)
the worker sends itself SIGTERM, gunicorn's own graceful exit for one worker. It
finishes the request in hand, ``worker_exit`` withdraws its published state, and the
arbiter, still listening on the socket, forks a fresh worker; no connection is refused
meanwhile. A worker of a server that is draining is not replaced: the server stops anyway.
"""

from __future__ import annotations

import os
import random
import signal
import threading

from healthd import conf
from healthd.local import draining
from healthd.util.logs import get_logger

logger = get_logger("healthd.local")

JITTER = 0.1  # a worker goes after its period plus up to this fraction of it


def period() -> float:
    """``HEALTHD["WEB_RECYCLE_SECONDS"]``; 0 (never) when the setting is not a number
    (the system check names it at start-up)."""
    value = conf.get().web_recycle_seconds
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return 0.0
    return float(value)


def start() -> threading.Timer | None:
    """In a gunicorn worker (``post_worker_init``): set its replacement in motion.
    Returns the timer, or None when recycling is off."""
    seconds = period()
    if seconds <= 0:
        return None
    after = seconds * (1 + random.uniform(0, JITTER))
    timer = threading.Timer(after, _recycle, args=(after,))
    timer.name = "healthd web recycle"
    timer.daemon = True
    timer.start()
    return timer


def _recycle(after: float) -> None:
    if draining.is_draining():
        return  # the server is stopping: this worker goes with it
    logger.info("replacing web worker %d after %.0f s (HEALTHD['WEB_RECYCLE_SECONDS'])",
                os.getpid(), after)
    os.kill(os.getpid(), signal.SIGTERM)
