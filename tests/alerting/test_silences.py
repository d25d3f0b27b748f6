"""Silences change who is told, never what is true: silenced transitions are recorded and
marked, nobody is notified or paged, and a state still changed when the silence ends is
told once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sentry_sdk
from celery import current_app
from django.core.management import CommandError, call_command
from django.utils import timezone

from healthd import signals
from healthd.models import Silence, Transition
from healthd.store import health as state
from healthd.tasks.run import run_and_record
from tests.support.alerting import LoopbackServer, sentry_events

pytestmark = pytest.mark.django_db

FLAG = {"fail": False}
SECRET = "s3cret-for-signing"


def toggled():
    if FLAG["fail"]:
        raise RuntimeError("toggled is down")
    return "fine"


@pytest.fixture
def webhook(settings):
    """The check "toggled", a webhook channel on loopback, tasks run in this process."""
    FLAG["fail"] = False
    current_app.conf.task_always_eager = True
    with LoopbackServer() as server:
        settings.HEALTHD = {**settings.HEALTHD, "PUBLIC_DETAILS": True, "CHECKS": [
            {"check": "tests.alerting.test_silences.toggled", "name": "toggled", "timeout": 2}],
            "NOTIFY": [{"webhook": f"{server.url}/hook", "secret": SECRET}]}
        yield server
    current_app.conf.task_always_eager = False
    FLAG["fail"] = False


@pytest.fixture
def changed_calls():
    calls = []

    def receiver(sender, check, previous, result, silenced, **kwargs):
        calls.append((previous, str(result.status), silenced))

    signals.check_changed.connect(receiver)
    yield calls
    signals.check_changed.disconnect(receiver)


def _silence(**changes) -> Silence:
    now = timezone.now()
    fields = {"checks": ["toggled"], "starts_at": now - timedelta(minutes=1),
              "ends_at": now + timedelta(hours=1), "reason": "database upgrade", **changes}
    return Silence.objects.create(**fields)


def _run(fail: bool) -> None:
    FLAG["fail"] = fail
    run_and_record()
    state.forget()


def _told(server: LoopbackServer) -> list[tuple]:
    return [(b["previous"], b["status"], b["silenced"]) for b in server.bodies()]


def test_a_silenced_failure_is_recorded_marked_and_told_to_nobody(webhook, changed_calls,
                                                                  client, settings):
    _run(False)
    silence = _silence()
    with LoopbackServer() as ingest:
        sentry_sdk.init(dsn=f"http://public@127.0.0.1:{ingest.port}/1")
        try:
            _run(True)
            sentry_sdk.flush(timeout=5)
        finally:
            sentry_sdk.init(dsn=None)
        assert sentry_events(ingest) == []
    assert _told(webhook) == []
    row = Transition.objects.get(name="toggled")
    assert (row.previous, row.status, row.silenced) == ("passing", "failing", True)
    assert changed_calls == [("passing", "failing", True)]
    # Not paged: a warning for the heartbeat and the other dialects, saying why.
    response = client.get("/__heartbeat__")
    assert response.status_code == 200 and response.json()["status"] == "warning"
    message = response.json()["details"]["toggled"]["messages"]["healthd.toggled"]
    until = silence.ends_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert message.startswith(f"silenced until {until}: ") and "toggled is down" in message
    assert client.get("/readyz").status_code == 200
    assert client.get("/healthz").json()["status"] == "warn"
    settings.WATCHMAN_CHECKS = ["tests.alerting.test_silences.toggled"]  # in watchman's set
    assert client.get("/watchman/").json() == {"toggled": {"ok": True}}  # watchman's shape
    assert "silenced until" in client.get("/watchman/dashboard/").content.decode()
    assert "silenced until" in client.get("/status/health/").content.decode()


def test_a_state_still_changed_when_the_silence_ends_is_told_once(webhook, client):
    _run(False)
    silence = _silence()
    _run(True)
    _run(True)
    silence.delete()  # or it ends: the next run tells what changed, once
    assert client.get("/__heartbeat__").status_code == 500  # at once, not at the next run
    _run(True)
    _run(True)
    assert _told(webhook) == [("passing", "failing", False)]
    rows = list(Transition.objects.order_by("at", "id").values_list("previous", "status",
                                                                      "silenced"))
    assert rows == [("passing", "failing", True), ("passing", "failing", False)]
    _run(False)
    assert _told(webhook)[-1] == ("failing", "passing", False)


def test_a_flap_that_settled_inside_the_window_sends_nothing(webhook):
    _run(False)
    silence = _silence()
    _run(True)
    _run(False)
    silence.ends_at = timezone.now()
    silence.save()
    _run(False)
    _run(False)
    assert _told(webhook) == []
    assert list(Transition.objects.values_list("silenced", flat=True)) == [True, True]


def test_a_silence_of_every_check_and_one_of_another_check(webhook):
    _run(False)
    _silence(checks=["another"])
    _run(True)
    assert _told(webhook) == [("passing", "failing", False)]
    _silence(checks=[])
    _run(False)
    assert _told(webhook) == [("passing", "failing", False)]


def test_checks_given_as_one_name_mean_that_check(webhook):
    _run(False)
    silence = _silence(checks="toggled")
    assert silence.checks == ["toggled"]
    _run(True)
    assert _told(webhook) == []


def test_a_silence_to_come_does_not_silence_yet(webhook, client):
    _run(False)
    _silence(starts_at=timezone.now() + timedelta(hours=1),
             ends_at=timezone.now() + timedelta(hours=2))
    _run(True)
    assert _told(webhook) == [("passing", "failing", False)]
    assert client.get("/__heartbeat__").status_code == 500


def test_a_silence_shows_in_the_views_before_the_next_run(webhook, client):
    _run(False)
    _run(True)
    assert client.get("/__heartbeat__").status_code == 500
    silence = _silence()
    state.forget()
    assert client.get("/__heartbeat__").status_code == 200
    silence.delete()
    state.forget()
    assert client.get("/__heartbeat__").status_code == 500


def test_the_command_makes_lists_and_ends_silences(webhook, capsys):
    call_command("healthd_silence", "toggled", "--for", "2h", "--reason", "upgrade",
                 "--by", "ops")
    silence = Silence.objects.get()
    assert silence.checks == ["toggled"] and silence.reason == "upgrade"
    assert silence.created_by == "ops"
    assert abs((silence.ends_at - silence.starts_at) - timedelta(hours=2)) < timedelta(seconds=1)
    call_command("healthd_silence", "--list")
    assert "toggled" in capsys.readouterr().out
    call_command("healthd_silence", "--end", str(silence.pk))
    silence.refresh_from_db()
    assert silence.ends_at <= timezone.now()
    with pytest.raises(CommandError, match="not a configured check: databse"):
        call_command("healthd_silence", "databse", "--for", "1h")
    with pytest.raises(CommandError, match="either names or --all"):
        call_command("healthd_silence", "toggled", "--all", "--for", "1h")
    with pytest.raises(CommandError, match="not a duration"):
        call_command("healthd_silence", "toggled", "--for", "soon")


def test_the_admin_adds_a_silence_from_the_current_state_page(webhook, admin_client):
    _run(False)
    page = admin_client.get("/admin/healthd/checkstatus/current/").content.decode()
    assert "/admin/healthd/silence/add/?checks=toggled" in page
    form = admin_client.get("/admin/healthd/silence/add/?checks=toggled").content.decode()
    assert 'value="toggled"' in form
    now = timezone.now()
    response = admin_client.post("/admin/healthd/silence/add/", {
        "checks": "toggled", "starts_at_0": now.strftime("%Y-%m-%d"),
        "starts_at_1": now.strftime("%H:%M:%S"),
        "ends_at_0": (now + timedelta(hours=1)).strftime("%Y-%m-%d"),
        "ends_at_1": (now + timedelta(hours=1)).strftime("%H:%M:%S"), "reason": "upgrade"})
    assert response.status_code == 302, response.content.decode()[:2000]
    silence = Silence.objects.get()
    assert silence.checks == ["toggled"] and silence.created_by == "admin"
    bad = admin_client.post("/admin/healthd/silence/add/", {
        "checks": "databse", "starts_at_0": now.strftime("%Y-%m-%d"),
        "starts_at_1": now.strftime("%H:%M:%S"),
        "ends_at_0": now.strftime("%Y-%m-%d"), "ends_at_1": now.strftime("%H:%M:%S")})
    assert "not a configured check: databse" in bad.content.decode()
