"""``healthd run``'s parts one by one (supervisor, progress, port and state-folder checks),
the standalone site's environment, who stops the embedded Redis, and healthd_check."""

from __future__ import annotations

import io
import json
import os
import re
import runpy
import shlex
import signal
import socket
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from healthd import store
from healthd.checks import registry
from healthd.checks.base import Check, Status
from healthd.daemon import cli, progress
from healthd.daemon.supervisor import Supervisor, describe_exit
from healthd.models import CheckResult
from healthd.store import health as state
from tests.daemon.test_cli_run import redis_answers, site_env
from tests.support.processes import ROOT
from tests.support.waiting import wait_for

# --- the supervisor ----------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _supervisor(programs: dict[str, list[str]]) -> tuple[Supervisor, list[str], io.BytesIO,
                                                         FakeClock]:
    said: list[str] = []
    out = io.BytesIO()
    clock = FakeClock()
    return Supervisor(programs, dict(os.environ), said.append, out, clock=clock), said, out, clock


def test_a_dead_process_is_restarted_with_a_growing_delay_and_the_others_keep_running():
    supervisor, said, _, clock = _supervisor({
        "short": [sys.executable, "-c", "import sys; sys.exit(3)"],
        "long": [sys.executable, "-c", "import time; time.sleep(60)"],
    })
    supervisor.start()
    try:
        long_process = supervisor.children["long"].process
        for restart, delay in ((1, 1), (2, 2), (3, 4)):
            supervisor.children["short"].process.wait(10)
            supervisor.check()
            assert said[-1].startswith("short (pid ")
            assert f"(exit status 3); restarting it in {delay} s (restart {restart})" in said[-1]
            clock.now += delay - 0.01
            supervisor.check()
            assert "restart" in said[-1] and "started" not in said[-1]  # not yet
            clock.now += 0.01
            supervisor.check()
            assert re.fullmatch(rf"short started \(pid \d+\) \(restart {restart}\)", said[-1])
        assert supervisor.children["long"].process is long_process
        assert long_process.poll() is None
        assert supervisor.restart_counts() == {"short": 3, "long": 0}
        # A process that ran for a while before it died starts again after the first delay.
        supervisor.children["short"].process.wait(10)
        clock.now += 60
        supervisor.check()
        assert "restarting it in 1 s (restart 4)" in said[-1]
    finally:
        supervisor.stop(timeout=10)
    assert long_process.returncode == -signal.SIGTERM


def test_stop_leaves_nothing_of_a_process_group_behind():
    supervisor, _, out, _ = _supervisor({
        "shell": ["sh", "-c", "sleep 60 & echo left=$!; wait"],
    })
    supervisor.start()
    match = wait_for(lambda: re.search(rb"shell \| left=(\d+)\n", out.getvalue()), timeout=10,
                     message="the shell to start its child")
    left_behind = int(match.group(1))
    supervisor.stop(timeout=10)
    wait_for(lambda: not _alive(left_behind), timeout=10, message="the group to be killed")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie nobody reaped yet counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_exits_are_described_as_a_user_reads_them():
    assert describe_exit(1) == "exit status 1"
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(-15) == "killed by SIGTERM"


# --- progress ----------------------------------------------------------------------------


def _health(**records: tuple[Status, float] | None) -> state.Health:
    checks = [Check(name=name, func=lambda: None, interval=30, stale_after=90)
              for name in records]
    states = [
        state.CheckState(check, status if record else Status.UNKNOWN, f"{check.name} said so",
                         0.0, store.decode(check.name, json.dumps(
                             {"checked_at": at, "status": str(status)})) if record else None)
        for check, record in zip(checks, records.values(), strict=True)
        for status, at in [record or (Status.UNKNOWN, 0.0)]
    ]
    return state.Health(state.overall(states), states)


