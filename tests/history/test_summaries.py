"""The summaries the pages read instead of the results: the strip's bounded read, the
p95 from the hourly rollups' duration buckets, the daily rollups, and the rebuild of them
all from the results (``manage.py healthd_rollups --rebuild``)."""

from __future__ import annotations

import io
import json
import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F, Sum
from django.db.models.functions import TruncDay
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from healthd.checks.base import Check, Result, Status
from healthd.history import buckets, reports, sql, write
from healthd.models import CheckResult, CheckStatus, DailyRollup, HourlyRollup, Transition
from healthd.uptime import daily

HOUR = timedelta(hours=1)


def _run(name: str, at: datetime, duration: float = 0.01,
         status: Status = Status.PASSING) -> Result:
    return Result(name, status, f"{status} at {at:%H:%M}", at.timestamp(), duration)


def _write_days(names: list[str], start: datetime, hours: int, every: timedelta,
                batch_hours: int = 1, seed: int = 7) -> None:
    """Runs of each check every ``every`` for ``hours`` hours from ``start``, written by
    the write path ``batch_hours`` at a time, with a transition (and its row, as the
    outbox writes it) when a batch's last run of a check fails while it passed or passes
    while it failed; the first batch's run of each check fails."""
    rng = random.Random(seed)
    at, end = start, start + hours * HOUR
    state = dict.fromkeys(names, "passing")
    while at < end:
        batch_end = min(end, at + batch_hours * HOUR)
        results: list[Result] = []
        while at < batch_end:
            for name in names:
                status = rng.choices([Status.PASSING, Status.WARNING, Status.FAILING],
                                     [90, 5, 5])[0]
                if at == start:
                    status = Status.FAILING
                results.append(_run(name, at, rng.lognormvariate(-4, 1.5), status))
            at += every
        transitions = []
        for name in names:
            last = [r for r in results if r.name == name][-1]
            if last.status != Status.WARNING and str(last.status) != state[name]:
                transitions.append({"name": name, "previous": state[name],
                                    "status": str(last.status), "at": last.checked_at,
                                    "message": last.message})
                state[name] = str(last.status)
        write._write(results, transitions)
        Transition.objects.bulk_create([
            Transition(name=t["name"], previous=t["previous"], status=t["status"],
                       at=datetime.fromtimestamp(t["at"], UTC), message=t["message"])
            for t in transitions])


def _needs_zone(zone: str) -> None:
    """Grouping hours by day in a zone needs MySQL's time zone tables (healthd.W201)."""
    if connection.vendor == "mysql" and not sql.converts_time_zone(connection, zone):
        pytest.skip("MySQL's time zone tables are not loaded")


def _summaries() -> dict[str, list]:
    bucket_fields = [f"d{index:02d}" for index in range(64)]
    return {
        "hourly": [(*row[:5], round(row[5], 9), row[6], *row[7:]) for row in
                   HourlyRollup.objects.order_by("name", "hour").values_list(
                       "name", "hour", "runs", "failures", "warnings", "duration_sum",
                       "duration_max", *bucket_fields)],
        "daily": [(*row[:6], round(row[6], 9), row[7]) for row in
                  DailyRollup.objects.order_by("name", "day").values_list(
                      "name", "day", "first_hour", "runs", "failures", "warnings",
                      "duration_sum", "duration_max")],
        "states": list(CheckStatus.objects.order_by("name").values_list(
            "name", "status", "since", "last_checked_at", "last_message", "last_duration")),
    }


# --- buckets ---------------------------------------------------------------------------


def test_a_percentile_from_buckets_is_within_the_stated_error_of_the_exact_one():
    assert pytest.approx(0.118, abs=0.001) == buckets.RELATIVE_ERROR
    rng = random.Random(3)
    for _ in range(200):
        values = [rng.lognormvariate(rng.uniform(-8, 3), rng.uniform(0.1, 2))
                  for _ in range(rng.randint(1, 400))]
        values = [min(max(v, buckets.LOWEST), buckets.BOUNDS[-1]) for v in values]
        counts = buckets.empty()
        for value in values:
            counts[buckets.bucket_of(value)] += 1
        exact = reports.p95(values)
        assert exact is not None
        found = buckets.percentile(counts, max(values))
        assert found is not None
        assert abs(found - exact) <= buckets.RELATIVE_ERROR * exact + 1e-12, (found, exact)
    assert buckets.percentile(buckets.empty(), None) is None
    assert buckets.bucket_of(0.0) == 0 and buckets.bucket_of(1e9) == 63
    # Each bound starts its own bucket, as SQL's comparisons count it.
    assert [buckets.bucket_of(b) for b in buckets.BOUNDS] == list(range(1, 64))


