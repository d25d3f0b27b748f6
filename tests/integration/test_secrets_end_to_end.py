"""The acceptance of "secrets stay secret, and hostile input costs nothing", end to end.

A site with a Slack-style Apprise URL, an Apprise json:// channel and a webhook with
credentials in its URL (both on real HTTP servers on loopback), and passive checks with
tokens. A job's ``/fail`` ping quotes every one of those secrets (and a URL whose password
the 10 KB limit cuts in two). None of them appears in ``/metrics``, the admin's Delivery
and CheckResult pages, a detailed heartbeat, a notification payload or a log line; the
webhook is delivered with Basic auth; ``?message__regex=`` on the admin's changelist is
refused at once, and the silence add page with ``?starts_at=garbage`` answers 200.
"""

from __future__ import annotations

import base64
import logging
import time

import pytest
from celery import current_app

from healthd.alerting.notify import metrics
from healthd.models import CheckResult, Delivery
from healthd.passive.views import BODY_LIMIT
from healthd.store import health as state
from healthd.tasks import deliver
from tests.support.alerting import LoopbackServer

pytestmark = pytest.mark.django_db

SLACK_TOKENS = ("T1JJ3T3L2", "A1BRTD4JD", "TIiajkdnlazkcOXrIdevi7FQ")
SLACK = "slack://" + "/".join(SLACK_TOKENS)
HMAC_SECRET = "hmac-secret-4242"
BACKUP_TOKEN, REPORT_TOKEN, SITE_TOKEN = "backup-tok-1234", "report-tok-5678", "site-tok-9999"
CUT_PASSWORD = "TopSecretValue9"


@pytest.fixture
def site(settings):
    current_app.conf.task_always_eager = True
    with LoopbackServer() as apprise_server, LoopbackServer() as hook_server:
        apprise_url = (f"json://capuser:CapPw77x@127.0.0.1:{apprise_server.port}"
                       f"/apprise/Tok3nSegment99")
        webhook_url = f"http://hookuser:HookPw55@127.0.0.1:{hook_server.port}/hook"
        settings.HEALTHD = {
            **settings.HEALTHD,
            "TOKENS": [SITE_TOKEN],
            "CHECKS": ["storage",
                       {"passive": "backup", "every": "1d", "token": BACKUP_TOKEN},
                       {"passive": "report", "every": "1h", "token": REPORT_TOKEN}],
            # Slack is told of warnings only: this test never reaches the Internet.
            "NOTIFY": [{"url": SLACK, "on": ["warning"]}, apprise_url,
                       {"webhook": webhook_url, "secret": HMAC_SECRET}],
        }
        state.forget()
        yield {"apprise": apprise_server, "hook": hook_server,
               "configured": (*SLACK_TOKENS, SLACK, HMAC_SECRET, BACKUP_TOKEN, REPORT_TOKEN,
                              SITE_TOKEN, "CapPw77x", "Tok3nSegment99", "HookPw55",
                              apprise_url, webhook_url, "capuser", "hookuser")}
    current_app.conf.task_always_eager = False


# Secrets of no configured thing, each quoted in a shape that says it is one.
SHAPED = ("pa/ss", "eyJhbGciOiJIUzI1NiJ9", "hunter2!", "TopSec")


def _fail_body(configured: tuple[str, ...]) -> str:
    """Every configured secret, the shaped ones, a forged log line, and a URL whose
    password the 10 KB limit cuts in two."""
    quoted = (" ".join(configured) + "\nAuthorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.x\n"
              '{"password": "hunter2!"}\npostgres://u:pa/ss@db.internal/app\n'
              "2026-01-01 00:00:00,000 ERROR healthd.deliver: a forged line\n")
    straddling = f"postgres://u:{CUT_PASSWORD}@db.internal/app"
    filler = "x" * (BODY_LIMIT - len(quoted) - len(straddling) // 2)
    return quoted + filler + straddling


def test_no_configured_secret_is_shown_anywhere(site, client, admin_client, caplog):
    secrets = (*site["configured"], *SHAPED)
    auth = {"HTTP_AUTHORIZATION": f'WATCHMAN-TOKEN Token="{BACKUP_TOKEN}"'}
    with caplog.at_level(logging.INFO, logger="healthd"):
        assert client.post("/healthd/ping/backup", **auth).status_code == 200
        failed = client.post("/healthd/ping/backup/fail", _fail_body(site["configured"]),
                             content_type="text/plain", **auth)
        assert failed.json()["recorded"] == "failing"
        deliver.deliver_outbox()

    (hook,) = site["hook"].received
    assert hook.headers["authorization"] == "Basic " + base64.b64encode(
        b"hookuser:HookPw55").decode()
    (apprise,) = site["apprise"].received
    result = CheckResult.objects.filter(name="backup", status="failing").get()
    delivery = Delivery.objects.get(channel_label="json#2")
    metrics.forget()
    state.forget()
    shown = {
        "webhook payload": hook.body.decode(),
        "apprise payload": apprise.body.decode(),
        "/metrics": client.get("/metrics").content.decode(),
        "heartbeat": client.get("/__heartbeat__", HTTP_AUTHORIZATION=f"Bearer {SITE_TOKEN}"
                                ).content.decode(),
        "delivery list": admin_client.get("/admin/healthd/delivery/").content.decode(),
        "delivery page": admin_client.get(
            f"/admin/healthd/delivery/{delivery.pk}/change/").content.decode(),
        "result list": admin_client.get("/admin/healthd/checkresult/").content.decode(),
        "result page": admin_client.get(
            f"/admin/healthd/checkresult/{result.pk}/change/").content.decode(),
        "log": "\n".join(record.getMessage() for record in caplog.records),
    }
    assert "backup" in shown["heartbeat"] and "Bearer ********" in shown["heartbeat"]
    assert 'channel="json#2"' in shown["/metrics"] and 'channel="webhook#3"' in shown["/metrics"]
    for where, text in shown.items():
        for secret in secrets:
            assert secret not in text, (where, secret)
    assert all("\n" not in record.getMessage() for record in caplog.records)
    assert len(result.message) <= BODY_LIMIT


def test_hostile_admin_input_costs_nothing(site, admin_client):
    started = time.perf_counter()
    regex = admin_client.get("/admin/healthd/checkresult/?message__regex=(a%2B)%2B%24")
    assert time.perf_counter() - started < 0.5 and regex.status_code == 400
    assert admin_client.get("/admin/healthd/silence/add/?starts_at=garbage").status_code == 200
