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
import signal
import sys
import threading
from typing import Any

from celery import platforms
from celery.worker import state as worker_state

from healthd.tasks import replacing
from healthd.util import recycling
from healthd.util.logs import get_logger

logger = get_logger("healthd.tasks")

# Options with which the same command line would not start the same process again:
# a detached process daemonizes anew (another pid), and one that dropped its privileges
# can no longer take them. Such a process is not replaced (it says so at start).
NOT_REPEATABLE = ("--detach", "-D", "--uid", "--gid")
EX_SOFTWARE = 70  # the exit code when executing the command again fails

_embedded_beat = threading.Event()
_stop_requested = threading.Event()  # a signal asked this process to stop: it exits
_hostname: str | None = None  # the worker's, for refreshing its mark before the exec


def _repeatable() -> bool:
    """Whether running ``sys.orig_argv`` again starts this same process (else: logged)."""
    found = [arg for arg in sys.orig_argv[1:]
             if arg.split("=", 1)[0] in NOT_REPEATABLE]
    if found:
        logger.warning("not replaced after HEALTHD['RECYCLE_SECONDS']: started with %s, "
                       "which the same command line cannot repeat in this process",
                       ", ".join(sorted(set(found))))
    return not found


def on_worker_shutting_down(sender: Any = None, **kwargs: Any) -> None:
    """Celery's ``worker_shutting_down`` receiver (a signal asked the worker to stop): a
    stop asked for while a replacement is under way is a stop, not a replacement."""
    _stop_requested.set()


def _note_stop_requests() -> None:
    """Beat's side of :func:`on_worker_shutting_down`, which beat has no signal for: wrap
    the handlers of the signals that stop it (in its main thread, after Celery
    installed its own)."""
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        previous = signal.getsignal(signum)

        def noted(number: int, frame: Any, previous: Any = previous) -> None:
            _stop_requested.set()
            if callable(previous):
                previous(number, frame)
            elif previous == signal.SIG_DFL:
                signal.signal(number, signal.SIG_DFL)
                os.kill(os.getpid(), number)

        signal.signal(signum, noted)


def _execute_again() -> None:
    """At exit: this process's command line again, in this process (the pid is kept).

    Runs the other exit handlers first (Celery's state database, billiard's joins,
    Sentry's flush, logging's), which the exec would otherwise skip; execs nothing when
    a stop was asked for meanwhile; exits with EX_SOFTWARE when the exec fails, so a
    supervisor restarts the process rather than reading a clean exit.
    """
    atexit.unregister(_execute_again)
    atexit._run_exitfuncs()
    if _stop_requested.is_set():
        return
    if _hostname:
        replacing.mark(_hostname)  # its deadline from now, whatever the shutdown took
    sys.stdout.flush()
    sys.stderr.flush()
    platforms.close_open_fds(keep={0, 1, 2})  # all but the standard streams, as Celery's own
    try:
        # Its own command line as Python got it, run by this same interpreter.
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])  # noqa: S606
    except OSError as exc:
        os.write(2, f"healthd: could not execute the command again: {exc}\n".encode())
        os._exit(EX_SOFTWARE)


def on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    """Celery's ``worker_ready`` receiver (the main process): it is back, if it was being
    replaced; replace it when due."""
    global _hostname
    hostname = getattr(sender, "hostname", None)
    if hostname:
        replacing.unmark(hostname)
    if recycling.period() <= 0 or not _repeatable():
        return
    _hostname = hostname

    def replace(delay: float) -> None:
        if _stop_requested.is_set():
            return
        if hostname:
            replacing.mark(hostname)  # the celery check does not call it missing
        logger.info("replacing the worker's main process %d after %.0f s "
                    "(HEALTHD['RECYCLE_SECONDS']): warm shutdown, then the same command",
                    os.getpid(), delay)
        atexit.register(_execute_again)
        # Celery's warm shutdown, as its own SIGHUP handler asks for it (typed None there).
        worker_state.should_stop = platforms.EX_OK  # type: ignore[assignment]

    recycling.start(replace)


def on_beat_embedded_init(sender: Any = None, **kwargs: Any) -> None:
    """Celery's ``beat_embedded_init`` receiver: this beat goes with its worker."""
    _embedded_beat.set()


def on_beat_init(sender: Any = None, **kwargs: Any) -> None:
    """Celery's ``beat_init`` receiver (``sender``: beat's Service): replace it when due."""
    if recycling.period() <= 0 or sender is None or not _repeatable():
        return
    if threading.current_thread() is threading.main_thread():
        _note_stop_requests()  # an embedded beat's process is not replaced (below)

    def replace(delay: float) -> None:
        if _embedded_beat.is_set() or _stop_requested.is_set():
            return
        logger.info("replacing beat %d after %.0f s (HEALTHD['RECYCLE_SECONDS']): its "
                    "last run times written, then the same command", os.getpid(), delay)
        atexit.register(_execute_again)
        sender.stop()  # the loop ends after its current sleep and syncs the schedule

    recycling.start(replace)