# --- the strip: a bounded read per check ---------------------------------------------------


@pytest.mark.django_db
def test_the_strip_reads_each_check_under_a_limit_not_all_its_rows():
    now = timezone.now()
    CheckResult.objects.bulk_create([
        CheckResult(name=name, status="passing", duration=0.01, message="",
                    checked_at=now - offset - index * timedelta(seconds=10))
        for name, offset in (("running", timedelta(0)), ("stopped", timedelta(days=30)))
        for index in range(600)])
    with CaptureQueriesContext(connection) as queries:
        latest = reports.latest_results({"running": 10.0, "stopped": 10.0}, now)
    assert [len(latest[name]) for name in ("running", "stopped")] == [50, 50]
    assert len(queries) == 1
    statement = queries.captured_queries[0]["sql"]
    assert "LIMIT" in statement.upper()
    assert "ROW_NUMBER" not in statement.upper()
    if connection.vendor != "postgresql":
        return
    assert "LATERAL" in statement.upper()
    with connection.cursor() as cursor:
        # A table this small has no statistics (an ANALYZE would outlive the test: other
        # tests read the row estimate); on a large one the planner takes the index itself.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    nodes = []

    def walk(node: dict) -> None:
        nodes.append(node)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    assert not [n for n in nodes if n["Node Type"] == "WindowAgg"]
    # The results table, or its day partitions where it is partitioned.
    scans = [n for n in nodes
             if str(n.get("Relation Name", "")).startswith("healthd_checkresult")]
    assert scans and all(n["Node Type"] in ("Index Scan", "Index Only Scan") for n in scans)
    # Each check's 50 rows of its 600, not all of them.
    assert all(n["Actual Rows"] <= 50 for n in scans)


@pytest.mark.django_db
def test_on_sqlite_the_strip_reads_the_results_index_not_an_index_built_for_the_read():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's planner")
    now = timezone.now()
    CheckResult.objects.bulk_create([
        CheckResult(name=f"check-{number}", status="passing", duration=0.01, message="",
                    checked_at=now - index * timedelta(seconds=10))
        for number in range(200) for index in range(5)])
    with connection.cursor() as cursor:
        # The statistics of 2,000,000 results of 200 checks (in the test's transaction):
        # with them the planner would build an automatic index of the whole table on
        # every read.
        cursor.execute("ANALYZE healthd_checkresult")
        cursor.execute("UPDATE sqlite_stat1 SET stat = '2000000 10000 1 1' "
                       "WHERE idx = 'healthd_result_name_time_dur'")
        cursor.execute("UPDATE sqlite_stat1 SET stat = '2000000 1' "
                       "WHERE idx = 'healthd_result_time'")
        cursor.execute("ANALYZE sqlite_schema")  # reads the statistics again
    names = [f"check-{number}" for number in range(200)]
    with CaptureQueriesContext(connection) as queries:
        latest = reports.latest_results(dict.fromkeys(names, 10.0), now)
    assert [len(latest[name]) for name in names] == [5] * 200
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + queries.captured_queries[0]["sql"])
        plan = [row[-1] for row in cursor.fetchall()]
    assert not [step for step in plan if "AUTOMATIC" in step], plan
    assert [step for step in plan if "healthd_result_name_time_dur (name=? AND checked_at>"
            in step], plan


# --- the p95 from the buckets -------------------------------------------------------------


@pytest.mark.django_db
def test_p95_over_a_day_from_the_buckets_is_within_the_stated_error_of_the_exact_p95():
    now = timezone.now()
    rng = random.Random(11)
    durations = {name: [rng.lognormvariate(mu, 1.0) for _ in range(300)]
                 for name, mu in (("fast", -6.0), ("slow", 0.5))}
    write._write([_run(name, now - index * timedelta(minutes=4), value)
                  for name, values in durations.items()
                  for index, value in enumerate(values)], [])
    since = now - timedelta(hours=24)
    found = reports.p95_durations(["fast", "slow"], since)
    for name, values in durations.items():
        counted = [v for index, v in enumerate(values)
                   if now - index * timedelta(minutes=4) >= since.replace(minute=0, second=0,
                                                                          microsecond=0)]
        exact = reports.p95(counted)
        assert exact is not None
        assert abs(found[name] - exact) <= buckets.RELATIVE_ERROR * exact, (name, found, exact)


# --- the daily rollups -------------------------------------------------------------------


