"""A channel that keeps failing costs a worker no memory: an attempt that failed frees
what it allocated at once (by reference counting), so a pool process stays flat while
deliveries retry for NOTIFY_RETRY_FOR (the soak is ``bench.dead_channel``)."""

from __future__ import annotations

import gc
import socket
import time
import uuid

import pytest
from celery import current_app
from celery.app.trace import build_tracer

from healthd.alerting import notify
from healthd.models import Delivery
from healthd.tasks.deliver import deliver_notification

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_failed_attempt_leaves_no_garbage_behind(settings):
    settings.HEALTHD = {**settings.HEALTHD, "NOTIFY": [
        {"webhook": f"http://127.0.0.1:{_closed_port()}/hook", "secret": "s3cret"}]}
    channel = notify.configured()[0]
    # As a pool process runs a task: through Celery's tracer, not eagerly.
    tracer = build_tracer(deliver_notification.name, deliver_notification, eager=False,
                          app=current_app)

    def attempt(number: int) -> None:
        event = notify.make_event(
            id=f"t{number}", check="db", previous="passing", status="failing", message="down",
            checked_at=time.time(), host="web-1", silenced=False, transition_id=f"t{number}",
            reminder=0)
        task_id = str(uuid.uuid4())
        tracer(task_id, (), {"channel_id": channel.id, "event": event,
                             "first_try_at": time.time()},
               {"id": task_id, "retries": 0, "is_eager": False, "hostname": "test@host",
                "delivery_info": {"exchange": "", "routing_key": "unused"}})

    attempt(0)  # first use: imports, connections, caches
    gc.collect()
    gc.disable()
    try:
        for number in range(1, 21):
            attempt(number)
        garbage = gc.collect()
    finally:
        gc.enable()
    assert Delivery.objects.filter(attempts=1, delivered_at=None, failed_at=None).count() == 21
    # Celery's Retry left some 3,700 objects in reference cycles per attempt, and the
    # exception urllib raised 58 more; only a full collection frees them, and that may
    # come after thousands of attempts.
    assert garbage < 40, garbage
