"""Passive checks: jobs report in (a decorator, pings, a command), and not reporting in on
time is a failure the sweep records; the views read them like any check."""

from __future__ import annotations

import datetime
import subprocess
import sys
import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

import healthd
from healthd import passive, signals, store
from healthd.checks import registry
from healthd.checks.base import Status
from healthd.checks.passive import make_passive, seconds
from healthd.models import CheckResult, Transition
from healthd.passive import beat, celery_runs, declarations, lateness, recording, sweeper
from healthd.store import client as redis_client
from healthd.store import health as state
from healthd.tasks.deliver import deliver_outbox
from healthd.tasks.schedule import SWEEP_ROW, sync_schedule, wanted_rows
from healthd.tasks.sweep import sweep_passive

pytestmark = pytest.mark.django_db

TOKEN = "backup-token-0123"
SECRET_URL = "redis://user:hunter2-secret@db.internal:6379/0"


@pytest.fixture(autouse=True)
def queued(monkeypatch):
    """The tasks a report queues (delivery, one-shot sweeps), kept here rather than sent."""
    calls: list[tuple[str, dict]] = []
    monkeypatch.setattr(recording, "queue_task", lambda name, **options: calls.append(
        (name, options)) or True)
    return calls


@pytest.fixture
def backup(settings):
    """A passive check declared in the settings, with its own token."""
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": [
        "storage", {"passive": "backup", "every": "1d", "grace": "2h", "token": TOKEN}]}
    state.forget()


def _record(name: str) -> store.StoredResult:
    return store.read_latest().records[name]


def _health(name: str) -> state.CheckState:
    state.forget()
    return state.health().by_name()[name]


# -- declaring ---------------------------------------------------------------------------


def test_durations_are_seconds_or_words():
    assert seconds(90) == 90.0
    assert seconds("90s") == 90.0
    assert seconds("1h30m") == 5400.0
    assert seconds("1d") == 86400.0
    assert seconds(datetime.timedelta(minutes=2)) == 120.0
    for bad in ("soon", 0, -1, True, "5 parsecs"):
        with pytest.raises(ImproperlyConfigured):
            seconds(bad)


def test_a_declared_passive_check_is_listed_never_run_and_not_critical(backup):
    check = {c.name: c for c in registry.configured_checks()}["backup"]
    assert check.critical is False
    assert check.effective_stale_after == 86400 + 7200
    assert [c.name for c in registry.checks_named(None)] == ["storage"]
    assert registry.checks_named(["backup", "storage"])[0].name == "storage"
    rows = wanted_rows()
    assert all("backup" not in kwargs.get("names", []) for _, _, kwargs in rows.values())
    assert rows[SWEEP_ROW][0] == "healthd.tasks.sweep_passive"
    assert _health("backup").status == Status.UNKNOWN


def test_a_passive_check_raises_no_warning_about_its_runs(settings):
    from healthd.system_checks import check_settings

    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": [
        {"passive": "fast", "every": 5, "grace": 60}]}
    assert check_settings() == []


def test_a_malformed_passive_entry_is_a_configuration_problem(settings):
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": [
        {"passive": "no spaces please", "every": 60}, {"passive": "x", "grace": 5},
        {"passive": "y", "every": 60, "colour": "red"}]}
    problems = registry.problems()
    assert len(problems) == 3
    assert "must match" in problems[0] and "needs 'every'" in problems[1]
    assert "colour" in problems[2]


def test_monitored_is_at_the_package_root():
    assert healthd.monitored is passive.monitored
    with pytest.raises(ImproperlyConfigured):
        healthd.monitored("bad name", every=10)


# -- the decorator -----------------------------------------------------------------------


def test_each_run_is_recorded_passing_with_its_duration_or_failing_redacted():
    changes = []
    signals.check_changed.connect(lambda **kw: changes.append(
        (kw["previous"], str(kw["result"].status))), weak=False, dispatch_uid="t-passive")

    @healthd.monitored("nightly-export", every=3600, grace=600)
    def export(fail: bool = False) -> str:
        time.sleep(0.02)
        if fail:
            raise ConnectionError(f"cannot reach {SECRET_URL}")
        return "exported"

    try:
        assert export() == "exported"
        record = _record("nightly-export")
        assert record.current == Status.PASSING and record.critical is False
        assert record.duration >= 0.02
        assert record.details["passive"] == {"every": 3600.0, "grace": 600.0, "source": "task"}
        with pytest.raises(ConnectionError):
            export(fail=True)
        record = _record("nightly-export")
        assert record.current == Status.FAILING
        assert record.message.startswith("ConnectionError: cannot reach")
        assert "hunter2" not in record.message
        # the check is read like any other: listed, failing, not critical
        seen = _health("nightly-export")
        assert seen.status == Status.FAILING and not seen.counts_against
        deliver_outbox()
        assert ("passing", "failing") in changes
        assert Transition.objects.filter(name="nightly-export", status="failing").exists()
        assert CheckResult.objects.filter(name="nightly-export").count() == 2
    finally:
        signals.check_changed.disconnect(dispatch_uid="t-passive")


