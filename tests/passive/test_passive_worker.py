"""Passive checks with real processes: a decorated task in a worker turns passing, failing,
then late on schedule; a watched beat row whose task raises turns failing; pings over
real HTTP (gunicorn on loopback) with right and wrong tokens; ``healthd ping`` around a
command that exits 1."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from celery import current_app
from django.conf import settings as django_settings
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from healthd import passive, store
from healthd.checks.base import Status
from healthd.store import health as state
from tests.support.ports import free_port
from tests.support.processes import ROOT, _test_db_name, start_process, stop_process
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TOKEN = "backup-token-4567"
BACKUP = {"passive": "backup", "every": 60, "grace": 30, "token": TOKEN}


def _record(name: str) -> store.StoredResult | None:
    return store.read_latest().records.get(name)


@pytest.fixture
def passive_worker():
    """A worker of its own (own queue) that knows tests.site.passive_tasks and watches beat rows."""
    queue = f"healthd-passive-{django_settings.RUN_ID}-{time.monotonic_ns()}"
    hostname = f"passive-{time.monotonic_ns()}@localhost"
    env = {"HEALTHD_TEST_QUEUE": queue,
           "HEALTHD_TEST_OVERRIDES": json.dumps({"WATCH_PERIODIC_TASKS": {"grace": 60}})}
    process = start_process(
        ["worker", "--pool", "threads", "--concurrency", "4", "--hostname", hostname,
         "--without-gossip", "--without-mingle", "--loglevel", "INFO",
         "--include", "tests.site.passive_tasks"], "passive-worker", env)

    def answers() -> bool:
        if process.poll() is not None:
            pytest.fail(f"worker exited with {process.returncode}; see its log")
        return bool(current_app.control.ping(destination=[hostname], timeout=0.5))

    try:
        wait_for(answers, timeout=60, message="the passive worker to answer ping")
        yield queue, env
    finally:
        stop_process(process)


def test_a_decorated_task_turns_passing_then_failing_then_late_on_schedule(passive_worker):
    queue, _ = passive_worker
    current_app.send_task("tests.site.passive_tasks.export", queue=queue)
    wait_for(lambda: (r := _record("worker-export")) and r.current == Status.PASSING,
             timeout=30, message="the task's success")
    current_app.send_task("tests.site.passive_tasks.export", kwargs={"fail": True}, queue=queue)
    failing = wait_for(lambda: (r := _record("worker-export")) and r.current == Status.FAILING
                       and r, timeout=30, message="the task's failure")
    assert failing.message == "RuntimeError: the export failed"
    last_success = failing.details["last_success"]
    # Nobody calls it again: every=2 + grace=1 after its last success it is late, recorded
    # by the one-shot sweep the worker queued for that deadline.
    late = wait_for(lambda: (r := _record("worker-export")) and r.message.startswith("late:")
                    and r, timeout=30, message="the sweep to record it late")
    assert late.current == Status.FAILING
    assert 3.0 <= late.checked_at - last_success <= 3.0 + 2.5
    state.forget()
    seen = state.health().by_name()["worker-export"]
    assert seen.status == Status.FAILING and not seen.critical


def test_a_watched_beat_row_whose_task_raises_turns_failing(passive_worker, settings):
    queue, _ = passive_worker
    every_second = IntervalSchedule.objects.get_or_create(
        every=1, period=IntervalSchedule.SECONDS)[0]
    row = PeriodicTask.objects.create(name="passive explode",
                                      task="tests.site.passive_tasks.explode",
                                      interval=every_second, queue=queue)
    beat = start_process(
        ["beat", "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
         "--loglevel", "INFO", "--max-interval", "1"], "passive-beat",
        {"HEALTHD_TEST_QUEUE": queue})
    try:
        failing = wait_for(lambda: (r := _record("passive-explode")) and r, timeout=45,
                           message="the watched row's run to be reported")
    finally:
        stop_process(beat)
    assert failing.current == Status.FAILING
    assert failing.message == "ZeroDivisionError: the beat task blew up"
    assert failing.details["passive"]["every"] == 1
    assert failing.details["passive"]["source"] == "beat"
    # Disabled, it stops being watched.
    row.enabled = False
    row.save()
    settings.HEALTHD = {**settings.HEALTHD, "WATCH_PERIODIC_TASKS": True}
    from healthd.tasks.sweep import sweep_passive

    assert "passive-explode" in sweep_passive()["forgotten"]
    assert _record("passive-explode") is None
    assert "passive-explode" not in passive.known_names()


@pytest.fixture
def site(settings):
    """gunicorn on loopback serving the test site, with the passive check "backup"."""
    overrides = {"CHECKS": [BACKUP, "storage"]}
    settings.HEALTHD = {**settings.HEALTHD, **overrides}
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.site.settings",
           "HEALTHD_TEST_OVERRIDES": json.dumps(overrides),
           "HEALTHD_TEST_WORKER_DB_NAME": _test_db_name()}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "tests.site.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", "2", "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        try:
            _post(f"{base}/healthd/ping/nope")
            return True
        except OSError:
            return False

    try:
        wait_for(serving, timeout=30, message="gunicorn to serve")
        yield base, env
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(15)


def _post(url: str, token: str | None = None, body: bytes = b"") -> int:
    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - loopback
    if token is not None:
        request.add_header("Authorization", f'WATCHMAN-TOKEN Token="{token}"')
    try:
        return urllib.request.urlopen(request, timeout=10).status  # noqa: S310 - loopback
    except urllib.error.HTTPError as error:
        return error.code


def test_pings_over_http_with_right_and_wrong_tokens(site):
    base, _ = site
    assert _post(f"{base}/healthd/ping/backup", "not-the-token") == 403
    assert _post(f"{base}/healthd/ping/backup") == 403
    assert _record("backup") is None
    assert _post(f"{base}/healthd/ping/unknown", TOKEN) == 404
    assert _post(f"{base}/healthd/ping/backup", TOKEN) == 200
    assert _record("backup").current == Status.PASSING
    assert _post(f"{base}/healthd/ping/backup/start?token={TOKEN}") == 200
    time.sleep(0.2)
    assert _post(f"{base}/healthd/ping/backup/fail?token={TOKEN}", body=b"tar: disk full") == 200
    record = _record("backup")
    assert record.current == Status.FAILING and record.message == "tar: disk full"
    assert record.duration >= 0.2


def test_healthd_ping_around_a_command_that_exits_1(site):
    base, env = site
    command = [sys.executable, "-m", "healthd", "healthd_ping", "backup"]
    fails = [sys.executable, "-c", "print('copying'); print('no space left'); raise SystemExit(1)"]
    # Directly, with the site's settings.
    finished = subprocess.run([*command, "--", *fails], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)
    assert finished.returncode == 1, finished.stderr
    assert "no space left" in finished.stdout
    record = _record("backup")
    assert record.current == Status.FAILING
    assert record.message.startswith("exit status 1 after") and "no space left" in record.message
    # Over HTTP, from a host that only reaches the site.
    assert _post(f"{base}/healthd/ping/backup", TOKEN) == 200
    remote = {k: v for k, v in env.items() if k != "HEALTHD_TEST_OVERRIDES"}
    finished = subprocess.run(
        [*command, "--url", f"{base}/healthd/ping/", "--token", TOKEN, "--", *fails],
        cwd=ROOT, env=remote, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 1, finished.stderr
    assert finished.stderr == ""
    record = _record("backup")
    assert record.current == Status.FAILING and "no space left" in record.message


def _console_script() -> list[str]:
    """`healthd` as installed (the console script beside this Python), else ``-m healthd``."""
    script = shutil.which("healthd", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "healthd"]


def test_healthd_ping_alias_wraps_a_command(settings):
    """`healthd ping NAME -- command` (the alias the README shows), through ``python -m
    healthd`` and the console script: the command's output goes through, its exit status
    is healthd's, and the check records it."""
    overrides = {"CHECKS": [BACKUP, "storage"]}
    settings.HEALTHD = {**settings.HEALTHD, **overrides}
    state.forget()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.site.settings",
           "HEALTHD_TEST_OVERRIDES": json.dumps(overrides),
           "HEALTHD_TEST_WORKER_DB_NAME": _test_db_name()}
    module = [sys.executable, "-m", "healthd"]
    succeeds = [sys.executable, "-c", "print('dumped 42 tables')"]
    finished = subprocess.run([*module, "ping", "backup", "--", *succeeds], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
    assert (finished.returncode, finished.stdout, finished.stderr) == (
        0, "dumped 42 tables\n", "")
    record = _record("backup")
    assert record.current == Status.PASSING
    assert record.message.startswith("exit status 0 after") and "dumped 42 tables" in (
        record.message)

    fails = [sys.executable, "-c", "print('no space left'); raise SystemExit(3)"]
    finished = subprocess.run([*_console_script(), "ping", "backup", "--lines", "1", "--",
                               *fails], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=60)
    assert (finished.returncode, finished.stdout) == (3, "no space left\n"), finished.stderr
    record = _record("backup")
    assert record.current == Status.FAILING
    assert record.message.startswith("exit status 3 after") and "no space left" in record.message

    unknown = subprocess.run([*module, "ping", "nightly-export", "--", *succeeds], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 1
    assert "no passive check 'nightly-export'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
