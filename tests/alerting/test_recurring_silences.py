"""A repeating silence keeps a check quiet exactly within its windows: the run records the
transition silenced inside one and tells it outside; the end of a window is told once, as
for a one-off silence. Made from ``manage.py healthd_silence`` and the admin."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from celery import current_app
from django.core.management import CommandError, call_command
from django.utils import timezone

from healthd.models import Silence, Transition
from healthd.store import client as redis_client
from healthd.store import health as state
from healthd.store.keyspace import keys
from healthd.tasks.run import run_and_record
from tests.support.alerting import LoopbackServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db

FLAG = {"fail": False}
ZONE = "America/New_York"


def backup_target():
    if FLAG["fail"]:
        raise RuntimeError("the backup holds a lock")
    return "fine"


@pytest.fixture
def webhook(settings):
    """The check "backup_target", a webhook channel on loopback, tasks run in-process."""
    FLAG["fail"] = False
    current_app.conf.task_always_eager = True
    with LoopbackServer() as server:
        settings.HEALTHD = {**settings.HEALTHD, "PUBLIC_DETAILS": True, "CHECKS": [
            {"check": "tests.alerting.test_recurring_silences.backup_target",
             "name": "backup_target", "timeout": 2}],
            "NOTIFY": [{"webhook": f"{server.url}/hook", "secret": "for-signing"}]}
        yield server
    current_app.conf.task_always_eager = False
    FLAG["fail"] = False


def _run(fail: bool) -> None:
    FLAG["fail"] = fail
    run_and_record()
    state.forget()


def _told(server: LoopbackServer) -> list[tuple]:
    return [(b["previous"], b["status"], b["silenced"]) for b in server.bodies()]


def _daily_from(local_start: datetime, **fields) -> Silence:
    """A silence of backup_target repeating daily at ``local_start``'s time of day."""
    return Silence.objects.create(
        checks=["backup_target"], every=f"{local_start.minute} {local_start.hour} * * *",
        duration=timedelta(hours=1), time_zone=ZONE, starts_at=timezone.now() - timedelta(
            days=2), ends_at=None, reason="nightly backup", **fields)


def _mirrored() -> dict[str, dict]:
    stored = redis_client.writer().hgetall(keys().silences)
    return {(k.decode() if isinstance(k, bytes) else k): json.loads(v) for k, v in stored.items()}


def test_inside_a_window_a_transition_is_recorded_silenced_and_told_to_nobody(webhook,
                                                                              client):
    _run(False)
    _run(True)
    assert client.get("/__heartbeat__").status_code == 500
    local_now = timezone.now().astimezone(ZoneInfo(ZONE))
    silence = _daily_from(local_now - timedelta(minutes=5))
    assert silence.is_active()
    state.forget()
    assert client.get("/__heartbeat__").status_code == 200  # shown at once, as a one-off's
    _run(False)  # recovered inside the window: recorded, told to nobody
    _run(True)
    assert _told(webhook) == [("passing", "failing", False)]  # before the silence only
    assert list(Transition.objects.order_by("at", "id").values_list("status", "silenced")) == [
        ("failing", False), ("passing", True), ("failing", True)]
    # The mirror the record script judges by holds the window, as a one-off silence.
    start = (local_now - timedelta(minutes=5)).replace(second=0, microsecond=0)
    window = _mirrored()[f"{silence.pk}@{int(start.timestamp())}"]
    assert window == {"checks": ["backup_target"], "starts_at": start.timestamp(),
                      "ends_at": (start + timedelta(hours=1)).timestamp()}
    response = client.get("/__heartbeat__").json()
    message = response["details"]["backup_target"]["messages"]["healthd.backup_target"]
    until = (start + timedelta(hours=1)).astimezone(UTC)
    assert message.startswith(f"silenced until {until:%Y-%m-%dT%H:%M:%SZ}: ")


def test_outside_its_windows_a_transition_is_told(webhook):
    _run(False)
    local_now = timezone.now().astimezone(ZoneInfo(ZONE))
    later = _daily_from(local_now + timedelta(hours=2))  # yesterday's ended 21 h ago
    assert not later.is_active()
    assert later.is_active(timezone.now() + timedelta(hours=2, minutes=1))
    _run(True)
    assert _told(webhook) == [("passing", "failing", False)]
    assert list(Transition.objects.values_list("silenced", flat=True)) == [False]


def test_the_end_of_a_window_is_told_once(webhook):
    _run(False)
    ends = timezone.now() + timedelta(seconds=2)  # the first run falls inside, even if slow
    Silence.objects.create(checks=[], every="* * * * *", duration=timedelta(minutes=5),
                           ends_at=ends, reason="deploy train")
    _run(True)
    assert _told(webhook) == []
    wait_for(lambda: timezone.now() > ends, timeout=5, message="the window to end")
    _run(True)
    _run(True)
    assert _told(webhook) == [("passing", "failing", False)]
    assert list(Transition.objects.order_by("at", "id").values_list("silenced", flat=True)
                ) == [True, False]


