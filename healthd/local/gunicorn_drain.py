"""gunicorn server hooks that drain a web server before it stops.

In a gunicorn config (the standalone site's ``healthd.site.gunicorn_conf`` does this)::

    from healthd.local.gunicorn_drain import post_worker_init, when_ready, worker_exit

On SIGTERM gunicorn's arbiter closes its listeners at once, and a load balancer still
sending to the pod gets refused connections. With these hooks the first SIGTERM starts
a drain instead: every worker's ``/readyz`` answers 503 "draining" (the shared flag of
:mod:`healthd.local.draining`), every other request is still served, and after
``HEALTHD["DRAIN_SECONDS"]`` the arbiter does its own graceful stop (listeners closed,
workers finish the requests they hold, within ``graceful_timeout``). A second SIGTERM
during the window stops at once (gracefully); SIGINT and SIGQUIT are gunicorn's as ever.

gunicorn has no hook for "SIGTERM received" (its server hooks are on_starting,
when_ready, pre/post_fork, post_worker_init, worker_int/abort/exit, child_exit,
on_exit...), so :func:`when_ready` wraps the arbiter's ``handle_term``, the method its
main loop looks up by name for each queued SIGTERM. The window is measured on a timer
thread, so the arbiter keeps reaping and replacing workers while it drains; a worker
forked during the drain inherits the flag.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from healthd.local import draining, gunicorn_recycle, instances
from healthd.util.logs import get_logger

logger = get_logger("healthd.local")


class _Drain:
    """The arbiter's side: the drain started, and its window ended."""

    def __init__(self, arbiter: Any) -> None:
        self.arbiter = arbiter
        self.stop = arbiter.handle_term  # gunicorn's own: raises StopIteration
        self.started = False
        self.over = False

    def handle_term(self) -> None:
        if self.started or self.over:
            self.stop()  # the window ended, or a second SIGTERM: gunicorn's graceful stop
            return
        self.started = True
        seconds = draining.shared_window()
        draining.begin()  # raises the flag every worker reads
        if seconds <= 0:
            self.stop()
            return
        self.arbiter.log.info("Draining for %g s: /readyz answers 503, requests are served",
                              seconds)
        timer = threading.Timer(seconds, self.end)
        timer.daemon = True
        timer.start()

    def end(self) -> None:
        self.over = True
        # Queued as a signal is, so the main loop handles it between its own steps.
        self.arbiter.signal(signal.SIGTERM, None)


def when_ready(server: Any) -> None:
    """gunicorn's ``when_ready`` hook (in the arbiter): drain on the first SIGTERM."""
    draining.reset()  # a re-executed arbiter starts afresh
    server.handle_term = _Drain(server).handle_term


def post_worker_init(worker: Any) -> None:
    """gunicorn's ``post_worker_init`` hook (in each worker, the app loaded): tell the
    arbiter the drain window from the site's settings, start publishing this process's
    state, and set when a fresh worker replaces this one (:mod:`.gunicorn_recycle`)."""
    try:
        draining.share_window()
    except Exception as exc:  # broad: a worker must boot even if the settings are odd
        logger.warning("could not read HEALTHD['DRAIN_SECONDS']: %s", exc)
    instances.start()
    try:
        gunicorn_recycle.start()
    except Exception as exc:  # broad: as above
        logger.warning("could not read HEALTHD['RECYCLE_SECONDS']: %s", exc)


def worker_exit(server: Any, worker: Any) -> None:
    """gunicorn's ``worker_exit`` hook (in the worker): its published state goes at once."""
    instances.withdraw()
