"""healthz, livez, readyz and metrics: the orchestrators' probes, from cached state only."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from healthd.checks.base import Status
from healthd.local import draining
from healthd.store import health as state
from healthd.tasks.run import run_and_record
from tests.support.endpoints import client as served_both_ways
from tests.support.results import CommandCounter
from tests.support.results import only as _only
from tests.support.results import store_down as _store_down
from tests.support.results import write_all as _write_all
from tests.support.results import write_result as _write

pytestmark = pytest.mark.django_db

# Every test here runs twice: served by Django's WSGI handler and by its ASGI handler.
client = served_both_ways



@pytest.fixture(autouse=True)
def no_remembered_counters():
    state.forget()
    yield
    state.forget()


def _samples(response) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} from a Prometheus text answer."""
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


# --- healthz -------------------------------------------------------------------------------


def test_healthz_follows_the_draft_from_a_real_run(client, settings, django_assert_num_queries):
    settings.DEBUG = True
    _only(settings, "database", "cache", "storage", "email")
    run_and_record()
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/health+json"
    body = response.json()
    assert body["status"] == "pass"
    assert set(body["checks"]) == {"database:responseTime", "cache:responseTime",
                                   "storage:responseTime", "email"}
    (database,) = body["checks"]["database:responseTime"]
    assert database["componentId"] == "default" and database["status"] == "pass"
    assert database["observedUnit"] == "ms" and database["observedValue"] >= 0
    assert datetime.fromisoformat(database["time"]).timestamp() > time.time() - 60
    assert "output" not in database
    assert [c["componentId"] for c in body["checks"]["cache:responseTime"]] == [
        "default", "redis"]
    assert body["checks"]["email"][0]["componentId"] == "email"


def test_healthz_shows_status_only_to_anonymous_callers(client, settings,
                                                       django_assert_num_queries):
    settings.WATCHMAN_TOKEN = "probe-token-1"
    _write_all()
    with django_assert_num_queries(0):
        anonymous = client.get("/healthz/")
    assert anonymous.json() == {"status": "pass", "description": "healthd"}
    assert "checks" in client.get("/healthz?watchman-token=probe-token-1").json()
    assert "checks" not in client.get("/healthz?watchman-token=probe-token-X").json()


def test_healthz_warn_is_200_and_fail_is_503(client, settings):
    settings.HEALTHD = {**settings.HEALTHD, "PUBLIC_DETAILS": True}
    _write_all(but="migrations")
    _write("migrations", Status.WARNING, message="2 unapplied migration(s)", value=2,
           unit="migrations")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "warn"
    (migrations,) = response.json()["checks"]["migrations:unapplied"]
    assert migrations["status"] == "warn" and migrations["observedValue"] == 2
    assert migrations["output"] == "2 unapplied migration(s)"
    _write("redis", Status.FAILING, message="store: ConnectionError: refused")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "fail"
    assert response.json()["checks"]["redis:responseTime"][0]["output"] == (
        "store: ConnectionError: refused")


def test_healthz_a_stale_result_fails(client, settings, django_assert_num_queries):
    settings.DEBUG = True
    _write_all(but="storage")
    _write("storage", Status.PASSING, age=105, value=3.0, unit="ms")
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 503
    (storage,) = response.json()["checks"]["storage:responseTime"]
    assert storage["status"] == "fail" and "105 s old" in storage["output"]


def test_healthz_store_down_is_a_fast_503_naming_the_cause(client, settings):
    _store_down(settings)
    started = time.monotonic()
    responses = [client.get("/healthz") for _ in range(20)]
    assert time.monotonic() - started < 1.5
    assert {r.status_code for r in responses} == {503}
    assert responses[0].json() == {"status": "fail", "description": "healthd",
                                   "output": "result store unavailable: ConnectionError"}


def test_healthz_reads_redis_at_most_once_per_freshness_period(client, settings, monkeypatch):
    # A period no loaded machine outlasts: the requests fall within one.
    settings.HEALTHD = {**settings.HEALTHD, "CACHE_SECONDS": 30}
    _write_all()
    counter = CommandCounter(monkeypatch)
    for _ in range(30):
        assert client.get("/healthz").status_code == 200
    assert counter.count == 1


# --- livez ---------------------------------------------------------------------------------


def test_livez_touches_neither_redis_nor_the_database(client, settings, monkeypatch,
                                                      django_assert_num_queries):
    counter = CommandCounter(monkeypatch)
    with django_assert_num_queries(0):
        response = client.get("/livez")
        verbose = client.get("/livez?verbose")
    assert response.status_code == 200 and response.content == b"ok"
    assert verbose.content.decode().splitlines() == ["[+]ping ok", "livez check passed"]
    assert counter.count == 0
    _store_down(settings)
    assert client.get("/livez").status_code == 200