def test_the_command_makes_and_lists_repeating_silences(webhook, capsys):
    call_command("healthd_silence", "backup_target", "--every", "0 2 * * 0", "--duration",
                 "2h", "--tz", "Europe/Paris", "--reason", "weekly backup", "--by", "ops")
    weekly = Silence.objects.get()
    assert (weekly.every, weekly.duration, weekly.time_zone, weekly.ends_at) == (
        "0 2 * * 0", timedelta(hours=2), "Europe/Paris", None)
    out = capsys.readouterr().out
    assert f"silence {weekly.pk}: backup_target every 0 2 * * 0 for 2h (Europe/Paris)" in out
    assert "next " in out and ":00 CET to " in out
    call_command("healthd_silence", "--all", "--days", "sat,sun", "--from", "23:30", "--to",
                 "00:30", "--tz", ZONE, "--until", "2099-01-01T00:00")
    nightly = Silence.objects.exclude(pk=weekly.pk).get()
    assert (nightly.checks, nightly.every, nightly.duration) == (
        [], "30 23 * * sat,sun", timedelta(hours=1))
    call_command("healthd_silence", "--list")
    listed = capsys.readouterr().out
    assert "every 0 2 * * 0 for 2h (Europe/Paris), for ever" in listed
    assert "every 30 23 * * sat,sun for 1h (America/New_York), until 2099-01-01" in listed
    call_command("healthd_silence", "--end", str(weekly.pk))
    weekly.refresh_from_db()
    assert weekly.ends_at is not None and not weekly.is_active()
    # The one-line deploy hook (no names: every check) is a one-off silence.
    call_command("healthd_silence", "--for", "10m", "--reason", "deploy")
    deploy = Silence.objects.get(reason="deploy")
    assert deploy.checks == [] and str(deploy).startswith("every check")
    assert not deploy.every and deploy.ends_at - deploy.starts_at == timedelta(minutes=10)
    for args, says in [
        (["--every", "0 2 * *", "--for", "2h"], "not a cron expression: '0 2 \\* \\*'"),
        (["--every", "0 2 * * 0"], "--every needs --for"),
        (["--every", "0 2 * * 0", "--for", "2h", "--tz", "Mars/Olympus"],
         "not a time zone: 'Mars/Olympus'"),
        (["--days", "sun", "--from", "02:00"], "--days, --from and --to go together"),
        (["--days", "sun", "--from", "2am", "--to", "04:00"], "not a time of day: '2am'"),
        (["--for", "1h", "--tz", "UTC"], "--tz and --until are for a repeating silence"),
        (["--every", "0 2 * * 0", "--for", "2h", "--until", "soon"], "--until: not an ISO"),
    ]:
        with pytest.raises(CommandError, match=says):
            call_command("healthd_silence", "backup_target", *args)
    assert Silence.objects.count() == 3


def _admin_post(admin_client, **fields):
    now = timezone.now()
    data = {"checks": "backup_target", "starts_at_0": now.strftime("%Y-%m-%d"),
            "starts_at_1": now.strftime("%H:%M:%S"), "ends_at_0": "", "ends_at_1": "",
            "every": "", "duration": "", "time_zone": "", "reason": "backup", **fields}
    return admin_client.post("/admin/healthd/silence/add/", data)


def test_the_admin_makes_repeating_silences_and_says_what_is_wrong(webhook, admin_client):
    made = _admin_post(admin_client, every="sun 02:00-04:00", time_zone="Europe/Paris")
    assert made.status_code == 302, made.content.decode()[:2000]
    weekly = Silence.objects.get()
    assert (weekly.every, weekly.duration, weekly.time_zone, weekly.ends_at) == (
        "0 2 * * sun", timedelta(hours=2), "Europe/Paris", None)
    made = _admin_post(admin_client, every="*/30  1-3 * * mon-fri", duration="15m")
    assert made.status_code == 302, made.content.decode()[:2000]
    assert Silence.objects.filter(every="*/30 1-3 * * mon-fri",
                                  duration=timedelta(minutes=15)).exists()
    page = admin_client.get("/admin/healthd/silence/").content.decode()
    assert "backup_target every 0 2 * * sun for 2h (Europe/Paris)" in page
    change = admin_client.get(f"/admin/healthd/silence/{weekly.pk}/change/").content.decode()
    assert 'value="0 2 * * sun"' in change and 'value="2h"' in change
    for fields, says in [
        ({"every": "0 2 * *", "duration": "2h"}, "not a cron expression: &#x27;0 2 * *&#x27;"),
        ({"every": "0 25 * * 0", "duration": "2h"}, "25 &gt; 23"),
        ({"every": "0 2 * * 0", "duration": "2h", "time_zone": "Europe/Pariss"},
         "not a time zone: &#x27;Europe/Pariss&#x27;"),
        ({"every": "0 2 * * 0"}, "With a cron expression, say how long each window lasts"),
        ({"every": "0 2 * * 0", "duration": "soon"}, "not a duration"),
        ({"every": "sun 02:00-04:00", "duration": "2h"}, "Days and hours say how long"),
        ({"every": "sun 02:00-25:00"}, "not a time of day"),
        ({}, "A silence that does not repeat ends."),
        ({"time_zone": "UTC", "ends_at_0": "2099-01-01", "ends_at_1": "00:00:00"},
         "A time zone is for a repeating silence."),
    ]:
        page = _admin_post(admin_client, **fields)
        assert page.status_code == 200 and says in page.content.decode(), fields
    assert Silence.objects.count() == 2
