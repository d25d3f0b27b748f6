"""Fixtures: a real Redis (this run's keys only), real worker and beat processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings

import tests.site.celery_app  # noqa: F401 - makes the tests' Celery app the current app
from healthd import conf, store
from healthd.alerting.notify import metrics as notify_metrics
from healthd.daemon import embedded
from healthd.store import client as redis_client
from healthd.store import health as state
from tests.support import TOGGLED

ROOT = Path(__file__).resolve().parent.parent


def wait_for(predicate: Callable[[], object], timeout: float = 15.0, interval: float = 0.05,
             message: str = "condition") -> object:
    """Poll until predicate() is truthy; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {message}")
        time.sleep(interval)


@pytest.fixture
def redis_conn() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    yield client
    client.close()


def _delete_own_keys() -> None:
    client = redis.Redis.from_url(settings.REDIS_URL)
    layout = store.Keys(settings.KEY_PREFIX)
    client.delete(*layout.all_fixed())
    locks = list(client.scan_iter(match=layout.run_lock_pattern, count=1000))
    locks += list(client.scan_iter(match=store.hash_tagged(settings.KEY_PREFIX) + "passive*",
                                   count=1000))
    if locks:
        client.delete(*locks)
    client.close()


@pytest.fixture(autouse=True)
def fresh_state() -> Iterator[None]:
    """Each test starts with no stored results and no memoised settings or snapshot."""
    conf.get.cache_clear()
    state.forget()
    notify_metrics.forget()
    _delete_own_keys()
    yield
    conf.get.cache_clear()
    state.forget()
    redis_client.forget_clients()
    _delete_own_keys()


def pytest_sessionfinish(session, exitstatus) -> None:
    """Leave nothing of this run behind in Redis, nor the embedded Redis if it started it."""
    try:
        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = [key for pattern in (f"{settings.KEY_PREFIX}*",
                                    store.Keys(settings.KEY_PREFIX).pattern)
                for key in client.scan_iter(match=pattern, count=1000)]
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass
    embedded.stop_owned_redis()


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

    wait_for(answers, timeout=60, message=f"worker {hostname} to answer ping")
    return handle


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker) -> Iterator[WorkerHandle]:
    """A real Celery worker process on this run's queue, using the test database."""
    with django_db_blocker.unblock():
        handle = start_worker(f"worker-{settings.RUN_ID}@localhost")
        client = redis.Redis.from_url(settings.REDIS_URL)
        # The first run a worker queues on start-up (an assertion of its own in the tests).
        wait_for(lambda: client.hlen(store.Keys(settings.KEY_PREFIX).latest) > 0, timeout=60,
                 message="the first run after the worker started")
        handle.first_run_after = time.monotonic() - handle.started
        client.close()
    yield handle
    stop_process(handle.process)


@pytest.fixture
def toggled_check(settings):
    """The one configured check: "toggled" (tests.support.toggled), passing until the test
    sets TOGGLED["fail"]."""
    TOGGLED["fail"] = False
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": [
        {"check": "tests.support.toggled", "name": "toggled", "timeout": 2}]}
    yield
    TOGGLED["fail"] = False