def test_a_job_that_stops_reporting_is_late_in_the_views_and_then_in_the_store():
    @healthd.monitored("quick", every=0.3, grace=0.2)
    def quick():
        return None

    quick()
    assert passive.sweep() == []  # not due yet
    time.sleep(0.6)
    seen = _health("quick")
    assert seen.status == Status.STALE and seen.message.startswith("late: last success")
    assert passive.sweep() == ["quick"]
    record = _record("quick")
    assert record.current == Status.FAILING
    assert record.message.startswith("late: last success")
    assert passive.sweep() == []  # recorded a moment ago: not again at once
    quick()
    assert _record("quick").current == Status.PASSING


def test_a_run_that_began_and_never_finished_is_late_after_grace():
    check = declarations.monitor("long-job", every=3600, grace=0.2)
    assert passive.report_finish(check, True, duration=0.1) is not None
    passive.report_start(check)
    assert passive.sweep() == []
    time.sleep(0.3)
    assert passive.sweep() == ["long-job"]
    assert "has not finished" in _record("long-job").message


def test_a_success_while_the_sweep_decides_makes_it_start_over(monkeypatch):
    check = declarations.monitor("racer", every=0.1, grace=0.1)
    passive.report_finish(check, True, duration=0.0)
    time.sleep(0.3)
    original = sweeper.late_message
    raced = []

    def success_arrives_meanwhile(*args, **kwargs):
        if not raced:
            raced.append(True)
            passive.report_finish(check, True, duration=0.0)  # another process, in effect
        return original(*args, **kwargs)

    monkeypatch.setattr(sweeper, "late_message", success_arrives_meanwhile)
    assert passive.sweep() == []
    assert raced and _record("racer").current == Status.PASSING


def test_a_declared_check_never_heard_of_is_late_a_period_after_it_is_first_seen(settings):
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": [
        {"passive": "weekly", "every": 0.2, "grace": 0.1}]}
    assert passive.sweep() == []  # first seen now
    time.sleep(0.4)
    assert passive.sweep() == ["weekly"]
    assert _record("weekly").message.startswith("late: no success yet")


def test_a_report_due_before_the_next_sweep_queues_a_sweep_for_its_deadline(queued):
    def timers() -> list[dict]:
        return [options for name, options in queued if name == recording.SWEEP_TASK]

    check = declarations.monitor("soon", every=5, grace=1)
    passive.report_finish(check, True, duration=0.0)
    (first,) = timers()
    assert first["kwargs"]["names"] == ["soon"]
    assert 3 < first["countdown"] <= 6.05  # every + grace from the report (a busy machine)
    passive.report_finish(declarations.monitor("later", every=3600, grace=60), True, duration=0.0)
    passive.report_start(check)  # due at start + grace: sooner, so a sweep for that too
    passive.report_finish(check, True, duration=0.0)  # later than the one queued: no more
    assert len(timers()) == 2
    # The one-shot sweeps run: the stale one does nothing, the latest queues the next.
    passive.sweep(["soon"], armed_for=first["kwargs"]["armed_for"])
    assert len(timers()) == 2
    passive.sweep(["soon"], armed_for=timers()[1]["kwargs"]["armed_for"])
    assert len(timers()) == 3 and 3 < timers()[2]["countdown"] <= 6.05
    passive.sweep(["soon"], armed_for=timers()[1]["kwargs"]["armed_for"])
    assert len(timers()) == 3


def test_a_run_far_slower_than_allowed_is_a_warning():
    check = declarations.monitor("sluggish", every=60, grace=60, slow_after=1)
    passive.report_finish(check, True, duration=2.5)
    record = _record("sluggish")
    assert record.current == Status.WARNING and record.message.startswith("slow: took 2.500 s")
    usual = declarations.monitor("usual", every=60, grace=60, slow_after="3x")
    for _ in range(4):
        passive.report_finish(usual, True, duration=1.0)
    assert _record("usual").current == Status.PASSING
    passive.report_finish(usual, True, duration=10.0)
    assert _record("usual").current == Status.WARNING


