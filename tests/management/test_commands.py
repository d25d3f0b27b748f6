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
from healthd.compat.status import stats as stats_store
from healthd.models import CheckResult
from healthd.tasks.stats import gather_stats

ROOT = Path(__file__).resolve().parent.parent.parent


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
    custom_checks({"check": "tests.management.test_commands.passes", "name": "web"},
                  {"check": "tests.management.test_commands.warns", "name": "disk"})
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
    custom_checks({"check": "tests.management.test_commands.passes", "name": "web"},
                  {"check": "tests.management.test_commands.explodes", "name": "db"})
    code, out, error = run("healthd_check")
    assert code == 1
    assert "db" in error
    assert "RuntimeError" in out and "hunter22" not in out


@pytest.mark.django_db
def test_a_failing_check_that_is_not_critical_does_not_fail_the_command(custom_checks):
    custom_checks({"check": "tests.management.test_commands.passes", "name": "web"},
                  {"check": "tests.management.test_commands.fails", "name": "nice",
                   "critical": False})
    code, out, _ = run("healthd_check")
    assert code == 0
    assert "failing (not critical)" in out


@pytest.mark.django_db
def test_healthd_check_json_and_a_subset(custom_checks):
    custom_checks({"check": "tests.management.test_commands.passes", "name": "web"},
                  {"check": "tests.management.test_commands.fails", "name": "db"})
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
    custom_checks({"check": "tests.management.test_commands.passes", "name": "web"})
    with pytest.raises(CommandError, match="unknown check"):
        call_command("healthd_check", "nope", stdout=StringIO())


# --- status -----------------------------------------------------------------------------


def _store(**statuses: Status) -> None:
    now = time.time()
    results = [Result(name, status, f"{name} is {status}", now, 0.002)
               for name, status in statuses.items()]
    store.record(results, list(registry.configured_checks()))


def test_status_health_prints_django_status_shape_and_named_checks(custom_checks):
    custom_checks({"check": "tests.management.test_commands.passes", "name": "web"},
                  {"check": "tests.management.test_commands.passes", "name": "db"})
    _store(web=Status.PASSING, db=Status.PASSING)
    code, out, _ = run("status", "health")
    assert code == 0
    # django-status's shape: {provider: value}; no database or cache check, so ping only.
    assert json.loads(out) == {"ping": {"pong": True}}
    code, out, _ = run("status", "health", "web", "db")
    assert code == 0
    data = json.loads(out)
    assert data["web"]["ok"] is True and data["web"]["status"] == "passing"
    assert data["web"]["message"] == "web is passing"
    assert data["db"]["age"] < 60
    code, out, _ = run("status", "health", "-e")
    assert code == 0


def test_status_health_e_exits_1_when_a_check_fails(custom_checks):
    custom_checks({"check": "tests.management.test_commands.passes", "name": "web"},
                  {"check": "tests.management.test_commands.passes", "name": "db"})
    _store(web=Status.PASSING, db=Status.FAILING)
    code, out, error = run("status", "health", "db")
    assert code == 0  # without -e the command only reports
    assert json.loads(out)["db"]["status"] == "failing"
    code, out, error = run("status", "health", "-e")
    assert code == 1
    assert "db" in error and "web" not in error


def test_status_health_e_fails_for_a_check_that_never_ran(custom_checks):
    custom_checks({"check": "tests.management.test_commands.passes", "name": "web"},
                  {"check": "tests.management.test_commands.passes", "name": "db"})
    _store(web=Status.PASSING)
    code, out, _ = run("status", "health", "-e")
    assert code == 1
    code, out, _ = run("status", "health", "db")
    assert json.loads(out)["db"]["status"] == "unknown"
    code, out, _ = run("status", "health", "web", "-e")  # only the named check
    assert code == 0
    assert list(json.loads(out)) == ["web"]


def test_status_health_e_ignores_a_failing_check_that_is_not_critical(custom_checks):
    custom_checks({"check": "tests.management.test_commands.passes", "name": "web"},
                  {"check": "tests.management.test_commands.passes", "name": "extra",
                   "critical": False})
    _store(web=Status.PASSING, extra=Status.FAILING)
    assert run("status", "health", "-e")[0] == 0
    code, out, _ = run("status", "health", "extra", "-e")
    assert code == 0
    assert json.loads(out)["extra"]["ok"] is False


def test_status_health_yaml(custom_checks):
    custom_checks({"check": "tests.management.test_commands.passes", "name": "web"})
    _store(web=Status.WARNING)
    code, out, _ = run("status", "health", "web", "-f", "yaml", "-e")
    assert code == 0  # a warning is not a failure
    data = yaml.safe_load(out)
    assert data["web"]["status"] == "warning" and data["web"]["ok"] is True
    code, out, _ = run("status", "health", "--output_format", "yaml", "--error_on_fail")
    assert code == 0  # django-status's long option names
    assert yaml.safe_load(out) == {"ping": {"pong": True}}


def test_status_health_with_the_store_down(custom_checks, settings):
    custom_checks("database", {"check": "tests.management.test_commands.passes", "name": "web"})
    settings.HEALTHD = {**settings.HEALTHD, "REDIS_URL": "redis://127.0.0.1:1/0"}
    code, out, error = run("status", "health", "-e")
    assert code == 1
    assert json.loads(out) == {"ping": {"pong": True}, "databases": {"default": False}}
    assert "unavailable" in error
    code, out, error = run("status", "health")  # without -e: reported, not failed
    assert code == 0 and "unavailable" in error


