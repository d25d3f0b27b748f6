"""A real ``healthd run``, as a user starts it: the standalone site, the embedded Redis and
SQLite in a state folder of its own, a free port.

The module shares one daemon; the tests run in file order, the last two kill its worker
and then stop it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.ports import free_port
from tests.support.processes import ROOT
from tests.support.waiting import wait_for

TOKENS = ("tok-one-1234", "tok-two-5678")
# Variables of the test session that must not reach the standalone site.
SESSION_ONLY = ("REDIS_URL", "DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE",
                "PORT", "HEALTHD_STATE_DIR", "HEALTHD_BASE_DIR", "STATUS_CELERY_WORKERS")


def site_env(state_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a user's shell: nothing of the test session's services."""
    env = {k: v for k, v in os.environ.items()
           if k not in SESSION_ONLY and not k.startswith("HEALTHD_TEST_")}
    env.update({"HEALTHD_STATE_DIR": str(state_dir), "PYTHONPATH": str(ROOT),
                "PYTHONUNBUFFERED": "1",
                # Stopping drains the web server first (tests/local covers it): not here.
                "HEALTHD_DRAIN_SECONDS": "0"})
    env.update(extra)
    return env


def healthd(*args: str, env: dict[str, str], cwd: Path,
            timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "healthd", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def redis_answers(state_dir: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(state_dir / "redis.sock"),
                                socket_timeout=5).ping())
    except (redis.RedisError, OSError):
        return False


def flip_status(daemon: Daemon) -> str:
    """The extra check's status as the daemon's heartbeat shows it to a token holder."""
    body = daemon.get(f"/__heartbeat__?watchman-token={TOKENS[0]}")[1]
    detail = body["details"].get("flip")  # listed only when it has something to say
    return detail["healthd_status"] if detail else {"ok": "passing"}.get(
        body["checks"]["flip"], body["checks"]["flip"])


