"""Each web process judges itself: its local checks run at most once per
LOCAL_CHECK_SECONDS, a failing one turns its /readyz 503 within that period, and one
that hangs costs its timeout once, never once per probe, under WSGI and ASGI alike."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application
from django.db import connection
from django.test import Client

from healthd import asgi, wsgi
from healthd.checks.base import Status
from healthd.checks.disk import Disk
from healthd.checks.memory import Memory
from healthd.local import instances, verdict
from tests.site import localchecks
from tests.support.endpoints import call_asgi, call_wsgi
from tests.support.processes import ROOT
from tests.support.results import write_all
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db

TOGGLED = {"check": "tests.site.localchecks.toggled", "name": "sidecar"}


@pytest.fixture(autouse=True)
def steered():
    localchecks.reset()
    write_all()
    yield
    localchecks.reset()


def _local(settings, *checks, seconds: float = 5.0) -> None:
    settings.HEALTHD = {**settings.HEALTHD, "LOCAL_CHECKS": list(checks),
                        "LOCAL_CHECK_SECONDS": seconds}


def test_a_failing_local_check_turns_readyz_503_within_the_period(settings):
    _local(settings, TOGGLED, seconds=1)
    client = Client()
    early = wsgi.probes(get_wsgi_application())
    assert client.get("/readyz").status_code == 200
    localchecks.failing.set()
    # LOCAL_CHECK_SECONDS + 1 s at most, for the early answer and the view alike.
    wait_for(lambda: call_wsgi(early, "/readyz").status == 503, timeout=2,
             message="the early /readyz to fail")
    assert client.get("/readyz").status_code == 503
    response = client.get("/readyz?verbose")
    assert response.content.decode().splitlines() == [
        "[-]local:sidecar failed: reason withheld", "readyz check failed"]
    settings.DEBUG = True
    assert b"[-]local:sidecar failed: pgbouncer sidecar gone" in client.get(
        "/readyz?verbose").content
    localchecks.failing.clear()
    wait_for(lambda: client.get("/readyz").status_code == 200, timeout=2,
             message="/readyz to recover")


def test_the_checks_run_at_most_once_per_period_whatever_the_probes(settings, monkeypatch):
    _local(settings, TOGGLED, seconds=30)
    published: list[verdict.LocalVerdict] = []
    monkeypatch.setattr(instances, "publish", published.append)
    client = Client()
    early_wsgi = wsgi.probes(get_wsgi_application())
    early_asgi = asgi.probes(get_asgi_application())
    for _ in range(20):
        assert client.get("/readyz").status_code == 200
        assert call_wsgi(early_wsgi, "/readyz").status == 200
        assert call_asgi(early_asgi, "/readyz").status == 200
    assert len(localchecks.entered) == 1
    (sent,) = published
    assert sent.ready and sent.checks == ("sidecar",) and not sent.failures


def test_a_hanging_local_check_costs_its_timeout_once(settings):
    _local(settings, {"check": "tests.site.localchecks.hanging", "name": "hanging",
                      "timeout": 1}, seconds=0.2)
    early = wsgi.probes(get_wsgi_application())
    assert call_wsgi(early, "/readyz").status == 200
    localchecks.hang.set()
    before = len(localchecks.entered)
    started: list[tuple[float, int]] = []

    def first_probe_after_the_period() -> None:
        while len(localchecks.entered) == before:
            begun = time.monotonic()
            status = call_wsgi(early, "/readyz").status
            started.append((time.monotonic() - begun, status))

    evaluating = threading.Thread(target=first_probe_after_the_period)
    evaluating.start()
    wait_for(lambda: len(localchecks.entered) > before, timeout=5, message="the hang to begin")
    during = []
    for _ in range(30):  # other probes meanwhile get the last answer, at once
        begun = time.monotonic()
        during.append((call_wsgi(early, "/readyz").status, time.monotonic() - begun))
    evaluating.join(10)
    assert {status for status, _ in during} == {200}
    assert max(took for _, took in during) < 0.5
    took, status = started[-1]
    assert status == 503 and 0.9 <= took < 3  # the one probe that waited out the timeout
    after = []
    deadline = time.monotonic() + 1.0  # several periods: each re-evaluation answers at once
    while time.monotonic() < deadline:
        begun = time.monotonic()
        answer = call_wsgi(early, "/readyz")
        after.append((answer.status, time.monotonic() - begun))
    assert {status for status, _ in after} == {503}
    assert max(took for _, took in after) < 0.5
    assert len(localchecks.entered) == before + 1  # never started again while it hangs
    settings.DEBUG = True
    assert b"has still not returned" in Client().get("/readyz?verbose").content
    localchecks.released.set()
    wait_for(lambda: Client().get("/readyz").status_code == 200, timeout=5,
             message="/readyz to recover once the check returns")


@pytest.mark.parametrize("query", ["", "verbose"])  # the early answer, and Django's view
def test_under_asgi_an_evaluation_never_blocks_the_event_loop(settings, query):
    _local(settings, {"check": "tests.site.localchecks.hanging", "name": "hanging",
                      "timeout": 1.5})
    localchecks.hang.set()
    application = asgi.probes(get_asgi_application())
    answers = []
    first = threading.Thread(
        target=lambda: answers.append(call_asgi(application, "/readyz", query=query)))
    first.start()  # the process's first answer: its evaluation hangs in a worker thread
    wait_for(lambda: localchecks.entered, timeout=5, message="the hang to begin")
    begun = time.monotonic()
    assert call_asgi(application, "/livez").status == 200  # the same event loop
    assert time.monotonic() - begun < 0.5
    first.join(10)
    (answer,) = answers
    assert answer.status == 503
    assert not any(name == "asgi-loop" for name in localchecks.entered)
    localchecks.released.set()


# --- the built-in local checks -------------------------------------------------------------


def test_disk_fails_below_its_threshold(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    assert Disk().run().status == Status.PASSING
    failing = Disk(min_free_mb=10**12).run()
    assert failing.status == Status.FAILING
    assert f"MB free on {tmp_path}, below 1e+12 MB" in failing.message
    settings.HEALTHD = {**settings.HEALTHD, "LOCAL_DISK_MIN_FREE_MB": 10**12}
    assert Disk().run().status == Status.FAILING


def test_disk_reads_the_folder_a_media_root_not_made_yet_will_be_made_in(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media" / "uploads")  # a new deployment's
    passing = Disk().run()
    assert passing.status == Status.PASSING, passing.message
    assert f"MB free on {tmp_path / 'media' / 'uploads'}" in passing.message


def _cgroup(tmp_path: Path, proc: str, files: dict[str, str]) -> Memory:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "proc-cgroup").write_text(proc)
    return Memory(max_percent=90, cgroup_root=str(tmp_path),
                  proc_cgroup=str(tmp_path / "proc-cgroup"))


def test_memory_against_a_cgroup_v2_limit(tmp_path):
    memory = _cgroup(tmp_path, "0::/kubepods/pod1\n", {
        "kubepods/pod1/memory.max": "1073741824\n",
        "kubepods/pod1/memory.current": "1020054732\n"})
    found = memory.run()
    assert found.status == Status.FAILING
    assert found.message == "973 MB of the 1024 MB limit (95 %), above 90 %"
    (tmp_path / "kubepods/pod1/memory.current").write_text("536870912\n")
    assert memory.run().status == Status.PASSING
    (tmp_path / "kubepods/pod1/memory.max").write_text("max\n")
    assert memory.run().message.startswith("no memory limit")


def test_memory_against_a_cgroup_v1_limit(tmp_path):
    memory = _cgroup(tmp_path, "4:memory:/docker/abc\n0::/\n", {
        "memory/docker/abc/memory.limit_in_bytes": "104857600\n",
        "memory/docker/abc/memory.usage_in_bytes": "99614720\n"})
    assert memory.run().message == "95 MB of the 100 MB limit (95 %), above 90 %"
    (tmp_path / "memory/docker/abc/memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert memory.run().status == Status.PASSING


def test_the_default_local_checks_pass_here():
    found = verdict.current()
    assert found.ready and found.checks == ("connection", "disk", "memory")


def test_the_standalone_site_reads_local_check_seconds(tmp_path):
    env = {**os.environ, "HEALTHD_LOCAL_CHECK_SECONDS": "2.5", "HEALTHD_BASE_DIR": str(tmp_path),
           "DJANGO_SETTINGS_MODULE": "healthd.site.settings"}
    shown = subprocess.run(
        [sys.executable, "-c", "from healthd.site import settings; "
                               "print(settings.HEALTHD['LOCAL_CHECK_SECONDS'])"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert shown.stdout.strip() == "2.5"


def test_the_connection_check_leaves_no_connection_behind(settings):
    """Under ASGI the evaluation runs in a pool thread that lives on: were the check run
    there, each such thread would keep a connection open for good."""
    if connection.vendor != "postgresql":
        pytest.skip("counts PostgreSQL's backends")
    _local(settings, "connection", seconds=60)

    def backends() -> int:
        with connection.cursor() as cursor:
            # The statistics are a snapshot per transaction, and the test runs in one.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute("SELECT count(*) FROM pg_stat_activity "
                           "WHERE datname = current_database()")
            return cursor.fetchone()[0]

    before = backends()
    early_asgi = asgi.probes(get_asgi_application())
    client = Client()
    for _ in range(8):
        verdict.forget()
        assert call_asgi(early_asgi, "/readyz").status == 200
        verdict.forget()
        assert client.get("/readyz").status_code == 200
    # A backend whose client left may show for a moment while it exits; a leaked one stays.
    wait_for(lambda: backends() <= before, timeout=5, message="no backend left behind")