@pytest.mark.django_db
def test_the_daily_rollups_are_the_hours_of_each_day_of_the_sites_time_zone(settings):
    _needs_zone("America/New_York")
    settings.TIME_ZONE = "America/New_York"
    tz = timezone.get_default_timezone()
    start = datetime(2026, 3, 6, 3, tzinfo=UTC)  # across the change of clocks of 8 March
    _write_days(["a", "b"], start, 24 * 4, timedelta(minutes=20), batch_hours=6)
    by_hours = {(row["name"], row["day"]): (row["runs"], row["failures"], row["warnings"])
                for row in HourlyRollup.objects.annotate(day=TruncDay("hour", tzinfo=tz))
                .values("name", "day").annotate(runs=Sum("runs"), failures=Sum("failures"),
                                                warnings=Sum("warnings"))}
    by_days = {(name, day): (runs, failures, warnings) for name, day, runs, failures, warnings
               in DailyRollup.objects.values_list("name", "day", "runs", "failures",
                                                  "warnings")}
    assert by_days == by_hours
    assert len(by_days) == 2 * 5  # four days of hours touch five local days
    assert {day.astimezone(tz).time() for _, day in by_days} == {datetime.min.time()}


@pytest.mark.django_db
def test_the_status_pages_uptime_from_daily_rollups_matches_the_hourly_ones(
        settings, django_assert_max_num_queries):
    _needs_zone("Europe/Paris")
    settings.TIME_ZONE = "Europe/Paris"
    tz = timezone.get_default_timezone()
    now = timezone.now().replace(minute=17)
    _write_days(["a", "b"], now - 35 * 24 * HOUR, 35 * 24, timedelta(minutes=20),
                batch_hours=24)
    checks = [Check(name=name, func=lambda: None, interval=1200.0)
              for name in ("a", "b", "new")]
    with django_assert_max_num_queries(5):
        from_days = daily.read_history(checks, now, tz)
    DailyRollup.objects.update(day=F("day") + HOUR)  # not days of the zone: the hours
    from_hours = daily.read_history(checks, now, tz)
    assert from_days.rows == from_hours.rows
    assert from_days.rows["a"].windows["30d"].runs > 2000
    ratios = {period: figure.ratio for period, figure in from_days.rows["a"].windows.items()}
    assert all(ratio is not None and 0.9 < ratio < 1 for ratio in ratios.values())


# --- the rebuild --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_rebuild_makes_the_summaries_the_write_path_keeps(settings):
    settings.TIME_ZONE = "Asia/Kolkata"  # days that begin on the half hour
    start = (timezone.now() - 3 * 24 * HOUR).replace(minute=0, second=0, microsecond=0)
    _write_days(["a", "b", "c"], start, 3 * 24, timedelta(minutes=15), batch_hours=2)
    kept = _summaries()
    assert kept["hourly"] and kept["daily"] and kept["states"]
    HourlyRollup.objects.all().delete()
    DailyRollup.objects.all().delete()
    CheckStatus.objects.update(status="failing", last_message="wrong")
    call_command("healthd_rollups", "--rebuild", stdout=io.StringIO())
    assert _summaries() == kept


@pytest.mark.django_db
def test_a_rebuild_since_a_day_leaves_the_days_before_it(settings):
    settings.TIME_ZONE = "UTC"
    start = datetime.combine(timezone.now().date() - timedelta(days=3), datetime.min.time(),
                             UTC)
    _write_days(["a"], start, 3 * 24, timedelta(minutes=30), batch_hours=6)
    kept = _summaries()
    HourlyRollup.objects.update(runs=1, d00=0)
    DailyRollup.objects.update(runs=1)
    since = (start + timedelta(days=2)).date()
    call_command("healthd_rollups", "--rebuild", "--since", since.isoformat(),
                 stdout=io.StringIO())
    boundary = datetime.combine(since, datetime.min.time(), UTC)
    hourly = _summaries()["hourly"]
    assert [row for row in hourly if row[1] >= boundary] == [
        row for row in kept["hourly"] if row[1] >= boundary]
    assert {row[2] for row in hourly if row[1] < boundary} == {1}
    assert {row[3] for row in _summaries()["daily"] if row[1] < boundary} == {1}
    assert [row for row in _summaries()["daily"] if row[1] >= boundary] == [
        row for row in kept["daily"] if row[1] >= boundary]


def test_a_rebuild_must_be_asked_for_and_takes_a_date():
    with pytest.raises(CommandError, match="--rebuild"):
        call_command("healthd_rollups")
    with pytest.raises(CommandError, match="not a date"):
        call_command("healthd_rollups", "--rebuild", "--since", "yesterday")


def test_the_buckets_cover_a_tenth_of_a_millisecond_to_a_hundred_seconds():
    assert buckets.BOUNDS[0] == buckets.LOWEST == 1e-4
    assert 100 < buckets.BOUNDS[-1] < 110
    assert all(math.isclose(b / a, buckets.GROWTH) for a, b in
               zip(buckets.BOUNDS, buckets.BOUNDS[1:], strict=False))
