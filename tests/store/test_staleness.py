"""Staleness that a slow check cannot fake: a result is judged from when it was produced,
and the stale limit allows for the check's own timeout (issue: HEALTHD_INTERVAL=1 with the
celery ping taking its 3 s timeout turned every heartbeat red)."""

from __future__ import annotations

import time

import pytest
from django.core import checks as django_checks

from healthd import store
from healthd.checks import registry
from healthd.checks.base import Check, Result, Status
from healthd.store import health as state
from tests.support.results import only

pytestmark = pytest.mark.django_db


def _write(name: str, started_ago: float, duration: float) -> None:
    result = Result(name, Status.PASSING, "ok", time.time() - started_ago, duration)
    store.record([result], list(registry.configured_checks()))
    state.forget()


def test_a_slow_result_just_produced_is_fresh_at_a_one_second_interval(settings, client):
    only(settings, {"check": "storage", "name": "slow", "timeout": 3}, INTERVAL=1)
    # Started 3.05 s ago, took 3 s: produced 0.05 s ago (the run's start alone is too old
    # for the old rule of three intervals).
    _write("slow", started_ago=3.05, duration=3.0)
    response = client.get("/__heartbeat__")
    assert response.status_code == 200
    (check,) = state.health().checks
    assert check.status == Status.PASSING
    assert check.age is not None and check.age < 1.0


def test_a_result_is_judged_from_its_finish_not_its_start(settings, client):
    """Where the two rules disagree: started 7 s ago (past the 6 s limit), finished 4 s ago
    (within it). Judged by its start it would be stale and the heartbeat red."""
    only(settings, {"check": "storage", "name": "slow", "timeout": 3}, INTERVAL=1)
    _write("slow", started_ago=7.0, duration=3.0)
    response = client.get("/__heartbeat__")
    assert response.status_code == 200
    (check,) = state.health().checks
    assert check.status == Status.PASSING
    assert check.age is not None and 3.9 <= check.age < 5.0


def test_a_passive_report_is_judged_from_when_it_came_not_from_the_job_s_length(settings):
    """A passive check's result is stamped when the job reported (at its end) and carries
    how long the job ran: adding that duration would move a long job's last report into
    the future and hide that it stopped reporting."""
    only(settings, {"passive": "backup", "every": 60, "grace": 30})
    (check,) = registry.configured_checks()
    limit = check.effective_stale_after
    _write("backup", started_ago=limit + 5, duration=3600.0)  # an hour-long job
    (seen,) = state.health().checks
    assert seen.status == Status.STALE and seen.message.startswith("late:")
    assert seen.age is not None and limit < seen.age < limit + 10


def test_the_stale_limit_is_three_intervals_plus_the_timeout(settings, client):
    only(settings, {"check": "storage", "name": "slow", "timeout": 3}, INTERVAL=1)
    (check,) = registry.configured_checks()
    assert check.effective_stale_after == 3 * 1 + 3
    _write("slow", started_ago=5.5, duration=0.01)  # 5.5 s old: within 6 s
    assert client.get("/__heartbeat__").status_code == 200


def test_a_check_without_a_limit_of_its_own_counts_the_setting_s_intervals(settings):
    only(settings, {"check": "storage", "name": "slow", "timeout": 3}, INTERVAL=1,
         STALE_AFTER_INTERVALS=5)
    (check,) = registry.configured_checks()
    assert check.effective_stale_after == 5 * 1 + 3
    assert Check("made-by-hand", lambda: None, timeout=3, interval=1).effective_stale_after == 8


def test_a_result_older_than_the_limit_is_stale(settings, client):
    only(settings, {"check": "storage", "name": "slow", "timeout": 3}, INTERVAL=1)
    _write("slow", started_ago=6.5, duration=0.01)  # past 3 x 1 s + 3 s
    response = client.get("/__heartbeat__")
    assert response.status_code == 500
    assert state.health().checks[0].status == Status.STALE


def test_a_run_longer_than_its_interval_is_a_warning_naming_the_numbers(settings):
    only(settings, {"check": "storage", "name": "slow", "timeout": 3}, INTERVAL=1)
    messages = [m for m in django_checks.run_checks(tags=["healthd"])]
    (warning,) = [m for m in messages if m.id == "healthd.W001"]
    assert warning.level == django_checks.WARNING
    assert "'slow' may take up to 3 s" in warning.msg
    assert "every 1 s" in warning.msg
    assert "expire unrun" in warning.hint and "43 %" in warning.hint


def test_no_warning_when_runs_fit_their_interval(settings):
    only(settings, {"check": "storage", "name": "quick", "timeout": 3}, INTERVAL=30)
    assert [m.id for m in django_checks.run_checks(tags=["healthd"])] == []
