"""Several gunicorn workers on one Redis answer the same status, within the freshness bound."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from healthd.checks.base import Status
from tests.support.ports import free_port
from tests.support.processes import ROOT
from tests.support.results import write_all, write_result
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db


def _status(url: str) -> int:
    try:
        return urllib.request.urlopen(url, timeout=5).status  # noqa: S310 - loopback
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def gunicorn():
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.site.settings"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "tests.site.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", "3", "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/__heartbeat__"

    def serving() -> bool:
        try:
            _status(url)
            return True
        except OSError:
            return False

    wait_for(serving, timeout=30, message="gunicorn to serve")
    yield url
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(15)


def test_every_web_process_turns_red_within_the_freshness_period(gunicorn):
    write_all(Status.PASSING)
    wait_for(lambda: all(_status(gunicorn) == 200 for _ in range(30)), timeout=10,
             message="every worker to answer 200")
    write_result("database", Status.FAILING)
    flipped = time.monotonic()
    late_greens = []
    answers = []
    while time.monotonic() - flipped < 3.0:
        code = _status(gunicorn)
        answers.append(code)
        if code == 200 and time.monotonic() - flipped > 1.0 + 0.3:
            late_greens.append(round(time.monotonic() - flipped, 2))
    assert late_greens == []  # CACHE_SECONDS is 1: no process may be later than that
    assert answers[-20:] == [500] * 20
