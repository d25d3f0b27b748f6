"""Local checks of the test site's own (HEALTHD["LOCAL_CHECKS"]), steered by the test that
configures them: each records every time it is entered."""

from __future__ import annotations

import threading

from healthd.checks.base import Observation, Status

failing = threading.Event()
# While set, ``hanging`` blocks until ``released`` is set (or 30 s pass).
hang = threading.Event()
released = threading.Event()
entered: list[str] = []


def reset() -> None:
    failing.clear()
    hang.clear()
    released.set()  # a check still hanging from an earlier test ends now
    released.clear()
    entered.clear()


def toggled() -> Observation:
    entered.append(threading.current_thread().name)
    if failing.is_set():
        return Observation("pgbouncer sidecar gone", Status.FAILING)
    return Observation("fine")


def hanging() -> str:
    entered.append(threading.current_thread().name)
    if hang.is_set():
        released.wait(30)
    return "answered"
