"""sync_schedule: healthd's own beat rows follow the settings and nothing else is touched."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django_celery_beat.models import (
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    PeriodicTasks,
)

from healthd import store
from healthd.checks.base import Status
from healthd.store import client as redis_client
from healthd.store import health as state
from healthd.tasks.schedule import (
    INSTANCES_ROW,
    PRUNE_ROW,
    STATS_ROW,
    SWEEP_ROW,
    sync_schedule,
)
from tests.support.results import write_all, write_result

pytestmark = pytest.mark.django_db


def _rows() -> dict[str, PeriodicTask]:
    return {row.name: row for row in PeriodicTask.objects.filter(name__startswith="healthd")}


def test_checks_sharing_an_interval_share_a_row_and_others_run_at_their_own_pace(settings):
    settings.HEALTHD = {**settings.HEALTHD, "INTERVAL": 30, "CHECKS": [
        "database", "cache", {"check": "storage", "interval": 300}]}
    sync_schedule()
    rows = _rows()
    assert set(rows) == {"healthd: checks every 30s", "healthd: checks every 300s", PRUNE_ROW,
                         STATS_ROW, SWEEP_ROW, INSTANCES_ROW}
    # A quarter of INSTANCE_GRACE (60 s by default).
    assert (rows[INSTANCES_ROW].task, rows[INSTANCES_ROW].interval.every) == (
        "healthd.tasks.watch_instances", 15)
    assert rows[STATS_ROW].task == "healthd.tasks.gather_stats"
    assert rows[STATS_ROW].interval.every == 60
    fast = rows["healthd: checks every 30s"]
    assert json.loads(fast.kwargs) == {"names": ["cache", "database"], "once_per": 30}
    assert (fast.interval.every, fast.interval.period) == (30, IntervalSchedule.SECONDS)
    assert fast.expire_seconds == 30
    assert fast.task == "healthd.tasks.run_checks"
    assert json.loads(rows["healthd: checks every 300s"].kwargs) == {
        "names": ["storage"], "once_per": 300}


def test_sync_is_idempotent_keeps_enabled_and_leaves_other_rows_alone(settings):
    sync_schedule()
    every = IntervalSchedule.objects.get_or_create(every=5, period=IntervalSchedule.MINUTES)[0]
    theirs = PeriodicTask.objects.create(name="nightly report", task="app.report", interval=every)
    row = PeriodicTask.objects.get(name="healthd: checks every 30s")
    row.enabled = False
    row.save()
    changed_before = PeriodicTasks.last_change()
    assert sync_schedule() == {"created": [], "updated": [], "removed": []}
    row.refresh_from_db()
    assert row.enabled is False
    assert PeriodicTask.objects.filter(pk=theirs.pk).exists()
    settings.HEALTHD = {**settings.HEALTHD, "INTERVAL": 60}
    changes = sync_schedule()
    assert changes["created"] == ["healthd: checks every 60s"]
    assert changes["removed"] == ["healthd: checks every 30s"]
    assert PeriodicTask.objects.filter(pk=theirs.pk).exists()
    assert PeriodicTasks.last_change() >= changed_before


def test_the_command_and_migrate_write_the_schedule():
    PeriodicTask.objects.filter(name__startswith="healthd").delete()
    call_command("healthd_schedule", verbosity=0)
    assert "healthd: checks every 30s" in _rows()
    PeriodicTask.objects.filter(name__startswith="healthd").delete()
    call_command("migrate", verbosity=0)
    assert "healthd: checks every 30s" in _rows()


def test_a_row_renamed_by_a_new_interval_stays_disabled_and_a_crontab_row_is_left_be(settings):
    from django_celery_beat.models import CrontabSchedule

    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": ["database", {"check": "cache",
                                                                    "interval": 300}]}
    sync_schedule()
    PeriodicTask.objects.filter(name="healthd: checks every 30s").update(enabled=False)
    nightly = CrontabSchedule.objects.create(minute="0", hour="3")
    PeriodicTask.objects.filter(name="healthd: checks every 300s").update(
        interval=None, crontab=nightly)
    settings.HEALTHD = {**settings.HEALTHD, "INTERVAL": 60}
    changes = sync_schedule()
    assert "healthd: checks every 60s" in changes["created"]
    assert PeriodicTask.objects.get(name="healthd: checks every 60s").enabled is False
    kept = PeriodicTask.objects.get(name="healthd: checks every 300s")
    assert kept.crontab == nightly and kept.interval is None


def test_results_of_removed_checks_leave_the_store(settings, redis_conn):
    from healthd import store
    from tests.support.results import write_all

    write_all()
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": ["database"]}
    sync_schedule()
    assert list(store.read_latest().records) == ["database"]


def _slow_down(row_name: str, every: int) -> PeriodicTask:
    """What an operator does in the admin: put the row on a slower interval."""
    slower, _ = IntervalSchedule.objects.get_or_create(every=every,
                                                       period=IntervalSchedule.SECONDS)
    row = PeriodicTask.objects.get(name=row_name)
    row.interval = slower
    row.save()
    return row


def test_an_operators_interval_survives_sync_and_migrate(settings):
    sync_schedule()
    _slow_down("healthd: checks every 30s", 300)
    assert sync_schedule()["updated"] == []
    call_command("migrate", verbosity=0)
    row = PeriodicTask.objects.get(name="healthd: checks every 30s")
    assert row.interval.every == 300
    # A row healthd still owns follows the settings, as before.
    settings.HEALTHD = {**settings.HEALTHD, "STATS_INTERVAL": 120}
    assert STATS_ROW in sync_schedule()["updated"]
    assert PeriodicTask.objects.get(name=STATS_ROW).interval.every == 120


def test_staleness_follows_the_rows_real_interval(client, settings,
                                                  django_capture_on_commit_callbacks,
                                                  django_assert_num_queries):
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": ["database", "storage"]}
    sync_schedule()
    write_all(but="storage")
    write_result("storage", Status.PASSING, age=200)  # stale after 3 x 30 s
    assert client.get("/__heartbeat__").status_code == 500
    with django_capture_on_commit_callbacks(execute=True):
        _slow_down("healthd: checks every 30s", 300)
    state.forget()
    with django_assert_num_queries(0):
        assert client.get("/__heartbeat__").status_code == 200  # stale after 3 x 300 s
    redis_client.writer().hdel(store.keys().latest, "storage")
    write_result("storage", Status.PASSING, age=1000)
    assert client.get("/__heartbeat__").status_code == 500


def test_intervals_are_published_beside_the_latest_results(settings):
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": [
        "database", {"check": "storage", "interval": 60}]}
    sync_schedule()
    assert store.read_latest().intervals == {"database": 30.0, "storage": 60.0}
    PeriodicTask.objects.filter(name="healthd: checks every 60s").update(
        interval=None, crontab=_nightly())
    sync_schedule()
    assert store.read_latest().intervals == {"database": 30.0}  # a crontab: settings hold
    assert store.read_latest().records == {}  # not a check's result


def _nightly():
    return CrontabSchedule.objects.create(minute="0", hour="3")
