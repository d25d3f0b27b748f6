"""Alerting with real worker processes: a worker killed (-9) while a receiver is inside its
first delivery loses nothing, and a signed webhook that fails twice gets the transition
once, with one idempotency key; the time from a flip to a delivered webhook is printed."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import time

import pytest
import redis
from django.conf import settings as django_settings

from healthd import store
from healthd.alerting import outbox
from healthd.models import Delivery, Transition
from healthd.store import client as redis_client
from healthd.store import health as state
from tests.site import faultchecks
from tests.support.alerting import LoopbackServer, receiver_key
from tests.support.processes import start_worker, stop_process
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SECRET = "s3cret-for-signing"


@pytest.fixture
def flags():
    client = redis.Redis.from_url(django_settings.REDIS_URL, decode_responses=True)
    names = [faultchecks.flag_key("flappy"), *(receiver_key(k) for k in
                                               ("calls", "blocked-once", "release"))]
    client.delete(*names)
    yield client
    client.set(receiver_key("release"), "1")  # a receiver still blocked lets go
    client.delete(*names)
    client.close()


def _queue_run(queue: str) -> None:
    from healthd.tasks import run_checks

    run_checks.apply_async(kwargs={"names": ["flappy"]}, queue=queue)


def test_a_worker_killed_mid_delivery_loses_nothing_and_a_webhook_gets_it_once(
        settings, flags):
    prefix = f"{django_settings.KEY_PREFIX}alerting-{time.monotonic_ns()}:"
    queue = f"healthd-alerting-{django_settings.RUN_ID}-{time.monotonic_ns()}"
    with LoopbackServer([500, 500]) as server:
        overrides = {"KEY_PREFIX": prefix, "OUTBOX_VISIBILITY_TIMEOUT": 1.0,
                     "NOTIFY_BACKOFF": 0.2, "NOTIFY_BACKOFF_MAX": 1.0,
                     "NOTIFY": [{"webhook": f"{server.url}/hook", "secret": SECRET}]}
        settings.HEALTHD = {**settings.HEALTHD, **overrides,
                            "CHECKS": django_settings.FAULT_CHECKS}
        redis_client.forget_clients()
        state.forget()
        env = {"HEALTHD_TEST_CHECKS": "fault", "HEALTHD_TEST_QUEUE": queue,
               "HEALTHD_TEST_OVERRIDES": json.dumps(overrides),
               "HEALTHD_TEST_BLOCKING_RECEIVER": "1"}
        first = start_worker(f"alerting-a-{time.monotonic_ns()}@localhost", env)
        second = None
        try:
            wait_for(lambda: redis_client.writer().hexists(store.Keys(prefix).latest, "flappy"),
                     timeout=30, message="the first worker's first run")
            flags.set(faultchecks.flag_key("flappy"), "fail")
            _queue_run(queue)
            wait_for(lambda: flags.llen(receiver_key("calls")) == 1, timeout=30,
                     message="the receiver to be inside its first delivery")
            os.killpg(first.process.pid, signal.SIGKILL)
            first.process.wait(10)
            assert not Transition.objects.filter(name="flappy").exists()
            assert server.received == []

            def abandoned_long_enough() -> bool:
                (entry,) = redis_client.writer().xpending_range(
                    store.Keys(prefix).outbox, outbox.GROUP, "-", "+", 10)
                return entry["time_since_delivered"] > 1000

            wait_for(abandoned_long_enough, timeout=10, message="the visibility timeout")
            second = start_worker(f"alerting-b-{time.monotonic_ns()}@localhost", env)
            # Its first run on start-up claims the abandoned entry and delivers it.
            wait_for(lambda: Delivery.objects.filter(delivered_at__isnull=False).exists(),
                     timeout=40, message="the webhook to be delivered after two failures")
            calls = flags.lrange(receiver_key("calls"), 0, -1)
            row = Transition.objects.get(name="flappy")
            assert calls == [f"flappy:{row.transition_id}"] * 2  # at least once: same id
            assert (row.previous, row.status, row.silenced) == ("passing", "failing", False)
            assert len(server.received) == 3
            assert {r.headers["idempotency-key"] for r in server.received} == {
                row.transition_id}
            for request in server.received:
                digest = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
                assert request.headers["x-healthd-signature"] == f"sha256={digest}"
            delivery = Delivery.objects.get()
            assert (delivery.attempts, delivery.outcome) == (3, "delivered")
            retry_gaps = [b.at - a.at for a, b in zip(server.received, server.received[1:],
                                                      strict=False)]

            # The time from a flip to a delivered webhook, on a worker that is up.
            flags.set(faultchecks.flag_key("flappy"), "pass")
            flipped = time.monotonic()
            _queue_run(queue)
            wait_for(lambda: len(server.received) == 4, timeout=30,
                     message="the recovery's webhook")
            flip_to_webhook = server.received[3].at - flipped
            assert server.received[3].json()["status"] == "passing"
            assert Transition.objects.filter(name="flappy").count() == 2
            print(f"\nflip -> webhook delivered: {flip_to_webhook * 1000:.0f} ms; "
                  f"retries after 500s: {', '.join(f'{g:.2f} s' for g in retry_gaps)}")
        finally:
            for worker in (first, second):
                if worker is not None:
                    stop_process(worker.process)
            redis_client.writer().delete(*store.Keys(prefix).all_fixed())