def test_a_decorated_celery_task_object_reports_through_the_task_signals():
    from celery import shared_task

    @healthd.monitored("signalled", every=60, grace=60)
    @shared_task(name="tests.passive.test_passive.signalled")
    def signalled():
        return 1

    task = signalled._get_current_object()
    task.push_request(id="run-1")
    try:
        celery_runs._run_began(sender=task, task_id="run-1", task=task)
        celery_runs._run_succeeded(sender=task, result=1)
    finally:
        task.pop_request()
    assert _record("signalled").current == Status.PASSING


def test_known_passive_checks_survive_a_schedule_sync_and_forget_removes_one():
    passive.report_finish(declarations.monitor("kept", every=60, grace=60), True, duration=0.0)
    sync_schedule()
    assert "kept" in store.read_latest().records
    assert passive.forget("kept")
    assert "kept" not in store.read_latest().records
    assert "kept" not in passive.known_names()


# -- pings over HTTP ---------------------------------------------------------------------


def _auth(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f'WATCHMAN-TOKEN Token="{token}"'}


def test_a_ping_with_the_right_token_is_a_success(client, backup):
    response = client.post("/healthd/ping/backup", **_auth(TOKEN))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "check": "backup", "recorded": "passing"}
    assert _record("backup").current == Status.PASSING
    assert client.post(f"/healthd/ping/backup/?token={TOKEN}").status_code == 200


def test_a_wrong_or_missing_token_is_refused_and_an_unknown_name_is_a_bare_404(client, backup):
    assert client.post("/healthd/ping/backup", **_auth("wrong")).status_code == 403
    assert client.post("/healthd/ping/backup").status_code == 403
    assert client.post("/healthd/ping/backup?token=").status_code == 403
    assert "backup" not in store.read_latest().records
    unknown = client.post("/healthd/ping/nope", **_auth(TOKEN))
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "not found"}
    assert client.get(f"/healthd/ping/backup?token={TOKEN}").status_code == 405


def test_the_sites_tokens_are_accepted_too(client, settings):
    settings.HEALTHD = {**settings.HEALTHD, "TOKENS": ["site-token-999"], "CHECKS": [
        {"passive": "backup", "every": 60}]}
    assert client.post("/healthd/ping/backup", **_auth("site-token-999")).status_code == 200
    settings.HEALTHD = {**settings.HEALTHD, "TOKENS": []}
    assert client.post("/healthd/ping/backup", **_auth("")).status_code == 403


def test_start_then_fail_measures_the_run_and_keeps_10_kb_of_the_body_redacted(client, backup):
    assert client.post("/healthd/ping/backup/start", **_auth(TOKEN)).json()["started"] is True
    time.sleep(0.1)
    body = f"pg_dump: could not connect to {SECRET_URL} ({TOKEN})\n" + "x" * 20_000
    response = client.post("/healthd/ping/backup/fail", body, content_type="text/plain",
                           **_auth(TOKEN))
    assert response.json()["recorded"] == "failing"
    record = _record("backup")
    assert record.current == Status.FAILING and record.duration >= 0.1
    assert record.message.startswith("pg_dump: could not connect")
    assert "hunter2" not in record.message and len(record.message) <= 10 * 1024
    assert TOKEN not in record.message


# -- the command -------------------------------------------------------------------------


def test_healthd_ping_reports_a_command_that_exits_1(backup, capsys):
    with pytest.raises(SystemExit) as exited:
        call_command("healthd_ping", "backup", "--", sys.executable, "-c",
                     "print('dumping'); print('disk full'); raise SystemExit(1)")
    assert exited.value.code == 1
    record = _record("backup")
    assert record.current == Status.FAILING
    assert record.message.startswith("exit status 1 after")
    assert "disk full" in record.message
    assert "disk full" in capsys.readouterr().out
    call_command("healthd_ping", "backup", "--", sys.executable, "-c", "pass")
    assert _record("backup").current == Status.PASSING


def test_healthd_ping_takes_its_options_before_or_after_the_name(monkeypatch):
    from healthd.management.commands import healthd_ping

    sent = []
    monkeypatch.setattr(healthd_ping.HttpReporter, "_post",
                        lambda self, suffix, body="": sent.append((self.base + suffix,
                                                                   self.token)))
    call_command("healthd_ping", "backup", "--url", "http://site/healthd/ping/", "--token",
                 "t1", "--", sys.executable, "-c", "pass")
    call_command("healthd_ping", "--url", "http://site/healthd/ping", "backup")
    assert sent == [("http://site/healthd/ping/backup/start", "t1"),
                    ("http://site/healthd/ping/backup", "t1"),
                    ("http://site/healthd/ping/backup", "")]


