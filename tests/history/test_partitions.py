"""Results partitioned by day on PostgreSQL: converted without losing a row, partitions made
ahead, results of any time stored, whole days dropped by retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.urls import reverse

from healthd.history import partitions, sql
from healthd.history.retention import prune
from healthd.models import CheckResult
from healthd.tasks.schedule import PARTITIONS_ROW, sync_schedule
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql",
                                reason="results are partitioned on PostgreSQL only")

NOW = datetime.now(tz=UTC)


def _row(at: datetime, name: str = "database") -> tuple:
    return (name, "passing", f"{name} at {at:%Y-%m-%d %H:%M}", None, "", 0.01, at, "h")


def _where() -> dict[int, str]:
    """{result id: the partition it is stored in}."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, tableoid::regclass::text FROM healthd_checkresult")
        return dict(cursor.fetchall())


@pytest.mark.django_db
def test_the_conversion_keeps_every_row_and_the_ids_go_on():
    partitions.unpartition(connection)
    assert not partitions.enabled()
    times = [datetime(2001, 3, 4, 5, tzinfo=UTC), NOW - timedelta(days=3), NOW,
             NOW + timedelta(days=2), datetime(2044, 1, 1, tzinfo=UTC)]
    sql.insert_results([_row(at) for at in times] * 3)
    before = list(CheckResult.objects.order_by("id").values_list("id", "name", "checked_at"))

    partitions.partition(connection)

    assert partitions.enabled()
    assert list(CheckResult.objects.order_by("id").values_list(
        "id", "name", "checked_at")) == before
    where = _where()
    assert where[before[0][0]] == sql.DEFAULT_PARTITION  # 2001: past the retention
    assert where[before[2][0]] == partitions.name_for(NOW.date())
    assert where[before[3][0]] == partitions.name_for((NOW + timedelta(days=2)).date())
    later = CheckResult.objects.create(name="later", status="passing", duration=0.1,
                                       checked_at=NOW)
    assert later.id > before[-1][0]
    with connection.cursor() as cursor:  # the key a partitioned table needs
        cursor.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                       "WHERE conrelid = 'healthd_checkresult'::regclass AND contype = 'p'")
        assert cursor.fetchone()[0] == "PRIMARY KEY (id, checked_at)"


@pytest.mark.django_db
def test_partitions_are_made_ahead_by_a_scheduled_task():
    later = NOW + timedelta(days=30)  # beyond what the migration made
    assert partitions.name_for(later.date()) not in sql.result_partitions(connection)

    made = partitions.maintain(now=later)

    existing = sql.result_partitions(connection)
    ahead = [partitions.name_for((later + timedelta(days=n)).date())
             for n in range(partitions.AHEAD_DAYS + 1)]
    assert set(ahead) <= set(existing)
    assert made["created"] == ahead
    assert partitions.maintain(now=later) == {"created": [], "moved": 0}

    from django_celery_beat.models import PeriodicTask
    sync_schedule()
    row = PeriodicTask.objects.get(name=PARTITIONS_ROW)
    assert (row.task, row.interval.every) == ("healthd.tasks.maintain_partitions", 3600)


@pytest.mark.django_db
def test_results_far_in_the_past_and_future_are_stored_then_moved_to_their_day():
    parked = NOW + timedelta(days=40, hours=3)  # a day with no partition yet
    ancient = datetime(1999, 12, 31, 23, 59, tzinfo=UTC)
    future = datetime(2042, 6, 1, 12, tzinfo=UTC)
    sql.insert_results([_row(parked, "parked"), _row(ancient, "ancient"),
                        _row(future, "future")])
    by_name = dict(CheckResult.objects.values_list("name", "id"))
    assert set(by_name) == {"parked", "ancient", "future"}
    assert {_where()[i] for i in by_name.values()} == {sql.DEFAULT_PARTITION}

    made = partitions.maintain(now=NOW)

    where = _where()
    assert where[by_name["parked"]] == partitions.name_for(parked.date())
    assert where[by_name["future"]] == partitions.name_for(future.date())
    assert where[by_name["ancient"]] == sql.DEFAULT_PARTITION  # past the retention: kept aside
    assert made["moved"] == 2
    assert CheckResult.objects.count() == 3
    # And retention takes the stray from the default partition.
    assert prune(now=NOW)["results"] == 1
    assert set(CheckResult.objects.values_list("name", flat=True)) == {"parked", "future"}


def _dead_tuples() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, n_dead_tup FROM pg_stat_user_tables "
                       "WHERE relname LIKE 'healthd_checkresult%%'")
        return dict(cursor.fetchall())


@pytest.mark.django_db(transaction=True)
def test_retention_drops_whole_days_and_leaves_no_dead_tuples(settings):
    settings.HEALTHD = {**settings.HEALTHD, "RETENTION_DAYS": 14}
    now = datetime(2030, 1, 10, 12, tzinfo=UTC)  # the cutoff: 2029-12-27 12:00
    days = [datetime(2029, 12, d, tzinfo=UTC) for d in (25, 26, 27, 28)]
    for day in days:
        sql.attach_partition(connection, partitions.name_for(day.date()), *partitions.bounds(
            day.date()))
    sql.insert_results([_row(day + timedelta(hours=h)) for day in days for h in (1, 13, 23)])
    control = CheckResult.objects.filter(checked_at__gte=days[3]).order_by("id").first()
    assert control is not None
    CheckResult.objects.filter(id=control.id).delete()  # one dead tuple, to see stats arrive

    assert prune(now=now)["results"] == 6  # the 25th and 26th, whole

    names = sql.result_partitions(connection)
    assert partitions.name_for(days[0].date()) not in names
    assert partitions.name_for(days[1].date()) not in names
    # The 27th is only partly past the cutoff: kept whole until all of it is.
    assert CheckResult.objects.filter(checked_at__gte=days[2]).count() == 5
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
    control_partition = partitions.name_for(days[3].date())
    wait_for(lambda: _dead_tuples().get(control_partition), timeout=10)
    # Only this test's days: earlier tests' rolled-back rows count as dead elsewhere.
    ours = {partitions.name_for(day.date()) for day in days}
    assert {name: dead for name, dead in _dead_tuples().items() if name in ours and dead} == {
        control_partition: 1}
    for day in days[2:]:
        sql.drop_partition(connection, partitions.name_for(day.date()))


