"""A web process whose own database connection breaks leaves the pool on its own, within
LOCAL_CHECK_SECONDS + 1 s, while a shared failure leaves it in; and a database down for
every pod (a local check most pods fail) leaves them all in after the first-evaluation
window (gunicorn, real PostgreSQL behind a proxy per pod that is cut)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from django.db import connection

from healthd.checks.base import Status
from healthd.local import instances
from tests.support.ports import free_port
from tests.support.processes import ROOT
from tests.support.proxy import TcpProxy
from tests.support.results import write_all, write_result
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def pod_behind_a_proxy() -> Iterator[tuple[str, TcpProxy]]:
    if connection.vendor != "postgresql":
        pytest.skip("the database is cut through a TCP proxy: PostgreSQL only")
    proxy = TcpProxy((connection.settings_dict["HOST"] or "127.0.0.1",
                      int(connection.settings_dict["PORT"] or 5432)))
    proxy.start()
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.site.settings",
           "HEALTHD_TEST_WORKER_DB_NAME": connection.settings_dict["NAME"],
           "HEALTHD_TEST_DB_PORT": str(proxy.port),
           "HEALTHD_TEST_OVERRIDES": json.dumps({"LOCAL_CHECK_SECONDS": 1})}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "tests.site.wsgi:probes_application", "--bind",
         f"127.0.0.1:{port}", "--workers", "1", "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        try:
            return _get(base + "/__lbheartbeat__")[0] == 200
        except OSError:
            return False

    try:
        wait_for(serving, timeout=30, message="gunicorn to serve")
        yield base, proxy
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(15)
        proxy.cut()


def test_a_pod_whose_database_is_cut_leaves_the_pool_and_a_shared_failure_does_not(
        pod_behind_a_proxy):
    base, proxy = pod_behind_a_proxy
    write_all()
    write_result("redis", Status.FAILING)  # critical, shared by every pod
    wait_for(lambda: _get(base + "/__heartbeat__")[0] == 500, timeout=5,
             message="the shared failure on the heartbeat")
    wait_for(lambda: _get(base + "/readyz") == (200, b"ok"), timeout=5,
             message="the pod to be ready despite the shared failure")
    proxy.cut()
    # LOCAL_CHECK_SECONDS (1) + 1 s.
    wait_for(lambda: _get(base + "/readyz")[0] == 503, timeout=2,
             message="this pod's /readyz to fail")
    status, body = _get(base + "/readyz?verbose")  # through Django: the same verdict
    assert status == 503
    assert "[-]local:connection failed: reason withheld" in body.decode().splitlines()
    assert _get(base + "/__lbheartbeat__")[0] == 200  # it still serves
    proxy.restore()
    wait_for(lambda: _get(base + "/readyz")[0] == 200, timeout=5,
             message="this pod's /readyz to recover")


def _start_pod(name: str, proxy: TcpProxy) -> tuple[str, subprocess.Popen]:
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.site.settings",
           "HOSTNAME": name,  # the default instance name, as Kubernetes sets it
           "HEALTHD_TEST_WORKER_DB_NAME": connection.settings_dict["NAME"],
           "HEALTHD_TEST_DB_PORT": str(proxy.port),
           "HEALTHD_TEST_OVERRIDES": json.dumps({"LOCAL_CHECK_SECONDS": 1})}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "tests.site.wsgi:probes_application", "--bind",
         f"127.0.0.1:{port}", "--workers", "1", "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True)
    return f"http://127.0.0.1:{port}", process


@pytest.fixture
def two_pods() -> Iterator[dict[str, tuple[str, TcpProxy]]]:
    """pod-a and pod-b, each a gunicorn reaching PostgreSQL through a proxy of its own."""
    if connection.vendor != "postgresql":
        pytest.skip("the database is cut through a TCP proxy: PostgreSQL only")
    target = (connection.settings_dict["HOST"] or "127.0.0.1",
              int(connection.settings_dict["PORT"] or 5432))
    pods: dict[str, tuple[str, TcpProxy]] = {}
    started: list[subprocess.Popen] = []
    try:
        for name in ("pod-a", "pod-b"):
            proxy = TcpProxy(target)
            proxy.start()
            base, process = _start_pod(name, proxy)
            started.append(process)
            pods[name] = (base, proxy)
        for base, _ in pods.values():
            wait_for(lambda base=base: _serving(base), timeout=30, message="gunicorn to serve")
        yield pods
    finally:
        for process in started:
            os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            process.wait(15)
        for _, proxy in pods.values():
            proxy.cut()


def _serving(base: str) -> bool:
    try:
        return _get(base + "/__lbheartbeat__")[0] == 200
    except OSError:
        return False


def _published_clean(*bases: tuple[str, str]) -> bool:
    """Each pod (name, base URL), probed so that it evaluates when due, has published a
    state without a failing check."""
    for _, base in bases:
        _get(base + "/readyz")
    names = [name for name, _ in bases]
    pods = {pod.name: pod for pod in instances.pods()}
    return all(name in pods and not pods[name].failures for name in names)


SHARED = re.compile(r"^\[\+\]local:connection failing on \d of \d pods: shared, not counted$",
                    re.MULTILINE)


def test_a_database_down_for_every_pod_leaves_them_ready_and_one_pods_own_cut_does_not(
        two_pods):
    (base_a, proxy_a), (base_b, proxy_b) = two_pods["pod-a"], two_pods["pod-b"]
    write_all()
    wait_for(lambda: _get(base_a + "/readyz") == _get(base_b + "/readyz") == (200, b"ok")
             and _published_clean(("pod-a", base_a), ("pod-b", base_b)), timeout=10,
             message="both pods ready and published")
    # The database goes for everyone: each pod's connection check fails.
    proxy_a.cut()
    proxy_b.cut()
    cut = time.monotonic()
    # When each pod answered 503 after the cut, first and last: the first-evaluation window.
    unready: dict[str, list[float]] = {}

    def both_ready_and_shared() -> bool:
        seen = {}
        for name, base in (("pod-a", base_a), ("pod-b", base_b)):
            status, body = _get(base + "/readyz?verbose")
            if status != 200:
                unready.setdefault(name, []).append(time.monotonic() - cut)
            seen[name] = status == 200 and SHARED.search(body.decode()) is not None
        return all(seen.values())

    # The first-evaluation window: LOCAL_CHECK_SECONDS (1) + the other pod's publish.
    wait_for(both_ready_and_shared, timeout=5, interval=0.05,
             message="both pods to count the database outage as shared")
    print(f"both ready and shared {time.monotonic() - cut:.2f} s after the cut; 503 from/to: "
          f"{ {name: (round(t[0], 2), round(t[-1], 2)) for name, t in unready.items()} }")
    held_until = time.monotonic() + 2  # and it holds, evaluation after evaluation
    while time.monotonic() < held_until:
        assert _get(base_a + "/readyz") == _get(base_b + "/readyz") == (200, b"ok")
    pods = {pod.name: pod for pod in instances.pods()}
    assert "connection" in pods["pod-a"].failures and pods["pod-a"].ready
    # The database is back; then only pod-a's own connection breaks.
    proxy_a.restore()
    proxy_b.restore()
    wait_for(lambda: _published_clean(("pod-a", base_a), ("pod-b", base_b)), timeout=5,
             message="both pods to publish a passing connection")
    proxy_a.cut()
    wait_for(lambda: _get(base_a + "/readyz")[0] == 503, timeout=2.5, interval=0.05,
             message="pod-a's own cut to make it unready")
    status, body = _get(base_a + "/readyz?verbose")
    assert status == 503
    assert "[-]local:connection failed: reason withheld" in body.decode().splitlines()
    assert _get(base_b + "/readyz") == (200, b"ok")
