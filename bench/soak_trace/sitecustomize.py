"""Loaded by every process of ``python -m bench.soak --trace`` (this folder is put first on
PYTHONPATH): where does a process's Python memory grow?

Each process (and each child forked from it: gunicorn's workers, Celery's pool) traces
its allocations (``PYTHONTRACEMALLOC`` sets the frames kept) and, every
``HEALTHD_SOAK_TRACE_EVERY`` seconds, dumps a snapshot to
``HEALTHD_SOAK_TRACE_DIR/<pid>-<seconds>.snap``; ``bench.soak`` compares the one from the
middle of the run with the last. Written by hand because nothing installed does this
across forks: a thread does not survive ``fork()``, so each child starts its own.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import tracemalloc

_DIRECTORY = os.environ.get("HEALTHD_SOAK_TRACE_DIR")
_EVERY = float(os.environ.get("HEALTHD_SOAK_TRACE_EVERY", "60"))


def _dump_forever() -> None:
    started = time.monotonic()
    pid = os.getpid()
    role = " ".join(os.path.basename(arg) for arg in sys.argv[:4])
    with open(os.path.join(_DIRECTORY, f"{pid}.role"), "w") as handle:
        handle.write(role)
    while True:
        time.sleep(_EVERY)
        if os.getpid() != pid:  # a fork of this process: its own thread dumps for it
            return
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)])
        name = os.path.join(_DIRECTORY, f"{pid}-{round(time.monotonic() - started):06d}.snap")
        snapshot.dump(name + ".part")
        os.replace(name + ".part", name)


def _start() -> None:
    if not _DIRECTORY or not tracemalloc.is_tracing():
        return
    threading.Thread(target=_dump_forever, name="soak-trace", daemon=True).start()


_start()
os.register_at_fork(after_in_child=_start)