@pytest.mark.django_db
def test_the_admin_lists_and_shows_results_across_partitions(admin_client):
    assert partitions.enabled()
    rows = [_row(NOW - timedelta(days=d, minutes=1), f"check-{d}") for d in (0, 1, 2)]
    sql.insert_results([*rows, _row(datetime(2003, 1, 1, tzinfo=UTC), "ancient")])
    partitions.maintain()  # the days before today get their partitions
    assert len(set(_where().values())) == 4  # three days' partitions and the default

    listing = admin_client.get(reverse("admin:healthd_checkresult_changelist"))
    assert listing.status_code == 200
    for name in ("check-0", "check-1", "check-2", "ancient"):
        assert name in listing.content.decode()
    searched = admin_client.get(reverse("admin:healthd_checkresult_changelist"),
                                {"q": "check-1"})
    assert "check-1" in searched.content.decode()
    assert "check-2" not in searched.content.decode()
    result = CheckResult.objects.get(name="check-2")
    detail = admin_client.get(reverse("admin:healthd_checkresult_change", args=[result.id]))
    assert detail.status_code == 200
    assert "check-2" in detail.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_migration_goes_back_to_a_plain_table_and_forward_again_keeping_every_row():
    from django.db.migrations.executor import MigrationExecutor

    sql.insert_results([_row(NOW - timedelta(days=d, hours=h), f"check-{h}")
                        for d in (0, 1, 5, 400) for h in (1, 2)])
    before = list(CheckResult.objects.order_by("id").values_list("id", "name", "checked_at"))

    MigrationExecutor(connection).migrate([("healthd", "0008_delivery_channel_labels")])
    assert not partitions.enabled()
    assert list(CheckResult.objects.order_by("id").values_list(
        "id", "name", "checked_at")) == before

    # Forward to the latest migrations, as later tests expect every column.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert partitions.enabled()
    assert list(CheckResult.objects.order_by("id").values_list(
        "id", "name", "checked_at")) == before
    assert CheckResult.objects.create(name="next", status="passing", duration=0.1,
                                      checked_at=NOW).id > before[-1][0]


@pytest.mark.django_db(transaction=True)
def test_results_written_during_the_conversion_are_all_kept():
    import threading

    from django.db import connections

    sql.insert_results([_row(NOW - timedelta(minutes=m)) for m in range(200)])
    partitions.unpartition(connection)
    written: list[int] = []
    stop = threading.Event()

    def write() -> None:
        try:
            while not stop.is_set():
                written.append(CheckResult.objects.create(
                    name="meanwhile", status="passing", duration=0.01, checked_at=NOW).id)
        finally:
            connections.close_all()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        wait_for(lambda: len(written) >= 5, timeout=10)
        partitions.partition(connection)
        count_at_the_swap = len(written)
        wait_for(lambda: len(written) >= count_at_the_swap + 5, timeout=10)
    finally:
        stop.set()
        writer.join(timeout=10)
    assert partitions.enabled()
    assert sorted(CheckResult.objects.filter(name="meanwhile").values_list(
        "id", flat=True)) == sorted(written)
    assert CheckResult.objects.count() == 200 + len(written)


@pytest.mark.django_db
def test_a_running_checks_strip_opens_only_the_recent_days_partitions():
    import json

    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from healthd.history import reports

    now = timezone.now()
    today = now.astimezone(UTC).date()
    existing = set(sql.result_partitions(connection))
    for back in range(40, 0, -1):  # forty days of partitions, as a month's history has
        day = today - timedelta(days=back)
        if partitions.name_for(day) not in existing:
            sql.attach_partition(connection, partitions.name_for(day), *partitions.bounds(day))
    CheckResult.objects.bulk_create([
        CheckResult(name=name, status="passing", duration=0.01, message="",
                    checked_at=now - offset - index * timedelta(seconds=10))
        for name, offset in (("running", timedelta(0)), ("stopped", timedelta(days=30)))
        for index in range(200)])
    with CaptureQueriesContext(connection) as queries:
        latest = reports.latest_results({"running": 10.0, "stopped": 10.0}, now)
    # The stopped check's strip is still found, a month back.
    assert [len(latest[name]) for name in ("running", "stopped")] == [50, 50]
    assert latest["stopped"][-1].checked_at == now - timedelta(days=30)
    assert [tuple(r) for r in latest["running"]] == [
        tuple(row) for row in reversed(CheckResult.objects.filter(name="running")
                                       .order_by("-checked_at")
                                       .values_list("status", "checked_at", "duration")[:50])]
    assert len(queries) == 1
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + queries.captured_queries[0]["sql"])
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    scans: dict[str, int] = {}

    def walk(node: dict) -> None:
        relation = str(node.get("Relation Name", ""))
        day = partitions.day_of(relation)
        if day is not None and day < today - timedelta(days=2):
            scans[relation] = max(scans.get(relation, 0), node["Actual Loops"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    # The days older than the recent ones are in the plan, and opened once: for the
    # stopped check only, not for the running one (read from its last day's partitions).
    assert len(scans) >= 38
    assert max(scans.values()) == 1, scans
