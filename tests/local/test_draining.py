"""The drain flag: /readyz answers 503 "draining" from it, in the view and before Django,
and a process forked before the drain began sees it (gunicorn's workers)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from healthd.checks.base import Status
from healthd.local import draining
from tests.support.processes import ROOT
from tests.support.results import write_all

pytestmark = pytest.mark.django_db


def test_readyz_answers_draining_while_everything_else_answers_as_before(client):
    write_all(Status.PASSING)
    assert client.get("/readyz").status_code == 200
    draining.begin()
    answer = client.get("/readyz")
    assert (answer.status_code, answer.content) == (503, b"draining")
    verbose = client.get("/readyz?verbose")
    assert verbose.status_code == 503 and b"[-]draining" in verbose.content
    assert client.get("/__heartbeat__").status_code == 200  # the site is fine
    assert client.get("/livez").status_code == 200


def test_a_worker_forked_before_the_drain_sees_it_at_once():
    assert not draining.is_draining()
    child = os.fork()
    if child == 0:  # the worker: waits for its arbiter's flag, at most 5 s
        deadline = time.monotonic() + 5
        while not draining.is_draining():
            if time.monotonic() > deadline:
                os._exit(1)
            time.sleep(0.01)
        os._exit(0)
    draining.begin()  # the arbiter, after the fork
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    draining.reset()
    assert not draining.is_draining()


def test_the_drain_window_a_worker_read_reaches_its_arbiter(settings):
    settings.HEALTHD = {**settings.HEALTHD, "DRAIN_SECONDS": 0}
    draining.share_window()
    assert draining.shared_window() == 0.0  # zero is a setting (no drain), not "unset"
    settings.HEALTHD = {**settings.HEALTHD, "DRAIN_SECONDS": 7.5}
    draining.share_window()
    assert draining.shared_window() == 7.5


def test_the_standalone_site_reads_the_drain_window_and_instance_from_its_environment(
        tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "healthd.site.settings",
           "HEALTHD_STATE_DIR": str(tmp_path), "HEALTHD_DRAIN_SECONDS": "2.5",
           "HEALTHD_INSTANCE": "web-7f9c", "HEALTHD_INSTANCE_GRACE": "90",
           "HEALTHD_LOCAL_SHARED_FRACTION": "0.75"}
    shown = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from healthd import conf; "
         "c = conf.get(); print(c.drain_seconds, c.instance, c.instance_grace, "
         "c.local_shared_fraction)"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == ["2.5", "web-7f9c", "90.0", "0.75"]
