"""Stored results decoded once into typed records; the per-process copies and their lifetime."""

from __future__ import annotations

import json
import time

import pytest

from healthd import store
from healthd.checks.base import Status
from healthd.store import client as redis_client
from healthd.store import health as state
from tests.support.results import write_result

pytestmark = pytest.mark.django_db


def test_a_stored_result_is_decoded_once_into_typed_parts(settings):
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": ["database", "celery"]}
    write_result("database", Status.FAILING, value=1.5, unit="ms", details={
        "default": {"ok": True, "latency_ms": 0.4},
        "replica": {"ok": False, "error": "OperationalError: refused", "host": "db2"},
        "note": "not a part",
    })
    write_result("celery", Status.FAILING, details={"workers": ["w1@h"], "missing": ["w2@h"],
                                                    "queues": {"celery": True}})
    records = store.read_latest().records
    database = records["database"]
    assert isinstance(database, store.StoredResult)
    assert (database.status, database.state, database.current) == (
        Status.FAILING, Status.FAILING, Status.FAILING)
    assert (database.value, database.unit) == (1.5, "ms")
    assert database.checked_at > time.time() - 60
    assert database.since == pytest.approx(database.checked_at, abs=0.01)  # via cjson
    assert database.parts == (
        store.Part("default", True, latency_ms=0.4),
        store.Part("replica", False, error="OperationalError: refused", extra={"host": "db2"}),
    )
    assert records["celery"].parts == ()
    assert (records["celery"].workers, records["celery"].missing_workers) == (("w1@h",), ("w2@h",))


def test_secrets_are_masked_when_read_whoever_wrote_them(settings, redis_conn):
    """A record written by anything but the runner (here raw) still reads redacted."""
    raw = json.dumps({
        "name": "redis", "status": "failing", "checked_at": time.time(), "duration": 0.1,
        "message": "redis://:hunter2pw@cache:6379 refused",
        "details": {"cache:6379": {"ok": False, "error": "redis://:hunter2pw@cache:6379"}},
    })
    redis_conn.hset(store.keys().latest, "redis", raw)
    result = store.read_latest().records["redis"]
    assert "hunter2pw" not in result.message and "hunter2pw" not in repr(result)
    assert result.state is None and result.current == Status.FAILING
    assert result.parts[0].error == "redis://:********@cache:6379"


def test_a_record_that_cannot_be_understood_reads_as_never_run(settings, redis_conn):
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": ["database", "cache"]}
    write_result("cache", Status.PASSING)
    redis_conn.hset(store.keys().latest, "database", '{"status": "bogus", "checked_at": 1}')
    assert set(store.read_latest().records) == {"cache"}
    by_name = state.health().by_name()
    assert by_name["database"].status == Status.UNKNOWN
    assert by_name["cache"].status == Status.PASSING


def test_the_view_record_works_out_staleness_at_read_time(settings):
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": ["database", "cache"]}
    write_result("database", Status.PASSING, age=10_000, details={"default": {"ok": True}})
    (database, cache) = state.health().checks
    assert database.stale and not database.fresh and not database.ok
    assert database.parts[0].label == "default"  # what the last run saw, even when stale
    # age counts from when the result was produced: its start plus its 0.01 s duration
    assert database.age is not None and database.age >= 10_000 - 0.01
    assert cache.status == Status.UNKNOWN and cache.result is None and cache.parts == ()


def test_the_copies_are_forgotten_on_any_setting_change(settings):
    write_result("database", Status.PASSING)
    first, counts = state.snapshot(), state.transition_counts()
    assert state.snapshot() is first and state.transition_counts() is counts
    redis_client.writer().hincrby(store.keys().transitions, "database", 5)
    settings.SOME_UNRELATED_SETTING = True
    assert state.snapshot() is not first
    assert state.transition_counts() == {"database": 6}


def test_state_change_keeps_its_old_name_as_the_signals_sender():
    assert store.Transition is store.StateChange
