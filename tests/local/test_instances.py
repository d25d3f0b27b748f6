"""Every pod seen: each web process publishes its state under its instance name with a
TTL; the admin lists the pods, /metrics has a gauge per pod, and a pod unready for longer
than the grace is a transition delivered like any other."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from celery import current_app
from django.conf import settings
from django.urls import reverse

from healthd import signals
from healthd.daemon.cli import processes
from healthd.local import instances
from healthd.local.instances import ProcessState
from healthd.models import CheckResult, Transition
from healthd.store import client as redis_client
from healthd.store import keys
from healthd.tasks.instances import watch_pods
from tests.support.alerting import LoopbackServer
from tests.support.ports import free_port
from tests.support.processes import ROOT
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db


def _pod(name: str, ready: bool = True, failures: dict | None = None, pid: int = 1,
         unready_for: float = 0.0) -> ProcessState:
    now = time.time()
    return ProcessState(name, pid, ready, False, failures or {}, now, now,
                        None if ready else now - unready_for)


def _named(name: str) -> instances.Pod | None:
    return next((p for p in instances.pods() if p.name == name), None)


def test_each_gunicorn_worker_publishes_and_a_killed_pod_disappears_after_the_ttl():
    port = free_port()
    ttl = 1.0
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.site.settings",
           "HOSTNAME": "pod-ttl",  # the default instance name, as Kubernetes sets it
           "HEALTHD_TEST_OVERRIDES": json.dumps({"INSTANCE_TTL": ttl})}
    log = open(Path(settings.STATE_DIR) / f"web-ttl-{settings.RUN_ID}.log", "ab")  # noqa: SIM115
    process = subprocess.Popen(processes(port, "127.0.0.1")["web"], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        pod = wait_for(lambda: (p := _named("pod-ttl")) and len(p.processes) == 2 and p,
                       timeout=60, message="both workers of pod-ttl to publish")
        assert pod.ready and not pod.draining
        # Alive, it stays: each worker re-publishes before its key expires.
        seen_until = time.monotonic() + 1.5 * ttl
        while time.monotonic() < seen_until:
            assert _named("pod-ttl") is not None
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGKILL)  # no worker_exit, no withdrawal: dead
        killed = time.monotonic()
        wait_for(lambda: _named("pod-ttl") is None, timeout=ttl + 1.5,
                 message="the killed pod to disappear within its TTL")
        print(f"killed pod gone after {time.monotonic() - killed:.2f} s (TTL {ttl} s)")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def test_the_admin_lists_the_pods_and_why_one_is_unready(admin_client):
    instances.put(_pod("web-7f9c", ready=False,
                       failures={"database": "connection refused"}))
    for name in ("web-a1", "web-b2"):
        instances.put(_pod(name))
    page = admin_client.get(reverse("admin:healthd_checkstatus_current"))
    text = page.content.decode()
    assert page.status_code == 200
    assert "2 of 3 pods ready; web-7f9c: database: connection refused" in text
    assert 'data-pod="web-a1"' in text and 'data-pod="web-7f9c"' in text


def test_metrics_have_a_readiness_gauge_per_pod(client):
    instances.put(_pod("pod-a", ready=False, failures={"disk": "95% used"}))
    instances.put(_pod("pod-b", pid=7))
    instances.put(_pod("pod-b", pid=8))
    body = client.get("/metrics").content.decode()
    assert 'healthd_instance_ready{instance="pod-a"} 0.0' in body
    assert 'healthd_instance_ready{instance="pod-b"} 1.0' in body
    assert 'healthd_instance_processes{instance="pod-b"} 2.0' in body
    assert 'healthd_instance_local_failing{check="disk",instance="pod-a"} 1.0' in body
    assert 'healthd_instance_local_failing{check="disk",instance="pod-b"}' not in body


@pytest.fixture
def eager_tasks():
    current_app.conf.task_always_eager = True
    yield
    current_app.conf.task_always_eager = False


def test_a_pod_unready_longer_than_the_grace_is_one_transition_signalled_and_notified(
        settings, eager_tasks):
    failed, recovered = [], []

    def on_failed(sender, **kwargs):
        failed.append(kwargs)

    def on_recovered(sender, **kwargs):
        recovered.append(kwargs)

    signals.check_failed.connect(on_failed)
    signals.check_recovered.connect(on_recovered)
    try:
        with LoopbackServer() as hook:
            settings.HEALTHD = {**settings.HEALTHD, "INSTANCE_GRACE": 30,
                                "NOTIFY": [{"webhook": f"{hook.url}/hook", "secret": "s"}]}
            # Unready for less than the grace: nothing to tell.
            instances.put(_pod("pod-a", ready=False, failures={"database": "refused"},
                               unready_for=5))
            instances.put(_pod("pod-b"))
            assert watch_pods()["transitions"] == 0
            assert failed == [] and hook.received == []
            assert not CheckResult.objects.filter(name__startswith="instance:").exists()
            # Longer than the grace: one transition, whichever number of runs see it.
            instances.put(_pod("pod-a", ready=False, failures={"database": "refused"},
                               unready_for=31))
            assert watch_pods()["transitions"] == 1
            assert watch_pods()["transitions"] == 0
            assert [f["check"] for f in failed] == ["instance:pod-a"]
            wait_for(lambda: hook.received, timeout=10, message="the webhook")
            (told,) = [r.json() for r in hook.received]
            assert told["check"] == "instance:pod-a" and told["status"] == "failing"
            assert "database: refused" in told["message"] and told["host"] == "pod-a"
            assert Transition.objects.filter(name="instance:pod-a", status="failing").count() == 1
            # Ready again: recovered, once.
            instances.put(_pod("pod-a"))
            assert watch_pods()["transitions"] == 1
            assert len(recovered) == 1
    finally:
        signals.check_failed.disconnect(on_failed)
        signals.check_recovered.disconnect(on_recovered)


def test_a_pod_gone_while_failing_is_recorded_gone_then_forgotten(settings):
    settings.HEALTHD = {**settings.HEALTHD, "INSTANCE_GRACE": 10}
    instances.put(_pod("pod-z", ready=False, failures={"memory": "98%"}, unready_for=60))
    assert watch_pods()["transitions"] == 1
    redis_client.writer().delete(keys().instance_process("pod-z/1"))  # its TTL ran out
    assert watch_pods() == {"pods": 0, "ready": 0, "transitions": 1, "forgotten": 0}
    assert Transition.objects.filter(name="instance:pod-z").order_by("at").last().status \
        == "passing"
    assert watch_pods()["forgotten"] == 1
    assert watch_pods()["forgotten"] == 0
