"""RabbitMQ as the broker, Redis as healthd's store: real worker processes on AMQP, in a
virtual host of the test's own. Runs are queued and recorded, the celery check is
answered over AMQP, and a failure reaches a signed webhook through the outbox and a
notification task, even when the worker delivering it is killed."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from celery import current_app
from django.conf import settings as django_settings
from django.db.models import Max, Sum

from healthd import store
from healthd.alerting import outbox
from healthd.checks.base import Status
from healthd.checks.celery import Celery
from healthd.models import CheckResult, CheckStatus, Delivery, HourlyRollup, Transition
from healthd.store import client as redis_client
from healthd.store import health as state
from tests.site import faultchecks
from tests.support import rabbitmq
from tests.support.alerting import LoopbackServer, receiver_key
from tests.support.processes import WorkerHandle, start_worker, stop_process
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SECRET = "s3cret-for-signing"
CHECKS = [{"check": "database", "aliases": ["default"], "timeout": 3},
          {"check": "tests.site.faultchecks.flappy", "name": "flappy", "timeout": 3},
          {"check": "celery", "min_workers": 1, "timeout": 3}]


@dataclass
class Broker:
    """A virtual host of this test's own, and the names its workers use."""

    url: str
    queue: str
    prefix: str

    def worker_env(self, overrides: dict, **extra: str) -> dict[str, str]:
        return {"HEALTHD_TEST_BROKER_URL": self.url, "HEALTHD_TEST_QUEUE": self.queue,
                "HEALTHD_TEST_OVERRIDES": json.dumps({"KEY_PREFIX": self.prefix, **overrides}),
                **extra}


@pytest.fixture
def amqp(settings) -> Iterator[Broker]:
    reason = rabbitmq.unreachable()
    if reason:
        pytest.skip(reason)
    vhost = f"healthd-test-{django_settings.RUN_ID}-{time.monotonic_ns()}"
    url = rabbitmq.create_vhost(vhost)
    broker = Broker(url, f"healthd-amqp-{django_settings.RUN_ID}-{time.monotonic_ns()}",
                    f"{django_settings.KEY_PREFIX}amqp-{time.monotonic_ns()}:")
    try:
        with rabbitmq.celery_app_on(url, task_default_queue=broker.queue):
            yield broker
    finally:
        redis_client.writer().delete(*store.Keys(broker.prefix).all_fixed())
        rabbitmq.delete_vhost(vhost)


@pytest.fixture
def flags() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(django_settings.REDIS_URL, decode_responses=True)
    names = [faultchecks.flag_key("flappy"), *(receiver_key(k) for k in
                                               ("calls", "blocked-once", "release"))]
    client.delete(*names)
    yield client
    client.set(receiver_key("release"), "1")  # a receiver still blocked lets go
    client.delete(*names)
    client.close()


def _use(settings, broker: Broker, overrides: dict) -> None:
    """This process reads and writes what the workers do: their store keys, their checks."""
    settings.HEALTHD = {**settings.HEALTHD, "KEY_PREFIX": broker.prefix, **overrides}
    redis_client.forget_clients()
    state.forget()


def _queue_run(broker: Broker, names: list[str] | None = None) -> None:
    from healthd.tasks import run_checks

    run_checks.apply_async(kwargs={"names": names}, queue=broker.queue)


def _stop(*workers: WorkerHandle | None) -> None:
    for worker in workers:
        if worker is not None:
            stop_process(worker.process)


