"""Notifications without code: signed webhooks and Apprise URLs delivered to real HTTP
servers on loopback, retried, recorded, counted, and never showing a secret."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import timedelta

import pytest
from celery import current_app
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.utils import timezone

from healthd import store
from healthd.alerting import notify, outbox
from healthd.alerting.notify import metrics
from healthd.alerting.notify.metrics import counts
from healthd.checks.base import Check, Result, Status
from healthd.history.retention import prune
from healthd.models import Delivery, Transition
from healthd.system_checks.alerting import check_notify
from healthd.tasks import deliver
from tests.support.alerting import LoopbackServer

pytestmark = pytest.mark.django_db

SECRET = "s3cret-for-signing"


@pytest.fixture
def eager_tasks():
    """Celery tasks run in this process (retries too, without their countdown)."""
    current_app.conf.task_always_eager = True
    yield
    current_app.conf.task_always_eager = False


def _flip(name: str = "db", at: float | None = None) -> str:
    """Record passing then failing for ``name``; the id of the transition."""
    check = Check(name, lambda: None)
    at = at or time.time()
    store.record([Result(name, Status.PASSING, "ok", at - 1, 0.01)], [check])
    failing = Result(name, Status.FAILING, "down: redis://u:hunter22@cache/0", at, 0.01)
    store.record([failing], [check])
    return failing.id


def _event(**changes) -> dict:
    event = notify.make_event(id="t1", check="db", previous="passing", status="failing",
                              message="down", checked_at=1_700_000_000.5, host="web-1",
                              silenced=False, transition_id="t1", reminder=0)
    return {**event, **changes}


def test_a_webhook_is_a_signed_post_with_an_idempotency_key():
    with LoopbackServer() as server:
        channel = notify.parse({"webhook": f"{server.url}/hook", "secret": SECRET})
        channel.send(_event(), timeout=5)
    (request,) = server.received
    assert request.path == "/hook"
    assert request.json() == {"id": "t1", "check": "db", "previous": "passing",
                              "status": "failing", "message": "down",
                              "at": "2023-11-14T22:13:20.500000Z", "host": "web-1",
                              "silenced": False}
    expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-healthd-signature"] == f"sha256={expected}"
    assert request.headers["idempotency-key"] == "t1"
    assert request.headers["content-type"] == "application/json"


def test_a_webhook_that_fails_reports_the_status_and_no_secret():
    with LoopbackServer([503]) as server:
        channel = notify.parse({"webhook": f"{server.url}/hooks/T0KEN12345abcdef?key=zzz",
                                "secret": SECRET})
        with pytest.raises(notify.DeliveryFailed, match="HTTP 503"):
            channel.send(_event(), timeout=5)
    assert "T0KEN12345abcdef" not in channel.label and "zzz" not in channel.label
    closed = notify.parse({"webhook": "http://127.0.0.1:1/hooks/T0KEN12345abcdef",
                           "secret": SECRET})
    with pytest.raises(notify.DeliveryFailed) as failed:
        closed.send(_event(), timeout=1)
    assert "T0KEN12345abcdef" not in str(failed.value)


def test_an_apprise_url_delivers_to_a_real_local_endpoint():
    with LoopbackServer() as server:
        channel = notify.parse(f"json://127.0.0.1:{server.port}/apprise")
        channel.send(_event(), timeout=5)
    (request,) = server.received
    body = request.json()
    assert request.path == "/apprise"
    assert body["title"] == "healthd: db is failing"
    assert "down" in body["message"] and body["type"] == "failure"


def test_an_apprise_failure_is_reported_with_its_reason():
    with LoopbackServer([500]) as server:
        channel = notify.parse(f"json://127.0.0.1:{server.port}/apprise")
        with pytest.raises(notify.DeliveryFailed, match="500"):
            channel.send(_event(), timeout=5)


def test_channels_are_shown_by_service_and_position_or_by_name():
    slack = notify.parse("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", position=1)
    assert slack.label == "slack#1" and "T1JJ3T3L2" not in slack.id
    mail = notify.parse({"url": "mailto://ops:pa55word@example.com", "name": "ops mail"}, 2)
    assert mail.label == "ops mail" and mail.id == "ops mail"
    hook = notify.parse({"webhook": "https://user:pw@example.com/in/abc123def456/x?token=t",
                         "secret": SECRET}, position=3)
    assert hook.label == "webhook#3" and hook.id.startswith("webhook-")
    assert SECRET not in repr(hook) and "pw@" not in repr(hook)


def test_filters_by_check_kind_and_silence():
    channel = notify.parse({"url": "json://127.0.0.1/x", "checks": ["db"], "on": ["failing"]})
    assert channel.wants("db", "failing", silenced=False)
    assert not channel.wants("db", "passing", silenced=False)
    assert not channel.wants("cache", "failing", silenced=False)
    assert not channel.wants("db", "failing", silenced=True)
    loud = notify.parse({"url": "json://127.0.0.1/x", "silenced": True})
    assert loud.wants("db", "failing", silenced=True) and loud.wants("db", "warning", False)


@pytest.mark.parametrize(("entry", "problem"), [
    ("nope://what", "not an Apprise URL"),
    (42, "must be an Apprise URL or a dict"),
    ({"webhook": "ftp://x/y", "secret": "s"}, "http:// or https://"),
    ({"webhook": "https://x/y"}, '"secret"'),
    ({"url": "json://x/y", "webhook": "https://x/y"}, 'exactly one of "url"'),
    ({"url": "json://x/y", "on": ["exploded"]}, '"on" must list some of'),
    ({"url": "json://x/y", "checks": "db"}, '"checks" must be a list'),
    ({"url": "json://x/y", "cheks": ["db"]}, "unknown key(s) ['cheks']"),
])
def test_a_malformed_channel_stops_manage_py_check_naming_the_entry(settings, entry, problem):
    settings.HEALTHD = {**settings.HEALTHD, "NOTIFY": ["json://127.0.0.1/fine", entry]}
    (error,) = check_notify()
    assert error.msg.startswith('HEALTHD["NOTIFY"][1]: ') and problem in error.msg
    assert error.id == "healthd.E102"
    with pytest.raises(SystemCheckError, match=r'HEALTHD\["NOTIFY"\]\[1\]'):
        call_command("check")


def test_a_secret_in_a_malformed_entry_is_not_echoed(settings):
    settings.HEALTHD = {**settings.HEALTHD, "NOTIFY": [
        {"webhook": "gopher://u:hunter22@x/T0KEN12345abcdef", "secret": "s"}]}
    (error,) = check_notify()
    assert "hunter22" not in error.msg and "T0KEN12345abcdef" not in error.msg


def test_a_webhook_that_fails_twice_is_delivered_once_with_one_key(settings, eager_tasks):
    with LoopbackServer([500, 500]) as server:
        settings.HEALTHD = {**settings.HEALTHD, "NOTIFY": [
            {"webhook": f"{server.url}/hook", "secret": SECRET}]}
        transition_id = _flip()
        assert deliver.deliver_outbox() == 1
    assert len(server.received) == 3
    assert {r.headers["idempotency-key"] for r in server.received} == {transition_id}
    for request in server.received:
        expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
        assert request.headers["x-healthd-signature"] == f"sha256={expected}"
    delivery = Delivery.objects.get()
    assert (delivery.key, delivery.attempts, delivery.outcome) == (transition_id, 3, "delivered")
    assert delivery.transition == Transition.objects.get(transition_id=transition_id)
    label = notify.configured()[0].label
    assert counts() == {(label, "retried"): 2, (label, "delivered"): 1}
    assert "hunter22" not in repr(server.bodies())


def test_a_delivery_that_runs_out_of_retries_is_kept_as_failed(settings, eager_tasks):
    with LoopbackServer([500] * 10) as server:
        settings.HEALTHD = {**settings.HEALTHD, "NOTIFY_RETRY_FOR": 0.001, "NOTIFY": [
            {"webhook": f"{server.url}/hooks/T0KEN12345abcdef", "secret": SECRET}]}
        _flip()
        deliver.deliver_outbox()
    delivery = Delivery.objects.get()
    assert delivery.outcome == "failed" and delivery.attempts == 1
    assert delivery.last_error == "HTTP 500 Internal Server Error"
    assert "T0KEN12345abcdef" not in delivery.channel_label
    assert outbox.stats()["pending"] == 0  # the transition itself was delivered


def test_backoff_doubles_with_jitter_up_to_its_ceiling():
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (9, 300), (30, 300)]:
        delays = [notify.backoff(attempt, 2, 300) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1


def test_metrics_count_deliveries_by_channel_and_outcome(settings, eager_tasks, client):
    with LoopbackServer([500]) as server:
        settings.HEALTHD = {**settings.HEALTHD, "NOTIFY": [
            {"webhook": f"{server.url}/hooks/T0KEN12345abcdef", "secret": SECRET}]}
        _flip()
        deliver.deliver_outbox()
    metrics.forget()
    text = client.get("/metrics").content.decode()
    label = "webhook#1"
    assert f'healthd_notifications_total{{channel="{label}",outcome="delivered"}} 1.0' in text
    assert f'healthd_notifications_total{{channel="{label}",outcome="retried"}} 1.0' in text
    assert "T0KEN12345abcdef" not in text


def test_deliveries_are_shown_with_their_transition_in_the_admin(settings, eager_tasks,
                                                                 admin_client):
    with LoopbackServer([500]) as server:
        settings.HEALTHD = {**settings.HEALTHD, "NOTIFY": [
            {"webhook": f"{server.url}/hooks/T0KEN12345abcdef", "secret": SECRET}]}
        transition_id = _flip()
        deliver.deliver_outbox()
    row = Transition.objects.get(transition_id=transition_id)
    page = admin_client.get(f"/admin/healthd/transition/{row.pk}/change/").content.decode()
    assert "webhook#1" in page
    assert "delivered" in page and "T0KEN12345abcdef" not in page
    listing = admin_client.get("/admin/healthd/delivery/").content.decode()
    assert transition_id in listing


def test_a_reminder_while_a_failure_goes_on(settings, eager_tasks):
    with LoopbackServer() as server:
        settings.HEALTHD = {**settings.HEALTHD, "REMIND_EVERY": 60, "NOTIFY": [
            {"webhook": f"{server.url}/hook", "secret": SECRET}]}
        check = Check("db", lambda: None)
        at = time.time() - 1000
        store.record([Result("db", Status.PASSING, "ok", at, 0.01)], [check])
        failing = Result("db", Status.FAILING, "down", at + 10, 0.01)
        for offset in (10, 40, 75, 100, 140):  # failing throughout
            store.record([Result("db", Status.FAILING, "down", at + offset, 0.01,
                                 id=failing.id if offset == 10 else f"r{offset}")], [check])
        store.record([Result("db", Status.PASSING, "ok", at + 150, 0.01)], [check])
        deliver.deliver_outbox()
    bodies = server.bodies()
    assert [(b["status"], b.get("reminder")) for b in bodies] == [
        ("failing", None), ("failing", 1), ("failing", 2), ("passing", None)]
    assert bodies[1]["id"] == f"{failing.id}-reminder-1" and bodies[1]["transition"] == failing.id
    assert [r.headers["idempotency-key"] for r in server.received][1:3] == [
        f"{failing.id}-reminder-1", f"{failing.id}-reminder-2"]
    assert Transition.objects.count() == 2  # reminders are not transitions
    assert Delivery.objects.filter(transition_id=failing.id).count() == 3


def test_no_reminders_by_default(settings, eager_tasks):
    with LoopbackServer() as server:
        settings.HEALTHD = {**settings.HEALTHD, "NOTIFY": [
            {"webhook": f"{server.url}/hook", "secret": SECRET}]}
        check = Check("db", lambda: None)
        at = time.time() - 100_000
        store.record([Result("db", Status.PASSING, "ok", at, 0.01)], [check])
        for offset in range(1, 6):
            store.record([Result("db", Status.FAILING, "down", at + offset * 10_000, 0.01)],
                         [check])
        deliver.deliver_outbox()
    assert len(server.received) == 1


def test_deliveries_are_pruned_with_their_transitions():
    old, _recent = (Delivery.objects.create(key=key, channel="c", channel_label="c")
                   for key in ("old", "recent"))
    Delivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=400))
    assert prune()["deliveries"] == 1
    assert list(Delivery.objects.values_list("key", flat=True)) == ["recent"]