# --- readyz --------------------------------------------------------------------------------


def test_readyz_is_ok_when_the_local_checks_pass(client, django_assert_num_queries):
    _write_all()
    with django_assert_num_queries(0):  # the local checks run on threads of their own
        response = client.get("/readyz")
    assert response.status_code == 200 and response.content == b"ok"
    lines = client.get("/readyz?verbose").content.decode().splitlines()
    assert lines == ["[+]local:connection ok", "[+]local:disk ok", "[+]local:memory ok",
                     "readyz check passed"]


def test_a_failing_critical_scheduled_check_leaves_readyz_ready(client):
    """Every process would fail together: the pool would empty. The heartbeat, healthz
    and the metrics still say it."""
    _write_all(but="database")
    _write("database", Status.FAILING, message="connection refused")
    assert client.get("/readyz").status_code == 200
    assert client.get("/__heartbeat__").status_code == 500
    assert client.get("/healthz").status_code == 503
    assert "[+]local:connection ok" in client.get("/readyz?verbose").content.decode()


def test_a_scheduled_check_that_opts_in_counts_for_readyz(client, settings):
    _only(settings, {"check": "database", "readiness": True},
          {"check": "storage", "critical": False, "readiness": True}, "redis")
    _write("database", Status.PASSING)
    _write("storage", Status.WARNING)
    _write("redis", Status.FAILING)  # critical, not opted in
    lines = client.get("/readyz?verbose").content.decode().splitlines()
    assert lines[-3:] == ["[+]database ok", "[+]storage ok", "readyz check passed"]
    _write("storage", Status.FAILING, message="disk full")  # opted in, not critical
    state.forget()
    response = client.get("/readyz")
    assert response.status_code == 503
    lines = response.content.decode().splitlines()
    assert "[-]storage failed: reason withheld" in lines and lines[-1] == "readyz check failed"
    settings.DEBUG = True
    assert "[-]storage failed: disk full" in client.get("/readyz?verbose").content.decode()


def test_a_failing_local_check_makes_readyz_fail_and_says_which(client, settings):
    _write_all()
    settings.HEALTHD = {**settings.HEALTHD, "LOCAL_CHECKS": [
        "connection", {"check": "disk", "min_free_mb": 10**12}]}
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.content.decode().splitlines() == [
        "[+]local:connection ok", "[-]local:disk failed: reason withheld", "readyz check failed"]
    settings.DEBUG = True
    (line,) = [x for x in client.get("/readyz?verbose").content.decode().splitlines()
               if x.startswith("[-]")]
    assert line.startswith("[-]local:disk failed: ") and "MB free on" in line
    # The heartbeat is the site's, not this process's: unchanged.
    assert client.get("/__heartbeat__").status_code == 200


def test_readyz_says_draining(client):
    _write_all()
    assert client.get("/readyz").status_code == 200
    draining.begin()  # the session's fixture resets it
    assert (client.get("/readyz").status_code, client.get("/readyz").content) == (
        503, b"draining")
    response = client.get("/readyz?verbose")
    assert response.status_code == 503
    assert response.content.decode().splitlines()[-2:] == [
        "[-]draining: this process is shutting down", "readyz check failed"]


def test_readyz_exclude_skips_a_check_and_an_unknown_name_is_400(client, settings,
                                                                django_assert_num_queries):
    _only(settings, "database", {"check": "celery", "readiness": True})
    _write("database", Status.PASSING)  # celery never ran
    settings.HEALTHD = {**settings.HEALTHD, "LOCAL_CHECKS": [
        {"check": "disk", "min_free_mb": 10**12}]}
    assert client.get("/readyz").status_code == 503
    with django_assert_num_queries(0):
        response = client.get("/readyz?exclude=celery&exclude=disk&verbose")
    assert response.status_code == 200
    assert response.content.decode().splitlines() == [
        "[+]celery excluded: ok", "[+]disk excluded: ok", "readyz check passed"]
    response = client.get("/readyz?exclude=celery&exclude=nothing")
    assert response.status_code == 400
    assert response.json()["error"] == "unknown check(s) to exclude: nothing"
    assert {"database", "disk"} <= set(response.json()["valid"])


def test_readyz_store_down_is_not_counted(client, settings):
    """Every process shares the store: its outage must not empty the pool either."""
    _only(settings, {"check": "database", "readiness": True})
    _store_down(settings)
    started = time.monotonic()
    responses = [client.get("/readyz") for _ in range(20)]
    assert time.monotonic() - started < 1.5
    assert {r.status_code for r in responses} == {200}
    lines = client.get("/readyz?verbose").content.decode().splitlines()
    assert "[+]store not counted: result store unavailable: ConnectionError" in lines
    assert client.get("/__heartbeat__").status_code == 500