def test_status_stats_prints_a_dict_even_without_stats(custom_checks):
    code, out, error = run("status", "stats")
    assert code == 0
    data = json.loads(out)
    assert set(data) >= {"databases", "code"} and data["databases"] is None
    assert "not gathered yet" in error
    code, out, _ = run("status", "stats", "-f", "yaml")
    assert code == 0
    assert isinstance(yaml.safe_load(out) or {}, dict)


@pytest.mark.django_db
def test_status_stats_names_print_those_providers(custom_checks):
    custom_checks("database")
    gather_stats()
    stats_store.forget()
    code, out, _ = run("status", "stats", "databases")
    assert code == 0
    data = json.loads(out)
    assert list(data) == ["databases"]
    assert data["databases"]["default"]["is_usable"] is True


def test_status_refuses_an_unknown_resource_with_status_2():
    with pytest.raises(CommandError) as refused:
        call_command("status", "bogus", stdout=StringIO())
    assert refused.value.returncode == 2
    assert "bogus" in str(refused.value) and "health" in str(refused.value)


def test_status_refuses_an_unknown_name_with_status_2(custom_checks):
    custom_checks("database", "cache")
    _store(database=Status.PASSING, cache=Status.PASSING)
    code, out, error = run("status", "health", "databse", "-e")
    assert code == 2
    assert out == ""
    assert "databse" in error and "databases" in error and "database" in error
    code, out, error = run("status", "stats", "databases", "cod")
    assert code == 2
    assert "cod" in error and "code" in error


# --- watchman ---------------------------------------------------------------------------


def watchman_check(request):
    """A site's WATCHMAN_CHECKS entry; it returns watchman's shape."""
    return {"payments": {"ok": True, "stacktrace": "never shown"}}


def test_watchman_reports_watchmans_set_only(settings):
    _store(**dict.fromkeys([c.name for c in registry.configured_checks()], Status.PASSING))
    code, out, _ = run("watchman", "-v", "2")
    assert code == 0
    shown = [next(iter(json.loads(line))) for line in out.splitlines()]
    assert sorted(shown) == ["caches", "databases", "storage"]  # watchman's defaults
    settings.WATCHMAN_ENABLE_PAID_CHECKS = True
    code, out, _ = run("watchman", "-v", "2")
    assert "email" in out


@pytest.mark.django_db
def test_watchman_shows_a_custom_check_as_it_returned(settings):
    settings.WATCHMAN_CHECKS = ["watchman.checks.databases",
                                "tests.management.test_commands.watchman_check"]
    from healthd.tasks.run import run_and_record

    run_and_record(["database", "watchman_check"])
    code, out, _ = run("watchman", "-v", "2")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert {"payments": {"ok": True}} in lines  # never a stack trace
    assert {"databases": [{"default": {"ok": True}}]} in lines


def test_watchman_refuses_unknown_names_and_empty_selections():
    _store(**dict.fromkeys([c.name for c in registry.configured_checks()], Status.PASSING))
    code, _, error = run("watchman", "-c", "watchman.checks.cahces")
    assert code == 2 and "watchman.checks.cahces" in error
    code, _, error = run("watchman", "-c", "watchman.checks.email")  # not in the set
    assert code == 2 and "no check selected" in error
    code, _, _ = run("watchman", "-s", "watchman.checks.email")  # skipping it is fine
    assert code == 0


def test_watchman_stale_is_not_ok_and_non_critical_does_not_fail(custom_checks):
    custom_checks("database", {"check": "cache", "critical": False}, "storage")
    now = time.time()
    store.record([Result("database", Status.PASSING, "ok", now - 500, 0.01),
                  Result("cache", Status.FAILING, "down", now, 0.01),
                  Result("storage", Status.PASSING, "ok", now, 0.01)],
                 list(registry.configured_checks()))
    code, out, error = run("watchman", "-v", "2")
    assert code == 1
    failing = json.loads(error)
    assert failing["databases"][0]["default"]["ok"] is False
    assert "stale" in failing["databases"][0]["default"]["error"]
    assert "caches" not in failing and '"caches"' in out  # printed, not failing
    code, out, _ = run("watchman", "-s", "watchman.checks.databases")
    assert code == 0 and out == ""


def test_watchman_databases_narrows_the_aliases(settings):
    settings.WATCHMAN_DATABASES = ["default"]
    _store(**dict.fromkeys([c.name for c in registry.configured_checks()], Status.PASSING))
    store.record([Result("database", Status.FAILING, "replica: down", time.time(), 0.01,
                         details={"default": {"ok": True},
                                  "replica": {"ok": False, "error": "down"}})],
                 list(registry.configured_checks()))
    code, out, _ = run("watchman", "-c", "watchman.checks.databases", "-v", "2")
    assert code == 0
    assert json.loads(out) == {"databases": [{"default": {"ok": True}}]}


# --- the healthd console script forwards to the commands ---------------------------------


def _healthd(*args: str) -> subprocess.CompletedProcess:
    from django.conf import settings

    script = Path(sys.executable).parent / "healthd"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "healthd"]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.site.settings",
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
    # django-status's set: celery only with STATUS_CELERY_WORKERS, which the tests leave unset.
    assert set(json.loads(passing.stdout)) == {"ping", "databases", "caches"}
    every = _healthd("status", "health", *names)
    assert set(json.loads(every.stdout)) == set(names)
    _store(database=Status.FAILING)
    failing = _healthd("status", "health", "-e")
    assert failing.returncode == 1
    assert json.loads(failing.stdout)["databases"] == {"default": False}
    assert "database" in failing.stderr
    typo = _healthd("status", "health", "databse", "-e")
    assert typo.returncode == 2 and "databse" in typo.stderr