def test_progress_counts_fresh_results_then_tells_each_change():
    started = time.time()
    said: list[str] = []
    reads = iter([
        _health(db=(Status.PASSING, started - 100), cache=None),  # an old result
        _health(db=(Status.PASSING, started + 1), cache=None),
        _health(db=(Status.PASSING, started + 1), cache=None),  # nothing new to say
        _health(db=(Status.PASSING, started + 1), cache=(Status.FAILING, started + 2)),
        _health(db=(Status.PASSING, started + 5), cache=(Status.FAILING, started + 5)),
        _health(db=(Status.PASSING, started + 9), cache=(Status.PASSING, started + 9)),
    ])
    watch = progress.Progress(said.append, started, read=lambda: next(reads))
    for _ in range(6):
        watch.poll()
    assert said[0].startswith("waiting for the first run… 0/2 checks in")
    assert "(waiting for the worker to run them)" in said[0]
    assert said[1].startswith("waiting for the first run… 1/2 checks in")
    assert "(waiting for the rest)" in said[1]
    assert re.fullmatch(r"first run done: 2/2 checks in, 1 passing, 1 failing \(cache\), "
                        r"[\d.]+ s; heartbeat failing\. From now on, one line per change\.",
                        said[2])
    assert said[3:] == ["cache: failing → passing: cache said so; heartbeat passing"]


def test_progress_tells_when_the_store_goes_away_and_comes_back():
    said: list[str] = []
    down = state.Health(Status.FAILING, [], error="result store unavailable: ConnectionError")
    up = state.Health(Status.PASSING, [])
    reads = iter([up, down, down, up])
    watch = progress.Progress(said.append, read=lambda: next(reads))
    watch.first_run_done = True
    for _ in range(4):
        watch.poll()
    assert said == ["result store unavailable: ConnectionError; heartbeat failing",
                    "the result store answers again; heartbeat passing"]


# --- what healthd run checks before it starts anything -------------------------------------


def test_a_taken_port_is_named_with_a_way_out():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        problem = cli.port_problem("127.0.0.1", port)
    assert problem is not None
    assert problem.startswith(f"port {port} on 127.0.0.1 is already taken by another program")
    suggested = int(re.search(r"`PORT=(\d+) healthd run`", problem).group(1))
    assert cli.port_problem("127.0.0.1", suggested) is None


def test_healthd_run_stops_at_a_taken_port_before_starting_anything(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "healthd", "run"], cwd=tmp_path,
                                env=site_env(tmp_path / "state", PORT=str(port)),
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"healthd: port {port} on 127.0.0.1 is already taken" in result.stderr
    assert "PORT=" in result.stderr
    assert "started (pid" not in result.stdout and "heartbeat at" not in result.stdout
    assert not redis_answers(tmp_path / "state")  # the Redis it started is stopped again


def test_one_run_per_state_folder(tmp_path):
    first, _ = cli.take_run_lock(tmp_path)
    assert first is not None
    first.write(", heartbeat at http://127.0.0.1:1234/__heartbeat__")
    first.flush()
    second, holder = cli.take_run_lock(tmp_path)
    assert second is None
    assert holder == f"pid {os.getpid()}, heartbeat at http://127.0.0.1:1234/__heartbeat__"
    first.close()
    third, _ = cli.take_run_lock(tmp_path)
    assert third is not None
    third.close()


# --- the standalone site's environment -----------------------------------------------------


def _site_settings(monkeypatch, tmp_path, **env: str) -> dict:
    for name in ("HEALTHD_TOKENS", "HEALTHD_EXTRA_CHECKS", "STATUS_CELERY_WORKERS",
                 "EMAIL_BACKEND", "CELERY_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HEALTHD_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/9")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_module("healthd.site.settings", run_name="standalone_site")


def test_healthd_tokens_unlock_details_in_the_standalone_site(monkeypatch, tmp_path):
    assert _site_settings(monkeypatch, tmp_path)["HEALTHD"]["TOKENS"] == []
    site = _site_settings(monkeypatch, tmp_path, HEALTHD_TOKENS="first-token, second-token")
    assert site["HEALTHD"]["TOKENS"] == ["first-token", "second-token"]


@pytest.mark.parametrize("email_backend", [
    "django.core.mail.backends.locmem.EmailBackend", "django.core.mail.backends.dummy.EmailBackend",
])
def test_extra_checks_are_added_to_the_defaults(monkeypatch, tmp_path, email_backend):
    plain = _site_settings(monkeypatch, tmp_path, EMAIL_BACKEND=email_backend)
    assert "CHECKS" not in plain["HEALTHD"]  # healthd's own defaults
    with override_settings(**{k: plain[k] for k in (
            "CACHES", "CELERY_BROKER_URL", "EMAIL_BACKEND", "HEALTHD", "STATUS_CELERY_WORKERS")}):
        defaults = registry.default_names()
    site = _site_settings(monkeypatch, tmp_path, EMAIL_BACKEND=email_backend,
                          HEALTHD_EXTRA_CHECKS=("tests.site.sitechecks.flip,"
                                                "tests.management.test_commands.passes"))
    assert site["HEALTHD"]["CHECKS"] == [*defaults, "tests.site.sitechecks.flip",
                                         "tests.management.test_commands.passes"]


