"""The database side of a run: rows, current state, and runs parked while it was away."""

from __future__ import annotations

import logging
import sys
import time

import pytest
from django.db import connection

from healthd import store
from healthd.checks.base import Result, Status
from healthd.history import write as history
from healthd.models import CheckResult, CheckStatus, HourlyRollup
from healthd.store import client as redis_client
from tests.support.results import store_down

pytestmark = pytest.mark.django_db


def _run(name: str, status: Status = Status.PASSING) -> list[Result]:
    return [Result(name, status, f"{name} {status}", time.time(), 0.01)]


def test_parked_runs_are_written_once_in_order_and_a_bad_one_is_set_aside():
    history._park(_run("first"), [])
    redis_client.writer().rpush(store.keys().history_backlog, '{"results": [{"bad": 1}]}')
    history._park(_run("second"), [])
    assert history.save(_run("current"), []) is True
    assert list(CheckResult.objects.order_by("id").values_list("name", flat=True)) == [
        "first", "second", "current"]
    client = redis_client.writer()
    assert client.llen(store.keys().history_backlog) == 0
    assert client.llen(store.keys().history_dead_letter) == 1
    assert history.save(_run("later"), []) is True  # nothing written twice
    assert CheckResult.objects.filter(name="first").count() == 1


def test_the_current_state_follows_results_and_transitions():
    history.save(_run("db"), [])
    failing = _run("db", Status.FAILING)
    history.save(failing, [store.StateChange("db", "passing", "failing", failing[0])])
    state = CheckStatus.objects.get(name="db")
    assert (state.status, state.streak) == ("failing", 1)
    history.save(_run("db", Status.FAILING), [])
    state.refresh_from_db()
    assert state.streak == 2


def test_the_dead_letter_list_keeps_the_newest_only(monkeypatch):
    monkeypatch.setattr(history, "DEAD_LETTER_LIMIT", 2)
    client = redis_client.writer()
    for n in range(3):
        client.rpush(store.keys().history_backlog, f'{{"results": [{{"bad": {n}}}]}}')
    history.flush_backlog()
    assert client.lrange(store.keys().history_dead_letter, 0, -1) == [
        '{"results": [{"bad": 1}]}', '{"results": [{"bad": 2}]}']


def test_an_older_result_or_a_pending_change_leaves_the_current_state_alone():
    now = time.time()
    history.save([Result("db", Status.PASSING, "now", now, 0.01)], [])
    history.save([Result("db", Status.FAILING, "long ago", now - 60, 0.01)], [])
    state = CheckStatus.objects.get(name="db")
    assert (state.status, state.streak, state.last_message) == ("passing", 1, "now")
    # A failure hysteresis has not confirmed yet (no transition): recorded, not the state.
    history.save([Result("db", Status.FAILING, "blip", now + 1, 0.01)], [])
    state.refresh_from_db()
    assert (state.status, state.streak, state.last_message) == ("passing", 1, "blip")


def test_a_parked_run_naming_a_check_twice_counts_both():
    at = time.time() // 3600 * 3600 + 60  # both in one hour
    results = [Result("db", Status.PASSING, "one", at, 0.01),
               Result("db", Status.FAILING, "two", at + 1, 0.03)]
    history.save(results, [store.StateChange("db", "passing", "failing", results[1])])
    state = CheckStatus.objects.get(name="db")
    assert (state.status, state.streak, state.last_message) == ("failing", 1, "two")
    (rollup,) = HourlyRollup.objects.filter(name="db")
    assert (rollup.runs, rollup.failures, rollup.duration_max) == (2, 1, 0.03)
    assert rollup.duration_sum == pytest.approx(0.04)


def test_an_infinite_value_is_kept():
    """MySQL / MariaDB store no infinity: there the largest double stands for it (and a
    NaN is stored as no value), where it would otherwise refuse the whole run."""
    history.save([Result("disk", Status.WARNING, "full", time.time(), 0.01,
                         value=float("inf"), unit="%"),
                  Result("ratio", Status.PASSING, "odd", time.time(), 0.01,
                         value=float("-inf"))], [])
    stored = dict(CheckResult.objects.values_list("name", "value"))
    if connection.vendor == "mysql":
        assert stored == {"disk": sys.float_info.max, "ratio": -sys.float_info.max}
    else:
        assert stored == {"disk": float("inf"), "ratio": float("-inf")}



def _logged(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "healthd.history" and text in r.getMessage()]


def test_a_backlog_redis_will_not_hand_over_is_logged_and_the_run_still_written(caplog):
    # Someone (or a bug) left a string where the backlog list goes: LPOP answers WRONGTYPE.
    redis_client.writer().set(store.keys().history_backlog, "not a list")
    with caplog.at_level(logging.WARNING, logger="healthd.history"):
        assert history.save(_run("current"), []) is True
    assert CheckResult.objects.filter(name="current").count() == 1
    (message,) = _logged(caplog, "could not take a parked run from Redis")
    assert "WRONGTYPE" in message


def test_a_backlog_unreachable_is_logged(settings, caplog):
    store_down(settings)
    with caplog.at_level(logging.WARNING, logger="healthd.history"):
        assert history.flush_backlog() == 0
    (message,) = _logged(caplog, "could not take a parked run from Redis (0 written)")
    assert "127.0.0.1:1" in message  # the store it could not reach
