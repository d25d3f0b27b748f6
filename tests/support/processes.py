"""The worker and beat processes the tests start: on the test site, the test database and
this run's queue, each in a session of its own so a test can stop it with everything it
started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.waiting import wait_for

# The repository: the processes' working directory (so they import this checkout).
ROOT = Path(__file__).resolve().parent.parent.parent


def _test_db_name() -> str:
    from django.db import connection

    return connection.settings_dict["NAME"]


def start_process(args: list[str], name: str, extra_env: dict[str, str] | None = None
                  ) -> subprocess.Popen:
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "tests.site.settings",
        "HEALTHD_TEST_WORKER_DB_NAME": _test_db_name(),
        "PYTHONUNBUFFERED": "1",
        "C_FORCE_ROOT": "1",
    })
    env.update(extra_env or {})
    log = open(Path(settings.STATE_DIR) / f"{name}-{settings.RUN_ID}.log", "ab")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tests.site.celery_app", *args],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def stop_process(process: subprocess.Popen, timeout: float = 15.0) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


class WorkerHandle:
    def __init__(self, process: subprocess.Popen, hostname: str, started: float):
        self.process = process
        self.hostname = hostname
        self.started = started
        self.first_run_after: float | None = None


def start_worker(hostname: str, extra_env: dict[str, str] | None = None) -> WorkerHandle:
    from celery import current_app

    started = time.monotonic()
    process = start_process(
        ["worker", "--pool", "threads", "--concurrency", "4", "--hostname", hostname,
         "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
        hostname.split("@")[0], extra_env,
    )
    handle = WorkerHandle(process, hostname, started)

    def answers() -> bool:
        if process.poll() is not None:
            pytest.fail(f"worker exited with {process.returncode}; see its log in the state dir")
        return bool(current_app.control.ping(destination=[hostname], timeout=0.5))

    try:
        wait_for(answers, timeout=60, message=f"worker {hostname} to answer ping")
    except BaseException:
        # The caller never gets the handle to stop: a worker that does not answer (or a
        # broker that refuses the ping) must not outlive the test that started it.
        stop_process(process)
        raise
    return handle
