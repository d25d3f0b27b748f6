"""The Redis store against the real Redis: one-round-trip reads, exactly-once transitions."""

from __future__ import annotations

import threading
import time

import pytest

from healthd import store
from healthd.checks.base import Check, Result, Status


def _result(name: str, status: Status, at: float | None = None) -> Result:
    return Result(name, status, f"{status} message", at or time.time(), 0.01)


def test_results_are_read_back_in_one_round_trip(redis_conn):
    checks = [Check("a", lambda: None), Check("b", lambda: None)]
    store.record([_result("a", Status.PASSING), _result("b", Status.FAILING)], checks)
    snapshot = store.read_latest()
    assert snapshot.ok
    assert snapshot.records["a"].state == "passing"
    assert snapshot.records["b"].state == "failing"
    assert snapshot.records["a"].checked_at > time.time() - 60


def test_a_change_is_a_transition_once_and_repeats_are_not():
    check = Check("db", lambda: None)
    assert [t.current for t in store.record([_result("db", Status.PASSING)], [check])] == [
        "passing"]
    assert store.record([_result("db", Status.PASSING)], [check]) == []
    (failed,) = store.record([_result("db", Status.FAILING)], [check])
    assert (failed.previous, failed.current) == ("passing", "failing")
    assert store.record([_result("db", Status.FAILING)], [check]) == []
    (recovered,) = store.record([_result("db", Status.PASSING)], [check])
    assert (recovered.previous, recovered.current) == ("failing", "passing")


def test_hysteresis_needs_consecutive_results():
    check = Check("flappy", lambda: None, failures_before_failing=3, successes_before_passing=2)
    store.record([_result("flappy", Status.PASSING)], [check])
    assert store.record([_result("flappy", Status.FAILING)], [check]) == []
    assert store.record([_result("flappy", Status.FAILING)], [check]) == []
    assert store.record([_result("flappy", Status.PASSING)], [check]) == []  # streak broken
    assert store.record([_result("flappy", Status.FAILING)], [check]) == []
    assert store.record([_result("flappy", Status.FAILING)], [check]) == []
    (failed,) = store.record([_result("flappy", Status.FAILING)], [check])
    assert failed.current == "failing"
    assert store.read_latest().records["flappy"].state == "failing"
    assert store.record([_result("flappy", Status.PASSING)], [check]) == []
    (recovered,) = store.record([_result("flappy", Status.PASSING)], [check])
    assert recovered.current == "passing"


def test_an_older_result_does_not_move_state_backwards():
    check = Check("db", lambda: None)
    now = time.time()
    store.record([_result("db", Status.FAILING, now)], [check])
    assert store.record([_result("db", Status.PASSING, now - 10)], [check]) == []
    assert store.read_latest().records["db"].state == "failing"


def test_concurrent_writers_see_each_transition_exactly_once():
    check = Check("shared", lambda: None)
    store.record([_result("shared", Status.PASSING, time.time() - 100)], [check])
    seen: list[store.StateChange] = []
    lock = threading.Lock()
    barrier = threading.Barrier(16)
    at = time.time()

    def writer():
        barrier.wait()
        found = store.record([_result("shared", Status.FAILING, at)], [check])
        with lock:
            seen.extend(found)

    threads = [threading.Thread(target=writer) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 1 and seen[0].current == "failing"
    assert int(store.transition_counts()["shared"]) == 2  # unknown->passing, passing->failing


def test_the_state_known_to_the_database_seeds_an_empty_store():
    check = Check("db", lambda: None)
    # Redis lost its data, the database remembers "failing": a pass is a recovery.
    (recovered,) = store.record([_result("db", Status.PASSING)], [check], {"db": "failing"})
    assert (recovered.previous, recovered.current) == ("failing", "passing")


def test_a_closed_port_is_reported_not_raised(settings):
    settings.HEALTHD = {**settings.HEALTHD, "REDIS_URL": "redis://127.0.0.1:1/0"}
    started = time.monotonic()
    snapshot = store.read_latest()
    assert time.monotonic() - started < 1.0
    assert not snapshot.ok and "unavailable" in snapshot.error


def test_a_replayed_write_is_not_counted_twice_and_keeps_its_outcome():
    """redis-py retries a pipeline whose reply was lost: the replay must change nothing."""
    check = Check("db", lambda: None, failures_before_failing=2)
    store.record([_result("db", Status.PASSING)], [check])
    failing = _result("db", Status.FAILING)
    assert store.record([failing], [check]) == []
    assert store.record([failing], [check]) == []  # the replay: still one failure of two
    assert store.read_latest().records["db"].pending_count == 1
    second = _result("db", Status.FAILING)
    (changed,) = store.record([second], [check])
    (replayed,) = store.record([second], [check])  # reply lost, retried: same outcome
    assert (changed.previous, changed.current) == (replayed.previous, replayed.current)
    assert store.transition_counts()["db"] == 2  # unknown->passing, passing->failing


def test_stored_results_keep_their_json_and_a_bad_value_costs_only_its_check():
    checks = [Check("a", lambda: None), Check("b", lambda: None)]
    odd = Result("a", Status.PASSING, "ok", time.time(), 0.01, value=float("inf"),
                 details={"workers": [], "big": 12345678901234567})
    store.record([odd, _result("b", Status.FAILING)], checks)
    records = store.read_latest().records
    assert records["a"].value is None
    assert records["a"].details == {"workers": [], "big": 12345678901234567}
    assert records["b"].state == "failing"


def test_a_first_passing_result_is_a_change_but_not_news():
    check = Check("db", lambda: None)
    (first,) = store.record([_result("db", Status.PASSING)], [check])
    assert (first.previous, first.current, first.news) == ("unknown", "passing", False)
    (failed,) = store.record([_result("db", Status.FAILING)], [check])
    assert failed.news
    (fresh,) = store.record([_result("new", Status.FAILING)], [Check("new", lambda: None)])
    assert (fresh.previous, fresh.current, fresh.news) == ("unknown", "failing", True)
    replay = _result("db", Status.PASSING)
    (recovered,) = store.record([replay], [check])
    (replayed,) = store.record([replay], [check])  # reply lost, retried: same decision
    assert recovered.news and replayed.news


def test_showing_the_silences_changes_only_each_records_window():
    check = Check("db", lambda: None)
    details = {"workers": [], "silence": [1, 2], "big": 12345678901234567}
    store.record([Result("db", Status.FAILING, "down", time.time(), 0.01, details=details)],
                 [check])
    store.write_intervals({"db": 30.0})
    now = time.time()
    store.put_silence("1", {"checks": ["db"], "starts_at": now - 60, "ends_at": now + 3600})
    store.put_silence("2", {"checks": ["other"], "starts_at": now - 60, "ends_at": now + 60})
    assert store.show_silences() == 1
    snapshot = store.read_latest()
    record = snapshot.records["db"]
    assert record.silence == (pytest.approx(now - 60), pytest.approx(now + 3600))
    assert record.details == details and record.state == "failing"
    assert snapshot.intervals == {"db": 30.0}
    assert store.show_silences() == 0  # nothing new to show
    store.drop_silence("1")
    store.put_silence("3", {"checks": [], "starts_at": now + 600, "ends_at": now + 900})
    assert store.show_silences() == 1
    record = store.read_latest().records["db"]
    assert record.silence == (pytest.approx(now + 600), pytest.approx(now + 900))  # to come
    store.drop_silence("3")
    store.show_silences()
    record = store.read_latest().records["db"]
    assert record.silence is None and record.details == details
