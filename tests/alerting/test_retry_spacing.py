"""The spacing of a notification's retries, with a real worker: each next attempt is queued
with a countdown, which an eager run (test_notify) never waits for."""

from __future__ import annotations

import json
import time

import pytest
from django.conf import settings as django_settings

from healthd import store
from healthd.alerting import notify
from healthd.models import Delivery
from healthd.store import client as redis_client
from healthd.tasks import deliver_notification
from tests.support.alerting import LoopbackServer
from tests.support.processes import start_worker, stop_process
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

BACKOFF = 0.8  # NOTIFY_BACKOFF: the first retry's ceiling; each next one doubles it...
BACKOFF_MAX = 1.6  # ...up to NOTIFY_BACKOFF_MAX
# A retry is never due early; it may start late by the time the worker takes to notice it's
# due, receive it and post it (the eta timer, a busy shared machine).
LATE_BY_AT_MOST = 1.0


def test_retries_are_spaced_by_their_countdown_on_a_real_worker():
    prefix = f"{django_settings.KEY_PREFIX}retry-spacing-{time.monotonic_ns()}:"
    queue = f"healthd-retry-spacing-{django_settings.RUN_ID}-{time.monotonic_ns()}"
    with LoopbackServer([500, 503, 500]) as server:  # refuses three times, then accepts
        overrides = {"KEY_PREFIX": prefix, "NOTIFY_BACKOFF": BACKOFF,
                     "NOTIFY_BACKOFF_MAX": BACKOFF_MAX, "NOTIFY_RETRY_FOR": 60.0,
                     "NOTIFY": [{"webhook": f"{server.url}/hook", "secret": "s3cret",
                                 "name": "spacing"}]}
        worker = start_worker(f"retry-spacing-{time.monotonic_ns()}@localhost", {
            "HEALTHD_TEST_QUEUE": queue, "HEALTHD_TEST_OVERRIDES": json.dumps(overrides)})
        try:
            event = notify.make_event(
                id=f"spacing-{time.monotonic_ns()}", check="db", previous="passing",
                status="failing", message="down", checked_at=time.time(), host="web-1",
                silenced=False, transition_id="t-spacing", reminder=0)
            deliver_notification.apply_async(
                kwargs={"channel_id": "spacing", "event": event}, queue=queue)
            wait_for(lambda: Delivery.objects.filter(key=event["id"],
                                                     delivered_at__isnull=False).exists(),
                     timeout=30, message="the fourth attempt (the one accepted) recorded")
            delivery = Delivery.objects.get(key=event["id"])
            assert (delivery.attempts, delivery.outcome) == (4, "delivered")
            assert len(server.received) == 4
        finally:
            stop_process(worker.process)
            redis_client.writer().delete(*store.Keys(prefix).all_fixed())
    gaps = [b.at - a.at for a, b in zip(server.received, server.received[1:], strict=False)]
    # Retry n waits a random time between half its ceiling and its ceiling, where the
    # ceiling doubles from NOTIFY_BACKOFF up to NOTIFY_BACKOFF_MAX: 0.8, 1.6, 1.6 s.
    ceilings = [min(BACKOFF_MAX, BACKOFF * 2 ** n) for n in range(3)]
    for gap, ceiling in zip(gaps, ceilings, strict=True):
        assert ceiling / 2 - 0.05 <= gap <= ceiling + LATE_BY_AT_MOST, (gaps, ceilings)
