"""The runner: concurrency, timeouts, exceptions named, secrets kept out."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from django.db import connections

from healthd.checks.base import Check, CheckWarning, Observation, Status
from healthd.checks.runner import run_concurrently
from tests.support.waiting import wait_for


def _ok() -> None:
    return None


def test_one_hanging_check_costs_its_timeout_not_the_sum():
    release = threading.Event()
    hang = Check("hangs", lambda: release.wait(60), timeout=1.0)
    quick = [Check(f"quick{i}", _ok, timeout=5.0) for i in range(19)]
    started = time.monotonic()
    results = run_concurrently([hang, *quick])
    elapsed = time.monotonic() - started
    release.set()
    assert elapsed < 2.5, elapsed
    by_name = {r.name: r for r in results}
    assert len(results) == 20
    assert by_name["hangs"].status == Status.FAILING
    assert "TimeoutError" in by_name["hangs"].message
    assert all(by_name[f"quick{i}"].status == Status.PASSING for i in range(19))


def test_twenty_slow_checks_run_at_once():
    slow = [Check(f"slow{i}", lambda: time.sleep(0.5), timeout=5.0) for i in range(20)]
    started = time.monotonic()
    results = run_concurrently(slow)
    assert time.monotonic() - started < 3.0
    assert {r.status for r in results} == {Status.PASSING}


def test_an_exception_is_a_failing_result_naming_it_with_the_traceback_logged(caplog):
    def broken():
        raise ConnectionRefusedError("could not reach redis://:hunter2secret@db.internal:6379/0")

    with caplog.at_level(logging.ERROR, logger="healthd.runner"):
        (result,) = run_concurrently([Check("broken", broken)])
    assert result.status == Status.FAILING
    assert result.message.startswith("ConnectionRefusedError: could not reach")
    assert "hunter2secret" not in result.message
    assert "Traceback" in caplog.text and "broken" in caplog.text
    assert "hunter2secret" not in caplog.text


def test_return_values_map_to_statuses():
    checks = [
        Check("none", lambda: None),
        Check("text", lambda: "all good"),
        Check("false", lambda: False),
        Check("warn", lambda: (_ for _ in ()).throw(CheckWarning("disk 85% full"))),
        Check("observed", lambda: Observation("slow", Status.WARNING, 812.5, "ms")),
    ]
    results = {r.name: r for r in run_concurrently(checks)}
    assert results["none"].status == Status.PASSING and results["none"].message == "ok"
    assert results["text"].message == "all good"
    assert results["false"].status == Status.FAILING
    assert results["warn"].status == Status.WARNING and results["warn"].message == "disk 85% full"
    assert (results["observed"].value, results["observed"].unit) == (812.5, "ms")
    assert results["observed"].duration >= 0 and results["observed"].host


def test_a_check_still_hanging_is_reported_without_another_thread():
    release = threading.Event()
    starts = []

    def hangs():
        starts.append(1)
        release.wait(30)

    check = Check("stuck", hangs, timeout=0.3)
    (first,) = run_concurrently([check])
    (second,) = run_concurrently([check])
    assert first.status == second.status == Status.FAILING
    assert "has still not returned" in second.message
    assert len(starts) == 1  # no second thread stuck beside the first
    release.set()
    wait_for(lambda: run_concurrently([Check("stuck", lambda: None, timeout=0.3)])[0].status
             == Status.PASSING, timeout=5, message="the check to run again once released")


def test_a_hundred_checks_one_hanging_on_eight_threads(settings):
    settings.HEALTHD = {**settings.HEALTHD, "MAX_CONCURRENCY": 8}
    release = threading.Event()
    seen_threads: list[int] = []

    def quick() -> None:
        seen_threads.append(threading.active_count())
        time.sleep(0.01)

    def hangs() -> None:
        seen_threads.append(threading.active_count())
        release.wait(60)

    checks = [Check(f"many{i}", quick, timeout=1.0) for i in range(99)]
    checks.insert(40, Check("many-hangs", hangs, timeout=1.0))
    before = threading.active_count()
    started = time.monotonic()
    try:
        results = run_concurrently(checks)
    finally:
        elapsed = time.monotonic() - started
        release.set()
    by_name = {r.name: r for r in results}
    assert [r.name for r in results] == [c.name for c in checks]
    assert by_name.pop("many-hangs").status == Status.FAILING
    assert {r.status for r in by_name.values()} == {Status.PASSING}
    assert 1.0 <= elapsed < 2.0, elapsed  # about one timeout
    # eight threads at work, plus the hung one once it was given up and replaced
    assert max(seen_threads) <= before + 8 + 1, (before, max(seen_threads))


@pytest.mark.django_db(transaction=True)
def test_checks_that_use_the_database_leave_no_connection_open():
    def query() -> None:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")

    def open_connections() -> int:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity "
                           "WHERE datname = current_database()")
            return cursor.fetchone()[0]

    before = open_connections()
    for _ in range(5):
        results = run_concurrently([Check(f"db{i}", query) for i in range(4)])
        assert {r.status for r in results} == {Status.PASSING}
    wait_for(lambda: open_connections() <= before, timeout=5,
             message="the checks' connections to close")
