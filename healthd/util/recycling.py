"""When a long-lived process of healthd replaces itself: ``HEALTHD["RECYCLE_SECONDS"]``.

Why at all: over a soak (``python -m bench.soak``) the processes that live as long as a
pod (gunicorn's workers, the Celery worker's main process, beat) gain resident memory
with the hours they have lived (from about 0.1 to 0.9 MB an hour) while their Python
objects, their allocator's heap and their garbage stay flat. A fresh process starts
from the bottom again, so one period (six hours by default) bounds what any of them
gains, however many months the pod runs. How each process is replaced is its server's:
:mod:`healthd.local.gunicorn_recycle` for gunicorn, :mod:`healthd.tasks.recycle` for
Celery. Each waits its period plus up to a tenth more, so processes started together
do not all go together.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

from healthd import conf

JITTER = 0.1  # a process goes after its period plus up to this fraction of it


def period() -> float:
    """``HEALTHD["RECYCLE_SECONDS"]``; 0 (never) when it is not a number >= 0 (the
    system check names the setting at start-up)."""
    value = conf.get().recycle_seconds
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return 0.0
    return float(value)


def delay() -> float | None:
    """Seconds until this process is replaced (its period plus jitter); None: never."""
    seconds = period()
    if seconds <= 0:
        return None
    return seconds * (1 + random.uniform(0, JITTER))


def start(replace: Callable[[float], None]) -> threading.Timer | None:
    """Call ``replace(delay)`` on a daemon timer thread once this process's period is
    over; None (and no thread) when recycling is off."""
    after = delay()
    if after is None:
        return None
    timer = threading.Timer(after, replace, args=(after,))
    timer.name = "healthd recycle"
    timer.daemon = True
    timer.start()
    return timer