def test_the_standalone_site_names_its_workers_and_logs_each_line_once(monkeypatch, tmp_path):
    site = _site_settings(monkeypatch, tmp_path, STATUS_CELERY_WORKERS="healthd@box")
    assert site["STATUS_CELERY_WORKERS"] == ["healthd@box"]
    for logger in site["LOGGING"]["loggers"].values():
        assert logger["propagate"] is False  # a Celery worker's root handler would repeat it


def test_the_standalone_site_replaces_a_pool_process_after_a_thousand_tasks(monkeypatch,
                                                                             tmp_path):
    """What a long-lived pool process keeps per run outside healthd's reach is bounded by
    the tasks it runs, not by its uptime (README: the soak); 0 turns it off."""
    monkeypatch.delenv("CELERY_WORKER_MAX_TASKS_PER_CHILD", raising=False)
    assert _site_settings(monkeypatch, tmp_path)["CELERY_WORKER_MAX_TASKS_PER_CHILD"] == 1000
    site = _site_settings(monkeypatch, tmp_path, CELERY_WORKER_MAX_TASKS_PER_CHILD="250")
    assert site["CELERY_WORKER_MAX_TASKS_PER_CHILD"] == 250
    site = _site_settings(monkeypatch, tmp_path, CELERY_WORKER_MAX_TASKS_PER_CHILD="0")
    assert site["CELERY_WORKER_MAX_TASKS_PER_CHILD"] is None


# --- who stops the embedded Redis (the daemon's own tests show that a command beside a
# --- run leaves its Redis alone, and that the run and healthd_check stop theirs) ------------


def _python(code: str, state_dir: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", f"import os, sys\nfrom healthd.daemon import embedded\n{code}",
         str(state_dir)], cwd=ROOT, env=site_env(state_dir), text=True, **kwargs)


def test_a_redis_whose_owner_died_is_adopted_and_stopped(tmp_path):
    # os._exit skips the exit handlers: as if the owner were killed.
    assert _python("embedded.ensure_redis(sys.argv[1]); os._exit(0)", tmp_path).wait(30) == 0
    assert redis_answers(tmp_path)
    assert _python("embedded.ensure_redis(sys.argv[1])", tmp_path).wait(30) == 0
    assert not redis_answers(tmp_path)


def test_a_test_session_stops_the_embedded_redis_it_started(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE", "HEALTHD_TEST_RUN_ID")}
    env["HEALTHD_TEST_STATE_DIR"] = str(tmp_path)
    session = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/daemon/test_cli.py::test_exits_are_described_as_a_user_reads_them"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert session.returncode == 0, session.stdout + session.stderr
    assert (tmp_path / "redis.rdb").exists()  # it did start one
    assert not redis_answers(tmp_path)


# --- healthd_check is a diagnostic ----------------------------------------------------------


@pytest.mark.django_db
def test_healthd_check_only_prints_unless_told_to_record(settings, redis_conn):
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": [
        {"check": "tests.management.test_commands.passes", "name": "web"},
        {"check": "tests.management.test_commands.fails", "name": "db"}]}
    out = StringIO()
    with pytest.raises(CommandError, match="critical check"):
        call_command("healthd_check", stdout=out)
    assert re.search(r"^db +failing", out.getvalue(), re.MULTILINE)
    assert redis_conn.hlen(store.keys().latest) == 0
    assert CheckResult.objects.count() == 0
    out = StringIO()
    call_command("healthd_check", "web", "--format", "json", stdout=out)
    assert json.loads(out.getvalue())["recorded"] is False
    assert redis_conn.hlen(store.keys().latest) == 0
    assert CheckResult.objects.count() == 0


# --- the two commands in the README ---------------------------------------------------------


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", section, re.DOTALL)


def test_ci_runs_the_readme_test_command_and_running_installs_no_test_tools():
    run_command, test_command = _readme_commands()[:2]
    assert "healthd run" in run_command and "[dev]" not in run_command
    assert "pytest" in test_command and '".[dev]"' in test_command
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci_lines
    shlex.split(test_command)  # one shell line, quoted properly