def test_healthd_ping_needs_a_known_check():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="no passive check"):
        call_command("healthd_ping", "nobody", "--", "true")


# -- watched beat rows -------------------------------------------------------------------


def _row(name: str, task: str = "app.tasks.export", **schedule) -> PeriodicTask:
    if not schedule:
        schedule["interval"] = IntervalSchedule.objects.get_or_create(
            every=10, period=IntervalSchedule.MINUTES)[0]
    return PeriodicTask.objects.create(name=name, task=task, **schedule)


def test_every_enabled_beat_row_is_watched_and_a_disabled_one_forgotten(settings):
    settings.HEALTHD = {**settings.HEALTHD, "WATCH_PERIODIC_TASKS": True}
    weekdays = CrontabSchedule.objects.create(minute="0", hour="9", day_of_week="1-5")
    _row("Nightly export")
    office = _row("office hours", crontab=weekdays)
    _row("healthd: mine", task="healthd.tasks.run_checks")
    synced = beat.sync_watched()
    assert synced["watched"] == ["Nightly-export", "office-hours"]
    nightly = passive.check_named("Nightly-export")
    assert nightly.interval == 600 and nightly.critical is False
    office_check = passive.check_named("office-hours")
    assert office_check.interval == 3 * 86400  # Friday to Monday
    office.enabled = False
    office.save()
    assert beat.sync_watched()["forgotten"] == ["office-hours"]
    assert passive.check_named("office-hours") is None
    PeriodicTask.objects.filter(name="Nightly export").delete()
    settings.HEALTHD = {**settings.HEALTHD, "WATCH_PERIODIC_TASKS": False}
    assert beat.sync_watched()["forgotten"] == ["Nightly-export"]


def test_a_crontab_is_due_at_its_next_fire_not_a_period_later():
    weekdays = ("0", "9", "*", "*", "1-5", "UTC")
    friday = datetime.datetime(2026, 1, 2, 9, 0, 30, tzinfo=datetime.UTC).timestamp()
    monday = datetime.datetime(2026, 1, 5, 9, 0, tzinfo=datetime.UTC).timestamp()
    assert lateness.next_fire(weekdays, friday) == monday
    office = make_passive(3 * 86400, 600, source="beat", crontab=weekdays)
    assert lateness.deadline(office, {"last_success": repr(friday)}) == monday + 600


def test_a_run_sent_by_beat_for_a_watched_row_is_reported(settings):
    settings.HEALTHD = {**settings.HEALTHD, "WATCH_PERIODIC_TASKS": {"grace": 30}}
    _row("export rows")

    class Task:
        name = "app.tasks.export"

        class request:  # what Celery's task.request looks like here
            id = "beat-run-1"
            periodic_task_name = "export rows"

    celery_runs._run_began(sender=Task, task_id="beat-run-1", task=Task)
    celery_runs._run_failed(sender=Task, task_id="beat-run-1",
                            exception=ZeroDivisionError("division by zero"))
    record = _record("export-rows")
    assert record.current == Status.FAILING
    assert record.message == "ZeroDivisionError: division by zero"
    assert record.details["passive"]["source"] == "beat"
    assert record.details["passive"]["grace"] == 30
    settings.HEALTHD = {**settings.HEALTHD, "WATCH_PERIODIC_TASKS": False}
    assert celery_runs.checks_of(Task) == []


def test_the_sweep_task_syncs_rows_and_sweeps(settings):
    settings.HEALTHD = {**settings.HEALTHD, "WATCH_PERIODIC_TASKS": True}
    _row("reports")
    outcome = sweep_passive()
    assert outcome == {"late": [], "watched": ["reports"], "forgotten": []}
    assert "reports" in passive.known_names()


def test_redis_down_a_report_is_logged_and_the_job_goes_on(settings, caplog):
    @healthd.monitored("resilient", every=60, grace=60)
    def resilient():
        return "done"

    settings.HEALTHD = {**settings.HEALTHD, "REDIS_URL": "redis://127.0.0.1:1/0"}
    redis_client.forget_clients()
    started = time.monotonic()
    assert resilient() == "done"
    assert time.monotonic() - started < 15
    assert "could not record" in caplog.text


def test_healthd_ping_is_reachable_from_the_healthd_command(backup):
    # `healthd ping` is `healthd healthd_ping`: the command line passes it to manage.py.
    finished = subprocess.run(
        [sys.executable, "-m", "healthd", "healthd_ping", "--help"],
        capture_output=True, text=True, timeout=60,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "tests.site.settings"})
    assert finished.returncode == 0, finished.stderr
    assert "exit status" in finished.stdout
