"""A web process whose own database connection breaks leaves the pool on its own, within
LOCAL_CHECK_SECONDS + 1 s, while a shared failure leaves it in (gunicorn, real PostgreSQL
behind a proxy that is cut)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from django.db import connection

from healthd.checks.base import Status
from tests.integration.test_faults import TcpProxy
from tests.store.test_redis_topologies import _free_port
from tests.support.processes import ROOT
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
    port = _free_port()
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
