"""The runner: concurrency, timeouts, exceptions named, secrets kept out."""

from __future__ import annotations

import logging
import threading
import time

from healthd.checks.base import Check, CheckWarning, Observation, Status
from healthd.runner import run_checks


def _ok() -> None:
    return None


def test_one_hanging_check_costs_its_timeout_not_the_sum():
    release = threading.Event()
    hang = Check("hangs", lambda: release.wait(60), timeout=1.0)
    quick = [Check(f"quick{i}", _ok, timeout=5.0) for i in range(19)]
    started = time.monotonic()
    results = run_checks([hang, *quick])
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
    results = run_checks(slow)
    assert time.monotonic() - started < 3.0
    assert {r.status for r in results} == {Status.PASSING}


def test_an_exception_is_a_failing_result_naming_it_with_the_traceback_logged(caplog):
    def broken():
        raise ConnectionRefusedError("could not reach redis://:hunter2secret@db.internal:6379/0")

    with caplog.at_level(logging.ERROR, logger="healthd.runner"):
        (result,) = run_checks([Check("broken", broken)])
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
    results = {r.name: r for r in run_checks(checks)}
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
    (first,) = run_checks([check])
    (second,) = run_checks([check])
    assert first.status == second.status == Status.FAILING
    assert "has still not returned" in second.message
    assert len(starts) == 1  # no second thread stuck beside the first
    release.set()
    from tests.conftest import wait_for

    wait_for(lambda: run_checks([Check("stuck", lambda: None, timeout=0.3)])[0].status
             == Status.PASSING, timeout=5, message="the check to run again once released")
