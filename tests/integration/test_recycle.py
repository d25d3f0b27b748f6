"""The Celery worker's main process and beat replace themselves after
``HEALTHD["RECYCLE_SECONDS"]`` (healthd.tasks.recycle): same pid, a fresh process behind
it, nothing lost and nothing sent twice. Real processes on a queue of their own."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from celery import current_app
from django.conf import settings

from healthd.tasks.schedule import RUN_TASK, sync_schedule
from tests.support.processes import start_process, start_worker, stop_process
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

RECYCLE = 3  # seconds (plus up to a tenth)
EVERY = 30  # seconds between runs of the checks in the beat test: longer than the test


def _env(name: str, **overrides: object) -> dict[str, str]:
    return {"HEALTHD_TEST_QUEUE": f"recycle-{name}-{settings.RUN_ID}",
            "HEALTHD_TEST_OVERRIDES": json.dumps({"RECYCLE_SECONDS": RECYCLE, **overrides})}


def _log(name: str) -> Path:
    return Path(settings.STATE_DIR) / f"{name}-{settings.RUN_ID}.log"


def _count(log: Path, text: str) -> int:
    return log.read_text(errors="replace").count(text) if log.exists() else 0


def test_the_worker_main_process_is_replaced_in_place_and_answers_again():
    name = f"recycle-worker-{time.monotonic_ns()}"
    hostname = f"{name}@localhost"
    handle = start_worker(hostname, _env(name))
    log = _log(name)
    try:
        pid = handle.process.pid
        wait_for(lambda: _count(log, " ready.") >= 2, timeout=60,
                 message="the worker to be replaced and ready again")
        # The process replaced is the one the supervisor started, and it is still there.
        replaced = re.search(r"replacing the worker's main process (\d+)", log.read_text())
        assert replaced and int(replaced.group(1)) == pid
        assert handle.process.poll() is None, "the process a supervisor watches exited"
        # The fresh process is the worker: it answers Celery's own ping by its name.
        wait_for(lambda: bool(current_app.control.ping(destination=[hostname], timeout=0.5)),
                 timeout=30, message="the replaced worker to answer ping")
        assert "Traceback" not in log.read_text(errors="replace")
    finally:
        stop_process(handle.process)


def test_a_stop_asked_for_during_a_replacement_is_a_stop():
    name = f"recycle-stop-{time.monotonic_ns()}"
    handle = start_worker(f"{name}@localhost", _env(name))
    log = _log(name)
    try:
        wait_for(lambda: _count(log, "replacing the worker's main process") >= 1,
                 timeout=30, interval=0.02, message="the replacement to start")
        os.killpg(handle.process.pid, signal.SIGTERM)  # as a supervisor stops a pod
        handle.process.wait(30)
        assert _count(log, " ready.") == 1, "the worker started again instead of stopping"
    finally:
        stop_process(handle.process)


def test_beat_is_replaced_in_place_and_sends_nothing_twice(settings):
    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask

    settings.HEALTHD = {**settings.HEALTHD, "INTERVAL": EVERY}
    sync_schedule()
    # Due at once: the first beat sends each run of the checks, and none again within
    # EVERY seconds, whichever beat it is.
    PeriodicTask.objects.filter(task=RUN_TASK).update(
        last_run_at=timezone.now() - timedelta(seconds=EVERY + 1))
    name = f"recycle-beat-{time.monotonic_ns()}"
    beat = start_process(["beat", "--scheduler", "healthd.beat:Scheduler", "--loglevel", "INFO",
                          "--max-interval", "1"], name, _env(name))
    log = _log(name)
    started = time.monotonic()
    try:
        wait_for(lambda: _count(log, "beat: Starting...") >= 3, timeout=EVERY - 5,
                 message="beat to be replaced twice")
        assert time.monotonic() - started < EVERY
        replaced = re.findall(r"replacing beat (\d+)", log.read_text())
        assert len(replaced) >= 2 and {int(p) for p in replaced} == {beat.pid}
        assert beat.poll() is None, "the process a supervisor watches exited"
        sent = Counter(line.split("Sending due task", 1)[1].strip()
                       for line in log.read_text(errors="replace").splitlines()
                       if "Sending due task" in line and RUN_TASK in line)
        assert sent and set(sent.values()) == {1}, sent
        assert "Traceback" not in log.read_text(errors="replace")
    finally:
        stop_process(beat)