class Daemon:
    """One ``healthd run`` process and every line it printed."""

    def __init__(self, workdir: Path, port: int, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.state_dir = Path(env["HEALTHD_STATE_DIR"])
        self.port = port
        self.env = env
        self.lines: list[str] = []
        self.log = open(workdir / "healthd-run.log", "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "healthd", "run"], cwd=workdir, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            self.log.write(line + "\n")
            self.log.flush()

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.lines[-n:])

    def find(self, pattern: str, start: int = 0) -> list[tuple[int, re.Match]]:
        regex = re.compile(pattern)
        return [(i, m) for i, line in enumerate(list(self.lines)) if i >= start
                for m in [regex.search(line)] if m]

    def wait_line(self, pattern: str, timeout: float = 60, start: int = 0
                  ) -> tuple[int, re.Match]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.find(pattern, start)
            if found:
                return found[0]
            if self.process.poll() is not None:
                pytest.fail(f"healthd run exited ({self.process.returncode}) before "
                            f"{pattern!r}:\n{self.tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:g} s waiting for {pattern!r}:\n"
                            f"{self.tail()}")
            time.sleep(0.05)

    def get(self, path: str = "/__heartbeat__") -> tuple[int, dict]:
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            response = urllib.request.urlopen(url, timeout=10)
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")
        return response.status, json.loads(response.read() or b"{}")

    def answer(self) -> int | str:
        """The heartbeat's status code, or the name of what stopped it from answering."""
        try:
            return self.get()[0]
        except (OSError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"

    def pids(self, name: str) -> list[int]:
        return [int(m.group(1)) for _, m in self.find(rf"^healthd: {name} started \(pid (\d+)\)")]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                for name in ("web", "worker", "beat"):
                    for pid in self.pids(name):
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(pid, signal.SIGKILL)
                self.process.kill()
                self.process.wait(5)
        self.reader.join(5)
        self.log.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory) -> Iterator[Daemon]:
    workdir = tmp_path_factory.mktemp("healthd-run")
    flip_file = workdir / "flip-fails"
    flip_file.touch()  # the extra check fails until a test removes this
    port = free_port()
    env = site_env(workdir / "state", PORT=str(port), HEALTHD_INTERVAL="4",
                   HEALTHD_TOKENS=",".join(TOKENS),
                   HEALTHD_EXTRA_CHECKS="tests.site.sitechecks.flip",
                   HEALTHD_TEST_FLIP_FILE=str(flip_file))
    handle = Daemon(workdir, port, env)
    try:
        handle.wait_line(r"^healthd: first run done", timeout=120)
        yield handle
    finally:
        handle.stop()


def test_it_says_what_it_waits_for_until_the_first_results_are_in(daemon):
    url_at, _ = daemon.wait_line(rf"^healthd: heartbeat at http://127.0.0.1:{daemon.port}/")
    waiting_at, _ = daemon.wait_line(r"^healthd: waiting for the first run… 0/8 checks in")
    done_at, done = daemon.wait_line(
        r"^healthd: first run done: 8/8 checks in, (\d) passing, (\d) failing \((.*)\), "
        r"([\d.]+) s; heartbeat failing")
    assert url_at < waiting_at < done_at
    # flip fails; so may celery, on a machine too busy to answer its ping in time.
    assert "flip" in done.group(3).split(", ")
    assert int(done.group(1)) + int(done.group(2)) == 8
    assert 0 < float(done.group(4)) < 120
    code, body = daemon.get()
    assert code == 500 and body == {"status": "error"}  # anonymous: the status only


def test_one_line_per_change_while_it_runs(daemon):
    (daemon.workdir / "flip-fails").unlink()
    daemon.wait_line(r"^healthd: flip: failing → passing: flip is fine; heartbeat \w+",
                     timeout=30)
    # The web processes keep their copy of the results up to CACHE_SECONDS (1 s): they
    # show the change within that, not at the very moment the supervisor prints it.
    wait_for(lambda: flip_status(daemon) == "passing", timeout=5,
             message="the heartbeat shows flip passing")


def test_an_alert_appears_once_in_the_worker_log(daemon):
    first, _ = daemon.wait_line(r"^worker +\| .*check flip: unknown -> failing")
    # The task that logged it ends with this line: a second copy would have come before.
    daemon.wait_line(r"^worker +\| .*Task healthd.tasks.run_checks\[.*\] succeeded", start=first)
    assert len(daemon.find("check flip: unknown -> failing")) == 1


def test_tokens_show_details_and_extra_checks_join_the_defaults(daemon):
    # The defaults are the site's built-ins (test_cli keeps that list in step with healthd's).
    # (dockerflow's names for the built-ins that stand for its checks)
    expected = ["check_database_connected", "check_migrations_applied", "cache",
                "check_redis_connected", "celery", "email", "storage", "flip"]
    assert "checks" not in daemon.get()[1]
    for token in TOKENS:
        _, body = daemon.get(f"/__heartbeat__?watchman-token={token}")
        assert list(body["checks"]) == expected
        assert body["checks"]["flip"] in ("error", "ok")
    assert "checks" not in daemon.get("/__heartbeat__?watchman-token=tok-three-0000")[1]


def test_a_second_run_on_the_same_state_folder_refuses(daemon):
    second = healthd("run", env={**daemon.env, "PORT": str(free_port())}, cwd=daemon.workdir)
    assert second.returncode == 2
    assert "another `healthd run` (pid " in second.stderr
    assert str(daemon.state_dir) in second.stderr
    assert "started (pid" not in second.stdout
    assert redis_answers(daemon.state_dir)  # the first one's Redis is left alone
    assert flip_status(daemon) == "passing"  # and its web still reads it


def test_a_command_beside_the_run_leaves_its_redis_alone(daemon):
    created = healthd("createsuperuser", "--noinput", cwd=daemon.workdir, env={
        **daemon.env, "DJANGO_SUPERUSER_USERNAME": "admin",
        "DJANGO_SUPERUSER_EMAIL": "admin@example.com", "DJANGO_SUPERUSER_PASSWORD": "x-y-z-1"})
    assert created.returncode == 0, created.stderr
    assert redis_answers(daemon.state_dir)
    assert flip_status(daemon) == "passing"


def test_a_killed_worker_comes_back_while_the_rest_keeps_serving(daemon):
    (worker,) = daemon.pids("worker")
    web, beat = daemon.pids("web"), daemon.pids("beat")
    mark = len(daemon.lines)
    os.kill(worker, signal.SIGKILL)
    answers = []
    deadline = time.monotonic() + 60
    while True:
        answers.append(daemon.answer())  # an answer, never "connection refused"
        started = daemon.find(r"^healthd: worker started", mark)
        if started and daemon.find(r"^worker +\| .*Task healthd.tasks.run_checks\[.*\] "
                                   r"succeeded", started[0][0]):
            break  # the new worker has run the checks
        assert time.monotonic() < deadline, daemon.tail()
        time.sleep(0.1)
    assert answers and set(answers) <= {200, 500}, (answers, daemon.tail())
    assert redis_answers(daemon.state_dir)  # the embedded Redis was not taken down with it
    daemon.wait_line(rf"^healthd: worker \(pid {worker}\) died after [\d.]+ s \(killed by "
                     r"SIGKILL\); restarting it in 1 s \(restart 1\)", start=mark)
    (_, restarted), = daemon.find(r"^healthd: worker started \(pid (\d+)\) \(restart 1\)", mark)
    assert alive(int(restarted.group(1))), daemon.tail()
    assert daemon.pids("web") == web and daemon.pids("beat") == beat, daemon.tail()
    assert all(alive(pid) for pid in web + beat), daemon.tail()
    assert flip_status(daemon) == "passing"


def test_ctrl_c_stops_every_process_and_the_redis_it_started(daemon):
    children = daemon.pids("web") + daemon.pids("worker") + daemon.pids("beat")
    redis_pid = int((daemon.state_dir / "redis.pid").read_text())
    daemon.process.send_signal(signal.SIGINT)
    assert daemon.process.wait(30) == 0
    daemon.wait_line(r"^healthd: stopped \(restarts: worker 1\)")
    # Every later run found flip passing still: the change was told once.
    assert len(daemon.find("flip: failing → passing")) == 1
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in [*children, redis_pid]):
        assert time.monotonic() < deadline, [p for p in children if alive(p)]
        time.sleep(0.05)
    assert not redis_answers(daemon.state_dir)
    # A diagnostic run on the stopped daemon's folder starts the Redis and stops it again.
    checked = healthd("healthd_check", "flip", cwd=daemon.workdir, env=daemon.env)
    assert checked.returncode == 0, checked.stderr
    assert re.search(r"^flip +passing", checked.stdout, re.MULTILINE)
    assert not redis_answers(daemon.state_dir)
    assert not (daemon.state_dir / "redis.pid").exists()


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="util-linux's setpriv (Linux)")
def test_a_killed_supervisor_takes_its_processes_with_it(tmp_path):
    """SIGKILL leaves ``healthd run`` no time to stop anything: its processes learn of it
    from the parent-death signal, stop their own workers and free the port."""
    port = free_port()
    daemon = Daemon(tmp_path, port, site_env(tmp_path / "state", PORT=str(port)))
    children: list[int] = []
    try:
        daemon.wait_line(r"^healthd: beat started", timeout=60)
        wait_for(lambda: daemon.answer() in (200, 500), timeout=60,
                   message="the heartbeat to answer")
        children += daemon.pids("web") + daemon.pids("worker") + daemon.pids("beat")
        assert len(children) == 3
        daemon.process.kill()
        daemon.process.wait(10)
        wait_for(lambda: not any(alive(pid) for pid in children), timeout=30,
                   message="web, worker and beat to stop without their supervisor")
        assert isinstance(daemon.answer(), str)  # nothing listens on the port any more
        with socket.socket() as sock:
            # Free to take again, as a new gunicorn takes it (SO_REUSEADDR passes the
            # closed connections' TIME_WAIT, not a socket still listening).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
    finally:
        daemon.stop()
        for pid in children:  # should this fail, what outlived the supervisor
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        # The embedded Redis is the killed supervisor's: the next run would adopt it.
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
            os.kill(int((tmp_path / "state" / "redis.pid").read_text()), signal.SIGTERM)

