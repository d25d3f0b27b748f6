"""Fixtures: a real Redis (this run's keys only), real worker and beat processes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings

import tests.site.celery_app  # noqa: F401 - makes the tests' Celery app the current app
from healthd import conf, store
from healthd.alerting.notify import metrics as notify_metrics
from healthd.daemon import embedded
from healthd.local import draining, instances
from healthd.local import verdict as local_verdict
from healthd.probes import answers as probe_answers
from healthd.store import client as redis_client
from healthd.store import health as state
from tests.support.processes import WorkerHandle, start_worker, stop_process
from tests.support.results import TOGGLED
from tests.support.sentry import sentry_envelopes  # noqa: F401 - Sentry as sites run it
from tests.support.waiting import wait_for


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
    for kind in ("passive*", "instance*", "test-mark*"):
        locks += list(client.scan_iter(match=store.hash_tagged(settings.KEY_PREFIX) + kind,
                                       count=1000))
    if locks:
        client.delete(*locks)
    client.close()


@pytest.fixture(autouse=True)
def fresh_state() -> Iterator[None]:
    """Each test starts with no stored results and no memoised settings or snapshot."""
    conf.get.cache_clear()
    state.forget()
    local_verdict.forget()
    probe_answers.forget_startup()
    notify_metrics.forget()
    instances.forget()
    draining.reset()
    _delete_own_keys()
    yield
    conf.get.cache_clear()
    state.forget()
    local_verdict.forget()
    probe_answers.forget_startup()
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
    """The one configured check: "toggled" (tests.support.results.toggled), passing until
    the test sets TOGGLED["fail"]."""
    TOGGLED["fail"] = False
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": [
        {"check": "tests.support.results.toggled", "name": "toggled", "timeout": 2}]}
    yield
    TOGGLED["fail"] = False
