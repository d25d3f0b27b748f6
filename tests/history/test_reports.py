"""Report queries: uptime that counts missing runs as down, the latest results and the
p95 of every check in a fixed number of queries, and a current-state page that costs
the same for 3 checks as for 30."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from healthd import store
from healthd.checks import registry
from healthd.checks.base import Result, Status
from healthd.history import reports
from healthd.models import CheckResult, HourlyRollup

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)  # on the hour: windows of whole hours
HOUR = timedelta(hours=1)


def _rollups(name: str, hours: range, runs: dict[int, int] | None = None,
             failures: dict[int, int] | None = None) -> None:
    """Rollups for the hours ``hours`` before NOW, 120 runs each (one per 30 s) unless
    ``runs`` says otherwise for that many hours ago."""
    HourlyRollup.objects.bulk_create([
        HourlyRollup(name=name, hour=NOW - h * HOUR, runs=(runs or {}).get(h, 120),
                     failures=(failures or {}).get(h, 0))
        for h in hours
    ])


# --- uptime ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_site_stopped_for_minutes_is_not_100_percent_up():
    # A result every 30 s for eight days; the site was stopped 4.5 minutes (9 runs).
    _rollups("steady", range(1, 8 * 24 + 1))
    _rollups("stopped", range(1, 8 * 24 + 1), runs={5: 120 - 9})
    found = reports.uptimes({"steady": 30.0, "stopped": 30.0}, NOW)
    assert str(found["steady"].day) == "100.00 %"
    assert str(found["steady"].week) == "100.00 %"
    # 24 h of runs due (less the one that may be under way), 9 of them missing.
    assert found["stopped"].day == reports.Uptime(up=2880 - 9, runs=2880 - 9, expected=2879)
    assert str(found["stopped"].day) == "99.72 %"
    assert str(found["stopped"].week) == f"{100 * (7 * 2880 - 9) / (7 * 2880 - 1):.2f} %"


@pytest.mark.django_db
def test_failures_and_hours_without_runs_count_as_down():
    _rollups("flaky", range(1, 8 * 24 + 1), failures={2: 12})
    # Ran all week but not at all in the last 10 hours.
    _rollups("silent", range(11, 8 * 24 + 1))
    found = reports.uptimes({"flaky": 30.0, "silent": 30.0, "never-ran": 30.0}, NOW)
    assert found["flaky"].day == reports.Uptime(up=2880 - 12, runs=2880, expected=2879)
    assert found["silent"].day.runs == 14 * 120
    assert str(found["silent"].day) == f"{100 * 14 * 120 / 2879:.2f} %"
    assert "never-ran" not in found


@pytest.mark.django_db
def test_a_check_added_during_the_window_counts_from_when_it_began():
    # First seen 2.5 h ago: 60 runs in its first hour (it began half way), then every run.
    _rollups("new", range(1, 4), runs={3: 60})
    found = reports.uptimes({"new": 30.0}, NOW)
    assert found["new"].day == reports.Uptime(up=300, runs=300, expected=2.5 * 120 - 1)
    assert str(found["new"].day) == str(found["new"].week) == "100.00 %"
    # A check whose interval says one run a minute but that ran twice as often is 100 %.
    assert str(reports.uptimes({"new": 60.0}, NOW)["new"].day) == "100.00 %"


def test_hour_uptime_expects_one_run_per_interval():
    past = NOW - 2 * HOUR
    assert str(reports.hour_uptime(60, 0, past, 30.0, NOW)) == f"{100 * 60 / 119:.2f} %"
    assert str(reports.hour_uptime(120, 3, past, 30.0, NOW)) == "97.50 %"
    # The current hour counts up to now; more runs than due: the runs are the measure.
    assert str(reports.hour_uptime(40, 0, NOW, 30.0, NOW + timedelta(minutes=10))) == "100.00 %"
    assert str(reports.hour_uptime(10, 0, NOW, 30.0, NOW + timedelta(minutes=10))) == "52.63 %"
    # A check no longer configured: no interval, the share of runs that passed.
    assert str(reports.hour_uptime(10, 1, past, None, NOW)) == "90.00 %"
    assert str(reports.Uptime(0, 0, 0)) == "-"


# --- the latest results and p95 ------------------------------------------------------------


def _results(name: str, count: int, newest: datetime, step: timedelta,
             durations: list[float] | None = None, status: str = "passing") -> None:
    CheckResult.objects.bulk_create([
        CheckResult(name=name, status=status, duration=(durations or [0.01] * count)[i],
                    checked_at=newest - i * step, message="")
        for i in range(count)
    ])


def _strip_as_before(name: str, length: int = reports.STRIP_LENGTH) -> list[tuple]:
    """A check's strip read the plain way: its newest results, turned oldest first."""
    return [tuple(row) for row in reversed(
        CheckResult.objects.filter(name=name).order_by("-checked_at")
        .values_list("status", "checked_at", "duration")[:length])]


