"""Gathering stats: a hung provider costs its timeout once, and no thread per gathering."""

from __future__ import annotations

import threading
import time

import pytest

from healthd import store
from healthd.compat.status import stats
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db

release = threading.Event()
calls: list[int] = []


def hanging_provider() -> dict:
    calls.append(1)
    release.wait(30)
    return {"late": True}


def quick_provider() -> dict:
    return {"open": 3, "secret": "redis://:hunter2secret@db.internal:6379/0"}


@pytest.fixture(autouse=True)
def released():
    release.clear()
    calls.clear()
    yield
    release.set()


def test_a_hung_provider_does_not_add_a_thread_per_gathering(settings):
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": ["database"], "TIMEOUT": 0.3}
    settings.STATUS_PROVIDERS = {"business": (
        ("slow", "tests.compat.status.test_stats.hanging_provider"),
        ("quick", "tests.compat.status.test_stats.quick_provider"))}
    before = threading.active_count()
    first = stats.gather_stats()
    assert first["providers"]["business"]["slow"] == {
        "error": "TimeoutError: no answer within 0.3 s"}
    counts = []
    for _ in range(5):
        started = time.monotonic()
        again = stats.gather_stats()
        assert time.monotonic() - started < 0.3  # nothing waits on the hung one again
        assert "has still not returned" in again["providers"]["business"]["slow"]["error"]
        assert again["providers"]["business"]["quick"]["value"]["open"] == 3
        counts.append(threading.active_count())
    assert max(counts) <= before + 1, (before, counts)  # the one hung thread, no more
    assert len(calls) == 1
    release.set()
    wait_for(lambda: "value" in stats.gather_stats()["providers"]["business"]["slow"],
             timeout=5, message="the provider to be called again once it returned")


def test_provider_values_are_redacted_json(settings):
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": ["database"]}
    settings.STATUS_PROVIDERS = {"business": (
        ("quick", "tests.compat.status.test_stats.quick_provider"),)}
    gathered = stats.gather_stats()
    value = gathered["providers"]["business"]["quick"]["value"]
    assert value["open"] == 3 and "hunter2secret" not in value["secret"]
    assert set(gathered["builtin"]) >= {"databases", "code"}


def test_the_stored_copy_is_dropped_when_a_setting_changes(settings, redis_conn):
    stats.store_stats({"gathered_at": time.time(), "builtin": {}, "providers": {}})
    assert stats.latest_stats().data is not None
    redis_conn.delete(store.Keys(settings.KEY_PREFIX).stats)
    settings.STATUS_PROVIDERS = {}  # any setting change
    assert stats.latest_stats().data is None
