"""A notification channel is named everywhere (the /metrics label, the admin's Delivery
pages, the worker's log lines) by something that holds no secret; a webhook with
credentials in its URL is delivered with HTTP Basic auth."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import logging

import pytest
from celery import current_app
from django.apps import apps
from django.contrib.auth.models import Permission

from healthd import store
from healthd.alerting import notify
from healthd.alerting.notify import metrics
from healthd.models import Delivery
from healthd.tasks import deliver
from tests.alerting.test_notify import _flip
from tests.support.alerting import LoopbackServer

pytestmark = pytest.mark.django_db

TOKEN = "Tok3nSegment99"
PASSWORD = "CapPw77x"
SECRET = "hmac-secret-4242"


def _apprise_url(server: LoopbackServer) -> str:
    return f"json://capuser:{PASSWORD}@127.0.0.1:{server.port}/apprise/{TOKEN}"


@pytest.fixture
def eager_tasks():
    """Celery tasks run in this process (retries too, without their countdown)."""
    current_app.conf.task_always_eager = True
    yield
    current_app.conf.task_always_eager = False


@pytest.fixture
def staff_viewer(client, django_user_model):
    """A staff user allowed to view deliveries and nothing else."""
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_delivery"))
    client.force_login(user)
    return client


def test_an_apprise_channel_is_named_by_service_and_position(settings, eager_tasks, client,
                                                             staff_viewer, caplog):
    with LoopbackServer([500]) as server:
        settings.HEALTHD = {**settings.HEALTHD, "NOTIFY": [
            {"webhook": f"{server.url}/first", "secret": SECRET}, _apprise_url(server)]}
        with caplog.at_level(logging.INFO, logger="healthd"):
            transition_id = _flip()
            deliver.deliver_outbox()
    assert {r.path for r in server.received} == {"/first", f"/apprise/{TOKEN}"}
    shown = {"/metrics": client.get("/metrics").content.decode()}
    metrics.forget()
    shown["/metrics"] = staff_viewer.get("/metrics").content.decode()
    row = Delivery.objects.get(channel_label="json#2")
    shown["list"] = staff_viewer.get("/admin/healthd/delivery/").content.decode()
    shown["change"] = staff_viewer.get(f"/admin/healthd/delivery/{row.pk}/change/").content.decode()
    shown["log"] = "\n".join(r.getMessage() for r in caplog.records)
    assert 'healthd_notifications_total{channel="json#2",outcome="delivered"} 1.0' in shown[
        "/metrics"]
    assert 'healthd_notifications_total{channel="webhook#1",outcome="retried"} 1.0' in shown[
        "/metrics"]
    assert "json#2" in shown["list"] and "json#2" in shown["change"]
    assert "notified json#2 of " + transition_id in shown["log"]
    for where, text in shown.items():
        for secret in (TOKEN, PASSWORD, "capuser", f"{server.port}/apprise"):
            assert secret not in text, (where, secret)


def test_counters_kept_under_a_url_by_a_former_version_are_not_shown(client, redis_conn):
    legacy = f"json://capuser:****@127.0.0.1:8845/apprise/{TOKEN}"
    redis_conn.hincrby(store.keys().deliveries, f"{legacy}\tdelivered", 3)
    redis_conn.hincrby(store.keys().deliveries, "slack#1\tdelivered", 2)
    text = client.get("/metrics").content.decode()
    assert 'healthd_notifications_total{channel="slack#1",outcome="delivered"} 2.0' in text
    assert TOKEN not in text and "apprise" not in text


def test_a_webhook_with_credentials_in_its_url_is_delivered_with_basic_auth(settings,
                                                                           eager_tasks):
    with LoopbackServer() as server:
        url = f"http://hook%20user:p%40ss:w0rd@127.0.0.1:{server.port}/hook?x=1"
        settings.HEALTHD = {**settings.HEALTHD, "NOTIFY": [{"webhook": url, "secret": SECRET}]}
        _flip()
        deliver.deliver_outbox()
    (request,) = server.received
    assert request.path == "/hook?x=1"
    expected = base64.b64encode(b"hook user:p@ss:w0rd").decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    signature = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-healthd-signature"] == f"sha256={signature}"
    assert Delivery.objects.get().outcome == "delivered"


def test_a_channel_name_is_never_a_url():
    with pytest.raises(notify.ChannelError, match="not a URL"):
        notify.parse({"url": "json://127.0.0.1/x", "name": "json://127.0.0.1/x"})


def test_a_retry_queued_under_a_former_id_still_finds_its_channel(settings):
    url = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
    settings.HEALTHD = {**settings.HEALTHD, "NOTIFY": [url]}
    former = f"apprise-{hashlib.sha256(url.encode()).hexdigest()[:12]}"
    channel = notify.channel_by_id(former)
    assert channel is not None and channel.label == "slack#1" and channel.id != former
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    keyed_before = channel.id
    settings.SECRET_KEY = "a-new-secret-key-0123456789-0123456789-0123456789"
    assert notify.channel_by_id(keyed_before).label == "slack#1"


def test_the_migration_relabels_deliveries_shown_by_their_url(settings):
    migration = importlib.import_module("healthd.migrations.0008_delivery_channel_labels")
    kept, gone = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", "ntfy://secret-topic"
    settings.HEALTHD = {**settings.HEALTHD, "NOTIFY": [{"url": "json://h/x", "name": "ops"},
                                                       kept]}

    def former(url: str) -> str:
        return f"apprise-{hashlib.sha256(url.encode()).hexdigest()[:12]}"

    Delivery.objects.create(key="t1", channel=former(kept),
                            channel_label="slack://T...J/A...D/T...Q/")
    Delivery.objects.create(key="t2", channel=former(kept),
                            channel_label="slack://T...J/A...D/T...Q/")
    Delivery.objects.create(key="t1", channel=former(gone), channel_label="ntfy://secret-topic")
    Delivery.objects.create(key="t1", channel="ops", channel_label="ops")
    migration.relabel(apps, None)
    rows = set(Delivery.objects.values_list("key", "channel", "channel_label"))
    assert rows == {("t1", "ops", "ops"),
                    ("t1", former(gone), "ntfy (removed)"),
                    ("t1", notify.configured()[1].id, "slack#2"),
                    ("t2", notify.configured()[1].id, "slack#2")}
