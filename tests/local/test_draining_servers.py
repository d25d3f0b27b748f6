"""SIGTERM to the web servers ``healthd run`` starts (gunicorn with the site's gunicorn
config, and uvicorn with ``--asgi``): /readyz turns 503 at once, every other request is
served through the drain window, a request in flight completes, then the server exits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from healthd.checks.base import Status
from healthd.daemon.cli import processes
from healthd.local import instances
from healthd.store import client as redis_client
from healthd.store import keys
from tests.support.ports import free_port
from tests.support.processes import ROOT
from tests.support.results import write_all
from tests.support.waiting import wait_for

DRAIN = 1.5


def _pod(name: str) -> instances.Pod | None:
    return next((p for p in instances.pods() if p.name == name), None)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - loopback
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _start(asgi: bool, pod: str, env: dict[str, str] | None = None,
           **overrides: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, **(env or {}), "DJANGO_SETTINGS_MODULE": "tests.site.settings",
           "PYTHONUNBUFFERED": "1", "HOSTNAME": pod,
           "HEALTHD_TEST_OVERRIDES": json.dumps({"DRAIN_SECONDS": DRAIN, **overrides})}
    log = open(Path(settings.STATE_DIR) / f"web-drain-{settings.RUN_ID}.log", "ab")  # noqa: SIM115
    # The web server exactly as `healthd run` starts it, on the tests' settings.
    command = processes(port, "127.0.0.1", asgi=asgi)["web"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        if process.poll() is not None:
            pytest.fail(f"the web server exited with {process.returncode}; see its log")
        try:
            return _get(f"{base}/tests/plain/")[0] == 200
        except OSError:
            return False

    wait_for(serving, timeout=60, message="the web server to serve")
    return process, base


@pytest.mark.parametrize("asgi", [False, True], ids=["gunicorn", "uvicorn"])
def test_sigterm_drains_then_stops_without_cutting_a_request(asgi):
    write_all(Status.PASSING)
    pod = f"drain-{'uvicorn' if asgi else 'gunicorn'}"
    process, base = _start(asgi, pod)
    try:
        wait_for(lambda: all(_get(f"{base}/readyz") == (200, b"ok") for _ in range(10)),
                 timeout=10, message="every worker to answer ready")
        wait_for(lambda: (p := _pod(pod)) and len(p.processes) == 2 and p.ready, timeout=10,
                 message="both workers to publish their state")
        in_flight: dict[str, object] = {}

        def slow_request() -> None:
            in_flight["answer"] = _get(f"{base}/tests/slow/?seconds=1.0&mark=flight")

        requester = threading.Thread(target=slow_request)
        requester.start()
        mark = f"{keys().tagged}test-mark:flight"
        wait_for(lambda: redis_client.writer().exists(mark), timeout=10,
                 message="the slow request to be in flight")

        os.kill(process.pid, signal.SIGTERM)  # the leader only, as the supervisor does
        told = time.monotonic()
        wait_for(lambda: _get(f"{base}/readyz")[0] == 503, timeout=1.0, interval=0.02,
                 message="/readyz to answer 503 within 1 s of SIGTERM")
        turned = time.monotonic() - told
        # Published at once: the admin and /metrics see the pod draining.
        wait_for(lambda: (p := _pod(pod)) and all(w.draining for w in p.processes),
                 timeout=1.0, message="the drain to be published within 1 s")
        # Every worker, not only the one that answered first.
        assert [_get(f"{base}/readyz") for _ in range(6)] == [(503, b"draining")] * 6
        verbose = _get(f"{base}/readyz?verbose")
        assert verbose[0] == 503 and b"[-]draining" in verbose[1]

        # Every other request is served through the window (both workers, so a few).
        plain = []
        while time.monotonic() - told < DRAIN - 0.3:
            plain.append(_get(f"{base}/tests/plain/")[0])
        assert plain and set(plain) == {200}
        assert _get(f"{base}/readyz")[0] == 503  # still draining, in every worker

        requester.join(15)
        assert in_flight["answer"] == (200, b"slow done")

        process.wait(DRAIN + 15)
        stopped = time.monotonic() - told
        assert stopped >= DRAIN - 0.1, "the server stopped before the drain window ended"
        assert _pod(pod) is None  # withdrawn on the way out, not left for its TTL
        print(f"{'uvicorn' if asgi else 'gunicorn'}: /readyz 503 after {turned:.3f} s, "
              f"{len(plain)} plain requests served while draining, exited after {stopped:.2f} s")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


@pytest.mark.parametrize("asgi", [False, True], ids=["gunicorn", "uvicorn"])
def test_workers_are_replaced_after_recycle_seconds_without_a_refused_request(asgi):
    write_all(Status.PASSING)
    pod = f"recycle-{'uvicorn' if asgi else 'gunicorn'}"
    process, base = _start(asgi, pod, RECYCLE_SECONDS=3)
    try:
        wait_for(lambda: (p := _pod(pod)) and len(p.processes) == 2, timeout=10,
                 message="both workers to publish their state")
        first = {w.pid for w in _pod(pod).processes}
        answers: list[int | str] = []
        stop = threading.Event()

        def keep_asking() -> None:
            while not stop.is_set():
                try:
                    answers.append(_get(f"{base}/tests/plain/")[0])
                except OSError as exc:  # a refused or cut connection
                    answers.append(type(exc).__name__)

        asker = threading.Thread(target=keep_asking)
        asker.start()
        try:
            # Each worker goes after 3 to 3.3 s and withdraws its state; the fresh ones
            # (forked by gunicorn's arbiter, or started by uvicorn's supervisor) publish
            # theirs (a withdrawn pid left in the list would fail this).
            wait_for(lambda: (p := _pod(pod)) and len(p.processes) == 2
                     and not first & {w.pid for w in p.processes}, timeout=30,
                     message="both workers to be replaced")
        finally:
            stop.set()
            asker.join(15)
        assert process.poll() is None  # the server goes on
        assert answers and set(answers) == {200}, sorted(set(map(str, answers)))
        assert _get(f"{base}/readyz") == (200, b"ok")
        print(f"both workers replaced; {len(answers)} requests meanwhile, all 200")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def test_gunicorn_arbiter_keeps_no_thread_or_control_socket_while_workers_are_replaced(tmp_path):
    """gunicorn's control socket (25.1 and later) would run an asyncio loop on a thread of
    the arbiter, stopped before every fork and started afresh after it, at
    $XDG_RUNTIME_DIR/gunicorn.ctl: healthd's config turns it off, so the arbiter that
    forks a fresh worker every RECYCLE_SECONDS stays a single thread and holds no socket
    but the one it serves on."""
    pod = "recycle-arbiter"
    process, base = _start(False, pod, env={"XDG_RUNTIME_DIR": str(tmp_path)},
                           RECYCLE_SECONDS=2)
    arbiter_tasks = Path(f"/proc/{process.pid}/task")
    try:
        wait_for(lambda: (p := _pod(pod)) and len(p.processes) == 2, timeout=10,
                 message="both workers to publish their state")
        first = {w.pid for w in _pod(pod).processes}
        thread_counts: set[int] = set()

        def both_replaced() -> bool:
            thread_counts.add(len(list(arbiter_tasks.iterdir())))
            pod_now = _pod(pod)
            return bool(pod_now and len(pod_now.processes) == 2
                        and not first & {w.pid for w in pod_now.processes})

        wait_for(both_replaced, timeout=30, message="both workers to be replaced")
        assert process.poll() is None
        assert thread_counts == {1}, thread_counts
        assert not (tmp_path / "gunicorn.ctl").exists()
        assert _get(f"{base}/tests/plain/")[0] == 200
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def test_a_uvicorn_of_one_process_is_not_replaced(tmp_path):
    """Nothing would start a single uvicorn process again, so it stays past its period."""
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.site.settings",
           "PYTHONUNBUFFERED": "1", "HOSTNAME": "recycle-uvicorn-single",
           "HEALTHD_TEST_OVERRIDES": json.dumps({"RECYCLE_SECONDS": 1})}
    env.pop("WEB_CONCURRENCY", None)
    log_path = tmp_path / "uvicorn.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "healthd.site.asgi:application",
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: "Application startup complete." in log_path.read_text(),
                 timeout=60, message="uvicorn's lifespan startup")
        deadline = time.monotonic() + 1 * 1.1 + 1  # past its period, with the most jitter

        def served_past_the_deadline() -> bool:
            assert process.poll() is None, log_path.read_text()[-2000:]
            return _get(f"{base}/tests/plain/")[0] == 200 and time.monotonic() > deadline

        wait_for(served_past_the_deadline, timeout=15, interval=0.2,
                 message="the single uvicorn process to serve past its period")
        assert "Shutting down" not in log_path.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
