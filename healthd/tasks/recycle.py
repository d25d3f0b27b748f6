"""Replace the Celery worker's main process and beat after ``HEALTHD["RECYCLE_SECONDS"]``.

Why: see :mod:`healthd.util.recycling`. The pool's processes are already replaced after
``CELERY_WORKER_MAX_TASKS_PER_CHILD`` tasks; this is for the two processes that live as
long as the pod.

Each one stops as it does on a warm shutdown and then executes its own command line
again, in the same process: the pid a supervisor (Kubernetes, honcho, ``healthd run``)
watches never exits, so nothing restarts the pod or the other processes. The worker
finishes the tasks it holds (Celery's ``should_stop``, which its own SIGHUP restart
sets); beat writes its last run times, so the fresh beat sends nothing twice. Celery's
SIGHUP restart is not used as it is: it executes ``sys.argv``, which under
``python -m celery`` names ``celery/__main__.py`` as a script and fails to import, and
beat has no restart at all; so the command line is ``sys.orig_argv``, as Python got it.
The gap is a few seconds (beat's next tick at most, then a boot); runs due meanwhile
are sent or taken as soon as the fresh process is up. An embedded beat (``worker -B``)
is not replaced on its own: it goes with its worker.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import Any

from celery import platforms
from celery.worker import state as worker_state

from healthd.tasks import replacing
from healthd.util import recycling
from healthd.util.logs import get_logger

logger = get_logger("healthd.tasks")

_embedded_beat = threading.Event()


def _after(delay: float, action: Any) -> threading.Timer:
    timer = threading.Timer(delay, action)
    timer.name = "healthd recycle"
    timer.daemon = True
    timer.start()
    return timer


def _execute_again() -> None:
    """At exit: this process's command line again, in this process (the pid is kept)."""
    platforms.close_open_fds(keep={0, 1, 2})  # all but the standard streams, as Celery's own
    # Its own command line as Python got it, run by this same interpreter.
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])  # noqa: S606


def on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    """Celery's ``worker_ready`` receiver (the main process): it is back, if it was being
    replaced; replace it when due."""
    hostname = getattr(sender, "hostname", None)
    if hostname:
        replacing.unmark(hostname)
    delay = recycling.delay()
    if delay is None:
        return

    def replace() -> None:
        if hostname:
            replacing.mark(hostname)  # the celery check does not call it missing
        logger.info("replacing the worker's main process %d after %.0f s "
                    "(HEALTHD['RECYCLE_SECONDS']): warm shutdown, then the same command",
                    os.getpid(), delay)
        atexit.register(_execute_again)
        # Celery's warm shutdown, as its own SIGHUP handler asks for it (typed None there).
        worker_state.should_stop = platforms.EX_OK  # type: ignore[assignment]

    _after(delay, replace)


def on_beat_embedded_init(sender: Any = None, **kwargs: Any) -> None:
    """Celery's ``beat_embedded_init`` receiver: this beat goes with its worker."""
    _embedded_beat.set()


def on_beat_init(sender: Any = None, **kwargs: Any) -> None:
    """Celery's ``beat_init`` receiver (``sender``: beat's Service): replace it when due."""
    delay = recycling.delay()
    if delay is None or sender is None:
        return

    def replace() -> None:
        if _embedded_beat.is_set():
            return
        logger.info("replacing beat %d after %.0f s (HEALTHD['RECYCLE_SECONDS']): its "
                    "last run times written, then the same command", os.getpid(), delay)
        atexit.register(_execute_again)
        sender.stop()  # the loop ends after its current sleep and syncs the schedule

    _after(delay, replace)
