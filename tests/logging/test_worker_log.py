"""A site's own Celery worker writes each of healthd's lines once.

The test site configures no logging of its own, as most sites do: Celery's worker gives
the root logger its handler, and healthd, which attaches no handler anywhere, reaches
it once. (The standalone site's own LOGGING is tested under a real ``healthd run``.)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings

from healthd import store
from healthd.models import Transition
from healthd.store import client as redis_client
from tests.site import faultchecks
from tests.support.processes import start_worker, stop_process
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_sites_worker_writes_each_alert_line_once():
    from healthd.tasks import run_checks

    prefix = f"{django_settings.KEY_PREFIX}log-once-{time.monotonic_ns()}:"
    queue = f"healthd-log-once-{django_settings.RUN_ID}-{time.monotonic_ns()}"
    flags = redis.Redis.from_url(django_settings.REDIS_URL)
    flags.delete(faultchecks.flag_key("flappy"))
    name = f"log-once-{time.monotonic_ns()}"
    log = Path(django_settings.STATE_DIR) / f"{name}-{django_settings.RUN_ID}.log"
    env = {"HEALTHD_TEST_CHECKS": "fault", "HEALTHD_TEST_QUEUE": queue,
           "HEALTHD_TEST_OVERRIDES": json.dumps({"KEY_PREFIX": prefix})}
    worker = start_worker(f"{name}@localhost", env)
    failing, recovered = "check flappy: passing -> failing", "check flappy: failing -> passing"
    try:
        wait_for(lambda: redis_client.writer().hexists(store.Keys(prefix).latest, "flappy"),
                 timeout=30, message="the worker's first run")
        flags.set(faultchecks.flag_key("flappy"), "fail")
        run_checks.apply_async(kwargs={"names": ["flappy"]}, queue=queue)
        wait_for(lambda: failing in log.read_text(), timeout=30, message="the failing alert")
        flags.set(faultchecks.flag_key("flappy"), "pass")
        run_checks.apply_async(kwargs={"names": ["flappy"]}, queue=queue)
        wait_for(lambda: recovered in log.read_text(), timeout=30, message="the recovery")
        lines = log.read_text().splitlines()
        assert sum(failing in line for line in lines) == 1, lines
        assert sum(recovered in line for line in lines) == 1, lines
        # The check's exception: one error line (and its traceback), not two.
        assert sum("check flappy raised RuntimeError" in line for line in lines) == 1, lines
        assert Transition.objects.filter(name="flappy").count() == 2
    finally:
        stop_process(worker.process)
        flags.delete(faultchecks.flag_key("flappy"))
        flags.close()
        redis_client.writer().delete(*store.Keys(prefix).all_fixed())
