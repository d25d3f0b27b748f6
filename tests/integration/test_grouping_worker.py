"""One incident, one page, with real workers and a real webhook receiver: five checks, two
depending on a third. When the third fails the webhook gets one notification within
GROUP_WAIT + 5 s naming it as the cause and the two as suppressed, and no other; when it
recovers while one dependent still fails, one more names that dependent. A worker killed
(-9) while a group is open loses nothing: the next worker delivers it, once. The time
from the first transition to the grouped delivery is printed."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
from django.conf import settings as django_settings

from healthd import store
from healthd.models import Transition
from healthd.store import client as redis_client
from healthd.store import health as state
from tests.site import faultchecks
from tests.support.alerting import LoopbackServer, Received
from tests.support.processes import start_worker, stop_process
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SECRET = "s3cret-for-signing"
GROUP_WAIT = 2.0
NAMES = ("db", "app", "jobs", "mail", "disk")  # app and jobs depend on db


def _checks(tag: str) -> list[dict]:
    def flagged(name: str, **extra: object) -> dict:
        return {"check": "tests.site.faultchecks.Flagged", "name": name,
                "flag": f"{tag}-{name}", "timeout": 3, **extra}
    return [flagged("db"), flagged("app", depends_on=["db"]),
            flagged("jobs", depends_on=["db"]), flagged("mail"), flagged("disk")]


@pytest.fixture
def flags() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(django_settings.REDIS_URL, decode_responses=True)
    yield client
    client.close()


@contextmanager
def _site(settings, group_interval: float, visibility: float = 15.0):
    """A site with these checks and a webhook channel; yields (server, env, tag, prefix)."""
    tag = f"g{time.monotonic_ns()}"
    prefix = f"{django_settings.KEY_PREFIX}grouping-{tag}:"
    queue = f"healthd-grouping-{django_settings.RUN_ID}-{tag}"
    with LoopbackServer() as server:
        overrides = {"KEY_PREFIX": prefix, "CHECKS": _checks(tag), "GROUP_WAIT": GROUP_WAIT,
                     "GROUP_INTERVAL": group_interval,
                     "OUTBOX_VISIBILITY_TIMEOUT": visibility,
                     "NOTIFY": [{"webhook": f"{server.url}/hook", "secret": SECRET,
                                 "name": "pager"}]}
        settings.HEALTHD = {**settings.HEALTHD, **overrides}
        redis_client.forget_clients()
        state.forget()
        env = {"HEALTHD_TEST_QUEUE": queue, "HEALTHD_TEST_OVERRIDES": json.dumps(overrides)}
        try:
            yield server, env, tag, queue
        finally:
            layout = store.Keys(prefix)
            redis_client.writer().delete(*layout.all_fixed())


def _queue_run(queue: str) -> None:
    from healthd.tasks import run_checks

    run_checks.apply_async(queue=queue)


def _first_runs_recorded() -> bool:
    return redis_client.writer().hlen(store.keys().latest) >= len(NAMES)


def _drained() -> bool:
    """Nothing left to send: no group open or due, nothing in the outbox undelivered."""
    client = redis_client.writer()
    layout = store.keys()
    pending = client.xpending(layout.outbox, "delivery")["pending"] \
        if client.exists(layout.outbox) else 0
    return client.zcard(layout.group_due) == 0 and client.hlen(layout.groups) == 0 \
        and pending == 0


def _told(request: Received) -> list[tuple[str, str, str | None]]:
    return [(t["check"], t["status"], t["suppressed_by"])
            for t in request.json()["transitions"]]


def _wall(received: Received) -> float:
    return time.time() - (time.monotonic() - received.at)


def test_a_failing_dependency_pages_once_and_a_killed_worker_loses_no_group(settings, flags):
    with _site(settings, group_interval=2.0, visibility=1.0) as (server, env, tag, queue):
        worker = start_worker(f"grouping-a-{time.monotonic_ns()}@localhost", env)
        second = None
        try:
            wait_for(_first_runs_recorded, timeout=30, message="the worker's first run")
            for name in ("db", "app", "jobs"):
                flags.set(faultchecks.flag_key(f"{tag}-{name}"), "fail")
            _queue_run(queue)
            wait_for(lambda: server.received, timeout=GROUP_WAIT + 15,
                     message="the grouped notification")
            first = Transition.objects.filter(status="failing").order_by("at").first()
            assert first is not None and first.name == "db"
            took = _wall(server.received[0]) - first.at.timestamp()
            assert took <= GROUP_WAIT + 5
            wait_for(_drained, timeout=10, message="nothing more to send")
            (page,) = server.received  # and no other
            body = page.json()
            assert body["summary"] == "db failing; 2 checks that depend on it suppressed"
            assert _told(page) == [("db", "failing", None), ("app", "failing", "db"),
                                   ("jobs", "failing", "db")]
            assert page.headers["idempotency-key"] == body["group"]
            assert set(Transition.objects.values_list("group", flat=True)) == {body["group"]}

            # The database is back, app with it, jobs still failing: one more names jobs.
            flags.set(faultchecks.flag_key(f"{tag}-db"), "pass")
            flags.set(faultchecks.flag_key(f"{tag}-app"), "pass")
            _queue_run(queue)
            wait_for(lambda: len(server.received) == 2, timeout=15,
                     message="the follow-up naming the dependent still failing")
            wait_for(_drained, timeout=10, message="nothing more to send")
            assert len(server.received) == 2
            follow_up = server.received[1].json()
            assert ("jobs", "failing", None) in _told(server.received[1])
            assert _told(server.received[1])[0] == ("db", "passing", None)
            assert follow_up["group"] != body["group"]
            print(f"\nfirst transition -> grouped webhook delivered: {took * 1000:.0f} ms "
                  f"(GROUP_WAIT {GROUP_WAIT:g} s); payloads:\n{page.body.decode()}\n"
                  f"{server.received[1].body.decode()}")

            # The worker is killed (-9) while a group is open: the next one delivers it once.
            flags.set(faultchecks.flag_key(f"{tag}-mail"), "fail")
            _queue_run(queue)
            wait_for(lambda: redis_client.writer().hlen(store.keys().groups) == 1, timeout=15,
                     interval=0.01, message="a group to open")
            os.killpg(worker.process.pid, signal.SIGKILL)
            worker.process.wait(10)
            assert len(server.received) == 2  # killed while the group was open
            (member, due), = redis_client.writer().zrange(store.keys().group_due, 0, -1,
                                                          withscores=True)
            second = start_worker(f"grouping-b-{time.monotonic_ns()}@localhost", env)
            wait_for(lambda: time.time() > due, timeout=GROUP_WAIT + 5,
                     message="the group to be due")
            _queue_run(queue)  # a run anywhere flushes the groups due
            wait_for(lambda: len(server.received) == 3, timeout=20,
                     message="the open group's delivery")
            wait_for(_drained, timeout=10, message="nothing more to send")
            assert len(server.received) == 3
            last = server.received[2]
            assert last.headers["idempotency-key"] == member.split("\t")[0]
            assert _told(last) == [("mail", "failing", None)]
        finally:
            for process in (worker, second):
                if process is not None:
                    stop_process(process.process)
            for name in NAMES:
                flags.delete(faultchecks.flag_key(f"{tag}-{name}"))
