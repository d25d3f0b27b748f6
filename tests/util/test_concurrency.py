"""The concurrency helper: a bounded pool, per-call timeouts from the start, no thread lost."""

from __future__ import annotations

import threading
import time

from celery import Celery, current_app

from healthd.util.concurrency import Call, Done, StillHanging, TimedOut, run_with_timeouts
from tests.support.waiting import wait_for


def _ok() -> str:
    return "ok"


def test_outcomes_come_back_in_order_with_values_and_errors():
    def broken() -> None:
        raise ValueError("no")

    calls = [Call("t:a", lambda: 1, 1.0), Call("t:b", broken, 1.0), Call("t:c", lambda: 3, 1.0)]
    first, second, third = run_with_timeouts(calls, max_workers=2)
    assert isinstance(first, Done) and first.value == 1 and first.error is None
    assert isinstance(second, Done) and isinstance(second.error, ValueError)
    assert isinstance(third, Done) and third.value == 3
    assert first.duration >= 0 and first.started_at > 0


def test_each_timeout_runs_from_when_its_call_starts():
    # One thread, three calls of 0.3 s each under 0.5 s: the last starts after 0.6 s and
    # still passes, because its own 0.5 s only begins then.
    calls = [Call(f"t:seq{i}", lambda: time.sleep(0.3) or "done", 0.5) for i in range(3)]
    started = time.monotonic()
    outcomes = run_with_timeouts(calls, max_workers=1)
    assert time.monotonic() - started >= 0.85
    assert all(isinstance(o, Done) and o.value == "done" for o in outcomes), outcomes


def test_a_hung_call_gives_its_place_to_the_calls_waiting():
    release = threading.Event()
    calls = [Call("t:hog", lambda: release.wait(30), 0.3),
             *(Call(f"t:after{i}", _ok, 0.3) for i in range(5))]
    try:
        started = time.monotonic()
        hog, *rest = run_with_timeouts(calls, max_workers=1)
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert isinstance(hog, TimedOut) and hog.message == "TimeoutError: no answer within 0.3 s"
    assert all(isinstance(o, Done) and o.value == "ok" for o in rest), rest
    assert elapsed < 1.5, elapsed


def test_a_call_still_hanging_is_reported_and_not_started_again():
    release = threading.Event()
    starts: list[int] = []

    def hangs() -> None:
        starts.append(1)
        release.wait(30)

    call = Call("t:stuck", hangs, 0.2)
    try:
        (first,) = run_with_timeouts([call])
        before = threading.active_count()
        outcomes = [run_with_timeouts([call])[0] for _ in range(5)]
        assert threading.active_count() <= before
    finally:
        release.set()
    assert isinstance(first, TimedOut)
    assert all(isinstance(o, StillHanging) for o in outcomes)
    assert "has still not returned" in outcomes[0].message
    assert len(starts) == 1
    wait_for(lambda: isinstance(run_with_timeouts([Call("t:stuck", _ok, 0.2)])[0], Done),
             timeout=5, message="the call to run again once it returned")


def test_no_thread_outlives_its_run():
    before = threading.active_count()
    for _ in range(20):
        run_with_timeouts([Call(f"t:quick{i}", _ok, 1.0) for i in range(10)], max_workers=4)
    assert threading.active_count() <= before


def test_each_thread_sees_the_callers_celery_app():
    app = Celery("healthd-concurrency-test", set_as_current=False)
    previous = current_app._get_current_object()
    app.set_current()
    try:
        (outcome,) = run_with_timeouts([Call("t:app", lambda: current_app.main, 1.0)])
    finally:
        previous.set_current()
    assert isinstance(outcome, Done) and outcome.value == "healthd-concurrency-test"
