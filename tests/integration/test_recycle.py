"""The Celery worker's main process and beat replace themselves after
``HEALTHD["RECYCLE_SECONDS"]`` (healthd.tasks.recycle): same pid, a fresh process behind
it, nothing lost and nothing sent twice. Real processes on a queue of their own."""

from __future__ import annotations

import itertools
import json
import time
from datetime import datetime
from pathlib import Path

import pytest
from celery import current_app
from django.conf import settings

from healthd.tasks.schedule import RUN_TASK, sync_schedule
from tests.support.processes import start_process, start_worker, stop_process
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

RECYCLE = 3  # seconds (plus up to a tenth)
EVERY = 2  # seconds between runs of the checks, in the beat test


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
        assert _count(log, "replacing the worker's main process") >= 1
        assert handle.process.poll() is None, "the process a supervisor watches exited"
        assert handle.process.pid == pid
        # The fresh process is the worker: it answers Celery's own ping by its name.
        wait_for(lambda: bool(current_app.control.ping(destination=[hostname], timeout=0.5)),
                 timeout=30, message="the replaced worker to answer ping")
        assert "Traceback" not in log.read_text(errors="replace")
    finally:
        stop_process(handle.process)


def _stamp(line: str) -> float:
    """The time of a Celery log line: ``[2026-12-06 11:34:24,271: INFO/MainProcess] …``."""
    return datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def _sent_at(log: Path) -> list[float]:
    """When beat sent a run of the checks, by its log's timestamps."""
    times = []
    for line in log.read_text(errors="replace").splitlines():
        if "Sending due task" in line and RUN_TASK in line:
            times.append(_stamp(line))
    return times


def test_beat_is_replaced_in_place_and_sends_nothing_twice(settings):
    settings.HEALTHD = {**settings.HEALTHD, "INTERVAL": EVERY}
    sync_schedule()  # the checks every 2 s, in the rows beat reads
    name = f"recycle-beat-{time.monotonic_ns()}"
    env = _env(name)
    beat = start_process(["beat", "--scheduler", "healthd.beat:Scheduler", "--loglevel", "INFO",
                          "--max-interval", "1"], name, env)
    log = _log(name)
    try:
        wait_for(lambda: _count(log, "beat: Starting...") >= 3, timeout=60,
                 message="beat to be replaced twice")
        assert _count(log, "replacing beat") >= 2
        assert beat.poll() is None, "the process a supervisor watches exited"
        # Runs were sent by the fresh beats too, and never twice: each beat wrote its last
        # run times before it went, so the next one did not send at once what was just sent.
        starts = [_stamp(line) for line in log.read_text(errors="replace").splitlines()
                  if "beat: Starting..." in line]
        sent = _sent_at(log)
        assert any(t > starts[-2] for t in sent), "the replaced beat sent nothing"
        gaps = [b - a for a, b in itertools.pairwise(sent)]
        assert gaps and min(gaps) > EVERY * 0.75, gaps
        assert "Traceback" not in log.read_text(errors="replace")
    finally:
        stop_process(beat)
