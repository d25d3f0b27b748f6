"""The operators' commands: healthd_check runs checks now (and records them with
--record); status reads cached state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from healthd import store
from healthd.checks import registry
from healthd.checks.base import CheckWarning, Result, Status
from healthd.models import CheckResult

ROOT = Path(__file__).resolve().parent.parent


def passes() -> str:
    return "all good"


def fails() -> bool:
    return False


def warns() -> None:
    raise CheckWarning("running low")


def explodes() -> None:
    raise RuntimeError("cannot reach postgres://app:hunter22@db.example/app")


@pytest.fixture
def custom_checks(settings):
    def configure(*entries):
        settings.HEALTHD = {**settings.HEALTHD, "CHECKS": list(entries)}

    return configure


def run(*args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), str(exc)
    return 0, out.getvalue(), err.getvalue()


# --- healthd_check ----------------------------------------------------------------------


@pytest.mark.django_db
def test_healthd_check_runs_records_and_prints_a_table(custom_checks, redis_conn):
    custom_checks({"check": "tests.test_commands.passes", "name": "web"},
                  {"check": "tests.test_commands.warns", "name": "disk"})
    code, out, _ = run("healthd_check", "--record")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].split() == ["name", "status", "duration", "ms", "message"]
    assert lines[1].split()[:2] == ["web", "passing"] and lines[1].endswith("all good")
    assert lines[2].split()[:2] == ["disk", "warning"] and lines[2].endswith("running low")
    float(lines[1].split()[2])  # the duration in ms
    assert set(CheckResult.objects.values_list("name", "status")) == {
        ("web", "passing"), ("disk", "warning")}
    assert set(redis_conn.hkeys(store.keys().latest)) == {"web", "disk"}


@pytest.mark.django_db
def test_healthd_check_exits_1_when_a_critical_check_fails(custom_checks):
    custom_checks({"check": "tests.test_commands.passes", "name": "web"},
                  {"check": "tests.test_commands.explodes", "name": "db"})
    code, out, error = run("healthd_check")
    assert code == 1
    assert "db" in error
    assert "RuntimeError" in out and "hunter22" not in out


@pytest.mark.django_db
def test_a_failing_check_that_is_not_critical_does_not_fail_the_command(custom_checks):
    custom_checks({"check": "tests.test_commands.passes", "name": "web"},
                  {"check": "tests.test_commands.fails", "name": "nice", "critical": False})
    code, out, _ = run("healthd_check")
    assert code == 0
    assert "failing (not critical)" in out


@pytest.mark.django_db
def test_healthd_check_json_and_a_subset(custom_checks):
    custom_checks({"check": "tests.test_commands.passes", "name": "web"},
                  {"check": "tests.test_commands.fails", "name": "db"})
    code, out, _ = run("healthd_check", "web", "--format", "json", "--record")
    assert code == 0
    data = json.loads(out)
    assert data["recorded"] is True
    assert data["stored"] is True and data["saved"] is True
    (only,) = data["checks"]
    assert only["name"] == "web" and only["status"] == "passing"
    assert only["duration_ms"] >= 0 and only["message"] == "all good"
    code, out, _ = run("healthd_check", "db", "-f", "json")
    assert code == 1
    assert json.loads(out)["checks"][0]["status"] == "failing"


def test_healthd_check_refuses_an_unknown_check(custom_checks):
    custom_checks({"check": "tests.test_commands.passes", "name": "web"})
    with pytest.raises(CommandError, match="unknown check"):
        call_command("healthd_check", "nope", stdout=StringIO())


# --- status -----------------------------------------------------------------------------


def _store(**statuses: Status) -> None:
    now = time.time()
    results = [Result(name, status, f"{name} is {status}", now, 0.002)
               for name, status in statuses.items()]
    store.record(results, list(registry.configured_checks()))


def test_status_health_prints_the_cached_state(custom_checks):
    custom_checks({"check": "tests.test_commands.passes", "name": "web"},
                  {"check": "tests.test_commands.passes", "name": "db"})
    _store(web=Status.PASSING, db=Status.PASSING)
    code, out, _ = run("status", "health")
    assert code == 0
    data = json.loads(out)
    assert data["status"] == "passing"
    assert data["checks"]["web"]["status"] == "passing"
    assert data["checks"]["web"]["message"] == "web is passing"
    assert data["checks"]["db"]["age"] < 60
    code, out, _ = run("status", "health", "-e")
    assert code == 0


def test_status_health_e_exits_1_when_a_check_fails(custom_checks):
    custom_checks({"check": "tests.test_commands.passes", "name": "web"},
                  {"check": "tests.test_commands.passes", "name": "db"})
    _store(web=Status.PASSING, db=Status.FAILING)
    code, out, error = run("status", "health")
    assert code == 0  # without -e the command only reports
    assert json.loads(out)["checks"]["db"]["status"] == "failing"
    code, out, error = run("status", "health", "-e")
    assert code == 1
    assert "db" in error and "web" not in error


def test_status_health_e_fails_for_a_check_that_never_ran(custom_checks):
    custom_checks({"check": "tests.test_commands.passes", "name": "web"},
                  {"check": "tests.test_commands.passes", "name": "db"})
    _store(web=Status.PASSING)
    code, out, _ = run("status", "health", "-e")
    assert code == 1
    assert json.loads(out)["checks"]["db"]["status"] == "unknown"
    code, out, _ = run("status", "health", "web", "-e")  # only the named check
    assert code == 0
    assert list(json.loads(out)["checks"]) == ["web"]


def test_status_health_yaml(custom_checks):
    custom_checks({"check": "tests.test_commands.passes", "name": "web"})
    _store(web=Status.WARNING)
    code, out, _ = run("status", "health", "-f", "yaml", "-e")
    assert code == 0  # a warning is not a failure
    data = yaml.safe_load(out)
    assert data["status"] == "warning"
    assert data["checks"]["web"]["status"] == "warning"


def test_status_health_with_the_store_down(custom_checks, settings):
    custom_checks({"check": "tests.test_commands.passes", "name": "web"})
    settings.HEALTHD = {**settings.HEALTHD, "REDIS_URL": "redis://127.0.0.1:1/0"}
    code, out, _ = run("status", "health", "-e")
    assert code == 1
    data = json.loads(out)
    assert data["status"] == "failing"
    assert "unavailable" in data["error"]


def test_status_stats_prints_a_dict_even_without_stats(custom_checks):
    code, out, _ = run("status", "stats")
    assert code == 0
    assert isinstance(json.loads(out), dict)
    code, out, _ = run("status", "stats", "-f", "yaml")
    assert code == 0
    assert isinstance(yaml.safe_load(out) or {}, dict)


def test_status_refuses_an_unknown_resource():
    with pytest.raises(CommandError):
        call_command("status", "bogus", stdout=StringIO())


# --- the healthd console script forwards to the commands ---------------------------------


def _healthd(*args: str) -> subprocess.CompletedProcess:
    from django.conf import settings

    script = Path(sys.executable).parent / "healthd"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "healthd"]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
           "HEALTHD_TEST_RUN_ID": settings.RUN_ID,
           "HEALTHD_TEST_STATE_DIR": str(settings.STATE_DIR),
           "PYTHONPATH": str(ROOT)}
    return subprocess.run([*command, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_the_healthd_script_runs_status_health_e():
    names = [check.name for check in registry.configured_checks()]
    _store(**dict.fromkeys(names, Status.PASSING))
    passing = _healthd("status", "health", "-e")
    assert passing.returncode == 0, passing.stderr
    assert set(json.loads(passing.stdout)["checks"]) == set(names)
    _store(database=Status.FAILING)
    failing = _healthd("status", "health", "-e")
    assert failing.returncode == 1
    assert json.loads(failing.stdout)["checks"]["database"]["status"] == "failing"
    assert "database" in failing.stderr
