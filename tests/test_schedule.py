"""sync_schedule: healthd's own beat rows follow the settings and nothing else is touched."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

from healthd.tasks.schedule import PRUNE_ROW, STATS_ROW, SWEEP_ROW, sync_schedule

pytestmark = pytest.mark.django_db


def _rows() -> dict[str, PeriodicTask]:
    return {row.name: row for row in PeriodicTask.objects.filter(name__startswith="healthd")}


def test_checks_sharing_an_interval_share_a_row_and_others_run_at_their_own_pace(settings):
    settings.HEALTHD = {**settings.HEALTHD, "INTERVAL": 30, "CHECKS": [
        "database", "cache", {"check": "storage", "interval": 300}]}
    sync_schedule()
    rows = _rows()
    assert set(rows) == {"healthd: checks every 30s", "healthd: checks every 300s", PRUNE_ROW,
                         STATS_ROW, SWEEP_ROW}
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
    from tests.support import write_all

    write_all()
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": ["database"]}
    sync_schedule()
    assert list(store.read_latest().records) == ["database"]