# --- startupz ------------------------------------------------------------------------------


def test_startupz_waits_for_the_first_results(client, settings):
    _only(settings, "database", "cache", {"passive": "backup", "every": "1d"})
    response = client.get("/startupz")
    assert response.status_code == 503
    assert response.content.decode().splitlines() == [
        "[-]results failed: no result yet for database, cache", "startupz check failed"]
    _write("database", Status.FAILING)  # any result will do: it ran
    state.forget()
    assert client.get("/startupz/").status_code == 503
    _write("cache", Status.PASSING)  # the passive check is not waited for
    state.forget()
    response = client.get("/startupz")
    assert (response.status_code, response.content) == (200, b"ok")
    assert client.get("/startupz?verbose").content == b"[+]results ok\nstartupz check passed\n"


def test_startupz_with_the_store_down_and_once_started(client, settings):
    _only(settings, "database")
    _write("database", Status.PASSING)
    good_store = settings.HEALTHD
    _store_down(settings)
    response = client.get("/startupz")
    assert response.status_code == 503
    assert response.content.startswith(b"[-]store failed: result store unavailable")
    settings.HEALTHD = good_store
    state.forget()
    assert client.get("/startupz").status_code == 200
    # Started is started: a later outage is the other probes' news.
    _write("database", Status.FAILING)
    state.forget()
    assert client.get("/startupz").status_code == 200


# --- metrics -------------------------------------------------------------------------------


def test_metrics_from_a_real_run(client, settings, django_assert_num_queries):
    _only(settings, "database", "cache", "storage", "email")
    run_and_record()
    with django_assert_num_queries(0):
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = _samples(response)
    assert samples[("healthd_store_up", ())] == 1
    assert samples[("healthd_up", ())] == 1
    assert samples[("healthd_check_status", (("check", "database"), ("status", "passing")))] == 1
    assert samples[("healthd_check_status", (("check", "database"), ("status", "failing")))] == 0
    assert samples[("healthd_check_duration_seconds", (("check", "database"),))] > 0
    assert 0 <= samples[("healthd_check_age_seconds", (("check", "database"),))] < 60
    assert samples[("healthd_check_critical", (("check", "email"),))] == 1
    assert samples[("healthd_check_transitions_total", (("check", "database"),))] == 1


def test_metrics_stay_200_while_checks_fail_and_count_transitions(client, settings):
    _only(settings, "database", {"check": "storage", "critical": False})
    _write("database", Status.PASSING)
    _write("database", Status.FAILING)
    _write("storage", Status.PASSING, age=105)
    response = client.get("/metrics")
    assert response.status_code == 200
    samples = _samples(response)
    assert samples[("healthd_up", ())] == 0
    assert samples[("healthd_check_status", (("check", "database"), ("status", "failing")))] == 1
    assert samples[("healthd_check_status", (("check", "storage"), ("status", "stale")))] == 1
    assert samples[("healthd_check_critical", (("check", "storage"),))] == 0
    assert samples[("healthd_check_age_seconds", (("check", "storage"),))] >= 95
    assert samples[("healthd_check_transitions_total", (("check", "database"),))] == 2


def test_metrics_a_check_that_never_ran_is_unknown_with_no_age(client):
    _write_all(but="email")
    samples = _samples(client.get("/metrics"))
    assert samples[("healthd_check_status", (("check", "email"), ("status", "unknown")))] == 1
    assert ("healthd_check_age_seconds", (("check", "email"),)) not in samples
    assert samples[("healthd_check_transitions_total", (("check", "email"),))] == 0


def test_metrics_store_down_is_still_200_with_store_up_0(client, settings):
    _store_down(settings)
    started = time.monotonic()
    response = client.get("/metrics")
    assert time.monotonic() - started < 1.0
    assert response.status_code == 200
    samples = _samples(response)
    assert samples[("healthd_store_up", ())] == 0
    assert samples[("healthd_up", ())] == 0
    assert not any(name == "healthd_check_transitions_total" for name, _ in samples)


def test_metrics_read_redis_at_most_twice_per_freshness_period(client, settings, monkeypatch):
    # A period no loaded machine outlasts: the requests fall within one.
    settings.HEALTHD = {**settings.HEALTHD, "CACHE_SECONDS": 30}
    _write_all()
    counter = CommandCounter(monkeypatch)
    for _ in range(20):
        assert client.get("/metrics").status_code == 200
    # the latest results, the transition counters, the notification counters and the
    # web pods (SMEMBERS; no MGET while none publishes)
    assert counter.count == 4
