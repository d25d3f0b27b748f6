"""Retention: old results, transitions and hourly rollups are deleted in batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from healthd.history.retention import prune
from healthd.models import CheckResult, HourlyRollup, Transition

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _rollup(age: timedelta) -> HourlyRollup:
    hour = (NOW - age).replace(minute=0, second=0, microsecond=0)
    return HourlyRollup.objects.create(name="database", hour=hour, runs=120)


def _transition(age: timedelta) -> Transition:
    return Transition.objects.create(name="database", previous="passing", status="failing",
                                     at=NOW - age)


def _result(age: timedelta) -> CheckResult:
    return CheckResult.objects.create(name="database", status="passing", duration=0.01,
                                      checked_at=NOW - age)


@pytest.mark.django_db
def test_rollups_are_kept_as_long_as_transitions(settings):
    settings.HEALTHD = {**settings.HEALTHD, "RETENTION_DAYS": 14,
                        "TRANSITION_RETENTION_DAYS": 30}
    kept = [_rollup(timedelta(days=29)), _rollup(timedelta(hours=1))]
    for days in (31, 90, 400):
        _rollup(timedelta(days=days))
    _transition(timedelta(days=31))
    kept_transition = _transition(timedelta(days=29))
    _result(timedelta(days=15))
    kept_result = _result(timedelta(days=13))

    assert prune(now=NOW, batch=2) == {"results": 1, "transitions": 1, "deliveries": 0,
                                       "rollups": 3}
    assert sorted(HourlyRollup.objects.values_list("id", flat=True)) == sorted(
        r.id for r in kept)
    assert list(Transition.objects.values_list("id", flat=True)) == [kept_transition.id]
    assert list(CheckResult.objects.values_list("id", flat=True)) == [kept_result.id]
    assert prune(now=NOW) == {"results": 0, "transitions": 0, "deliveries": 0, "rollups": 0}


@pytest.mark.django_db
def test_rollups_outlive_a_short_transition_retention_by_the_week_the_admin_reads(settings):
    settings.HEALTHD = {**settings.HEALTHD, "TRANSITION_RETENTION_DAYS": 1}
    week = _rollup(timedelta(days=7, hours=12))
    _rollup(timedelta(days=9))
    assert prune(now=NOW)["rollups"] == 1
    assert list(HourlyRollup.objects.values_list("id", flat=True)) == [week.id]