@pytest.mark.django_db
def test_latest_results_fill_the_strip_in_one_query_across_a_gap_and_for_a_stopped_check(
        django_assert_num_queries):
    now = timezone.now()
    _results("busy", 80, now, timedelta(seconds=30))
    _results("gap", 10, now, timedelta(seconds=30))  # back after three days away
    _results("gap", 60, now - timedelta(days=3), timedelta(seconds=30), status="failing")
    # Stopped 100 days ago: its latest results are 288,000 intervals old.
    _results("stopped", 70, now - timedelta(days=100), timedelta(seconds=30), status="warning")
    _results("few", 3, now - timedelta(days=40), timedelta(hours=1))
    names = ["busy", "gap", "stopped", "few", "none"]
    with django_assert_num_queries(1):
        latest = reports.latest_results(dict.fromkeys(names, 30.0), now)
    assert [len(latest[name]) for name in names] == [50, 50, 50, 3, 0]
    assert latest["busy"][-1].checked_at == now  # oldest first, newest last
    assert latest["busy"][0].checked_at == now - 49 * timedelta(seconds=30)
    assert [r.status for r in latest["gap"]] == ["failing"] * 40 + ["passing"] * 10
    assert latest["stopped"][-1].checked_at == now - timedelta(days=100)
    for name in names:
        assert [tuple(r) for r in latest[name]] == _strip_as_before(name)


@pytest.mark.django_db
def test_p95_of_every_check_in_one_query_from_the_rollups_buckets(django_assert_num_queries):
    from healthd.history import buckets, write

    now = timezone.now()
    durations = {"a": [n / 1000 for n in range(20, 0, -1)],
                 "b": [n / 1000 for n in range(100, 0, -1)]}
    write._write([Result(name, Status.PASSING, "ok",
                         (now - timedelta(minutes=index)).timestamp(), duration)
                  for name, values in durations.items()
                  for index, duration in enumerate(values)], [])
    # Out of the day: not counted.
    write._write([Result("a", Status.PASSING, "ok", (now - timedelta(days=2)).timestamp(),
                         9.0)], [])
    with django_assert_num_queries(1):
        found = reports.p95_durations(["a", "b", "c"], now - timedelta(hours=24))
    assert set(found) == {"a", "b"}
    for name, expected in (("a", 0.019), ("b", 0.095)):
        assert abs(found[name] - expected) <= buckets.RELATIVE_ERROR * expected


def test_p95_by_nearest_rank():
    assert reports.p95([]) is None
    assert reports.p95([5.0]) == 5.0
    assert reports.p95([float(n) for n in range(1, 21)]) == 19.0
    assert reports.p95([float(n) for n in range(100, 0, -1)]) == 95.0


# --- the current-state page: its query count does not grow with the checks ---------------


def _page_queries(admin_client, settings, count: int, results_each: int) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    names = [f"db-{index:02d}" for index in range(count)]
    settings.HEALTHD = {**settings.HEALTHD,
                        "CHECKS": [{"check": "database", "name": name} for name in names]}
    checks = list(registry.configured_checks())
    now = timezone.now()
    store.record([Result(name, Status.PASSING, "ok", time.time() - 1, 0.01) for name in names],
                 checks)
    for name in names:
        _results(name, results_each, now, timedelta(seconds=30))
        HourlyRollup.objects.create(name=name, hour=now.replace(minute=0, second=0,
                                                                microsecond=0), runs=10)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse("admin:healthd_checkstatus_current"))
    assert response.status_code == 200
    assert len(response.context["rows"]) == count
    assert all(len(row.strip) == min(results_each, reports.STRIP_LENGTH)
               for row in response.context["rows"])
    CheckResult.objects.all().delete()
    HourlyRollup.objects.all().delete()
    return len(queries)


@pytest.mark.django_db
@pytest.mark.parametrize("results_each", [60, 5], ids=["strips-full", "strips-short"])
def test_the_current_state_page_costs_the_same_for_3_and_30_checks(
        admin_client, settings, results_each):
    three = _page_queries(admin_client, settings, 3, results_each)
    thirty = _page_queries(admin_client, settings, 30, results_each)
    assert three == thirty <= 8


@pytest.mark.django_db
def test_uptime_is_one_query_and_a_second_only_for_checks_begun_within_the_week(
        django_assert_num_queries):
    _rollups("old", range(1, 8 * 24 + 1))
    _rollups("older", range(1, 20 * 24 + 1))
    with django_assert_num_queries(1):
        found = reports.uptimes({"old": 30.0, "older": 30.0}, NOW)
    assert str(found["old"].week) == str(found["older"].week) == "100.00 %"
    # Begun 2.5 h ago, half way through its first hour: that hour's runs are read.
    _rollups("new", range(1, 4), runs={3: 60})
    with django_assert_num_queries(2):
        found = reports.uptimes({"old": 30.0, "new": 30.0}, NOW)
    assert found["new"].week == reports.Uptime(up=300, runs=300, expected=2.5 * 120 - 1)
    assert str(found["old"].week) == "100.00 %"