def test_a_worker_on_rabbitmq_records_every_run_and_answers_the_celery_check(
        settings, amqp, flags):
    overrides = {"CHECKS": CHECKS}
    _use(settings, amqp, overrides)
    worker = start_worker(f"amqp-{time.monotonic_ns()}@localhost", amqp.worker_env(overrides))
    try:
        # The run a worker queues on start-up went through RabbitMQ too.
        wait_for(lambda: CheckResult.objects.count() == len(CHECKS), timeout=60,
                 message="the worker's first run in the database")
        assert current_app.conf.broker_url.startswith("amqp://")  # the check's broker
        answered = Celery(workers=(worker.hostname,), timeout=3).run()
        assert answered.status == Status.PASSING, answered.message
        assert answered.details["workers"] == [worker.hostname]
        assert answered.details["queues"] == {amqp.queue: True}

        for _ in range(3):
            _queue_run(amqp)
        runs = 1 + 3
        wait_for(lambda: CheckResult.objects.count() == runs * len(CHECKS), timeout=60,
                 message="three more runs in the database")
        names = {"database", "flappy", "celery"}
        assert set(CheckResult.objects.values_list("name", flat=True)) == names
        # The worker's own celery check was answered over AMQP each time.
        assert set(CheckResult.objects.filter(name="celery")
                   .values_list("status", flat=True)) == {"passing"}
        rollups = dict(HourlyRollup.objects.values("name").annotate(runs=Sum("runs"))
                       .values_list("name", "runs"))
        assert rollups == dict.fromkeys(names, runs)
        # Each current state is its check's newest result (runs a worker ran at once may
        # finish out of order: an older one does not move the state back).
        newest = dict(CheckResult.objects.values("name").annotate(at=Max("checked_at"))
                      .values_list("name", "at"))
        states = {s.name: (s.status, s.last_checked_at) for s in CheckStatus.objects.all()}
        assert states == {name: ("passing", newest[name]) for name in names}
        assert store.read_latest().records["celery"].state == "passing"
    finally:
        _stop(worker)


def test_a_failure_reaches_a_signed_webhook_through_rabbitmq_past_a_killed_worker(
        settings, amqp, flags):
    with LoopbackServer([500]) as server:
        overrides = {"CHECKS": CHECKS[:2], "OUTBOX_VISIBILITY_TIMEOUT": 1.0,
                     "NOTIFY_BACKOFF": 0.2, "NOTIFY_BACKOFF_MAX": 1.0,
                     "NOTIFY": [{"webhook": f"{server.url}/hook", "secret": SECRET}]}
        _use(settings, amqp, overrides)
        env = amqp.worker_env(overrides, HEALTHD_TEST_BLOCKING_RECEIVER="1")
        first = start_worker(f"amqp-a-{time.monotonic_ns()}@localhost", env)
        second = None
        try:
            wait_for(lambda: redis_client.writer().hexists(store.Keys(amqp.prefix).latest,
                                                           "flappy"),
                     timeout=30, message="the first worker's first run")
            flags.set(faultchecks.flag_key("flappy"), "fail")
            _queue_run(amqp, ["flappy"])
            wait_for(lambda: flags.llen(receiver_key("calls")) == 1, timeout=30,
                     message="the receiver to be inside the first delivery")
            os.killpg(first.process.pid, signal.SIGKILL)
            first.process.wait(10)
            assert not Transition.objects.exists() and server.received == []

            def abandoned_long_enough() -> bool:
                (entry,) = redis_client.writer().xpending_range(
                    store.Keys(amqp.prefix).outbox, outbox.GROUP, "-", "+", 10)
                return entry["time_since_delivered"] > 1000

            wait_for(abandoned_long_enough, timeout=10, message="the visibility timeout")
            second = start_worker(f"amqp-b-{time.monotonic_ns()}@localhost", env)
            # Its first run claims the abandoned entry; the notification task it queues
            # on RabbitMQ fails once (500) and is retried there.
            wait_for(lambda: Delivery.objects.filter(delivered_at__isnull=False).exists(),
                     timeout=40, message="the webhook, delivered after one failure")
            row = Transition.objects.get()
            assert (row.name, row.previous, row.status) == ("flappy", "passing", "failing")
            assert flags.lrange(receiver_key("calls"), 0, -1) == [
                f"flappy:{row.transition_id}"] * 2  # at least once, the same id
            assert len(server.received) == 2
            for request in server.received:
                assert request.headers["idempotency-key"] == row.transition_id
                digest = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
                assert request.headers["x-healthd-signature"] == f"sha256={digest}"
            assert server.received[-1].json()["status"] == "failing"
            delivery = Delivery.objects.get()
            assert (delivery.attempts, delivery.outcome) == (2, "delivered")
        finally:
            _stop(first, second)
