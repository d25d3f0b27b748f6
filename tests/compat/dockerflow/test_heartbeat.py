"""/__heartbeat__ and /__lbheartbeat__: cached state only, dockerflow's shape and codes."""

from __future__ import annotations

import logging
import time

import pytest

from healthd import signals, store
from healthd.checks import registry
from healthd.checks.base import Status
from healthd.store import client as redis_client
from healthd.store import health as state
from healthd.tasks.run import run_and_record
from tests.support.endpoints import client as served_both_ways
from tests.support.results import CommandCounter
from tests.support.results import write_all as _write_all
from tests.support.results import write_result as _write

pytestmark = pytest.mark.django_db

# Every test here runs twice: served by Django's WSGI handler and by its ASGI handler.
client = served_both_ways


def test_heartbeat_is_200_with_status_only_for_anonymous_callers(client, django_assert_num_queries):
    _write_all()
    with django_assert_num_queries(0):
        response = client.get("/__heartbeat__")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_heartbeat_from_a_real_run(client, settings):
    settings.DEBUG = True
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": ["database", "cache", "storage", "email"]}
    run_and_record()
    response = client.get("/__heartbeat__")
    assert response.status_code == 200, response.json()
    body = response.json()
    # dockerflow's keys for its own checks, healthd's names for the others
    assert body["checks"] == {"check_database_connected": "ok", "cache": "ok", "storage": "ok",
                              "email": "ok"}
    # details list only the checks with something to say
    assert body["details"] == {}


def test_a_failing_critical_check_is_500_with_details_in_debug(client, settings,
                                                               django_assert_num_queries):
    settings.DEBUG = True
    _write_all()
    _write("redis", Status.FAILING)
    state.forget()
    with django_assert_num_queries(0):
        response = client.get("/__heartbeat__")
    assert response.status_code == 500
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["check_redis_connected"] == "error"
    assert body["checks"]["check_database_connected"] == "ok"
    assert list(body["details"]) == ["check_redis_connected"]
    failing = body["details"]["check_redis_connected"]
    assert failing["messages"] == {"healthd.redis": "redis is failing"}
    assert failing["level"] == 40
    assert failing["age"] < 30


def test_the_failed_status_code_is_configurable(client, settings):
    settings.DOCKERFLOW_HEARTBEAT_FAILED_STATUS_CODE = 503
    _write_all(Status.FAILING)
    assert client.get("/__heartbeat__").status_code == 503


def test_a_warning_or_a_non_critical_failure_stays_200(client, settings):
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": [
        "database", {"check": "storage", "critical": False}]}
    _write("database", Status.WARNING)
    _write("storage", Status.FAILING)
    response = client.get("/__heartbeat__")
    assert response.status_code == 200
    assert response.json()["status"] == "warning"


def test_a_stale_result_is_500(client, settings):
    settings.DEBUG = True
    for check in registry.configured_checks():
        # the cache's only result is older than three intervals plus its timeout
        _write(check.name, Status.PASSING, age=105 if check.name == "cache" else 0)
    response = client.get("/__heartbeat__")
    assert response.status_code == 500
    assert response.json()["details"]["cache"]["healthd_status"] == "stale"


def test_a_check_that_never_ran_is_500(client, settings):
    settings.DEBUG = True
    _write_all()
    redis_client.writer().hdel(store.keys().latest, "email")
    response = client.get("/__heartbeat__")
    assert response.status_code == 500
    assert response.json()["details"]["email"]["healthd_status"] == "unknown"


def test_store_down_is_a_fast_json_500_naming_the_cause(client, settings):
    settings.HEALTHD = {**settings.HEALTHD, "REDIS_URL": "redis://:pw1234567@127.0.0.1:1/0"}
    started = time.monotonic()
    responses = [client.get("/__heartbeat__") for _ in range(20)]
    assert time.monotonic() - started < 1.5
    assert {r.status_code for r in responses} == {500}
    body = responses[0].json()
    assert body["status"] == "error"
    assert body["error"] == "result store unavailable: ConnectionError"
    assert "pw1234567" not in responses[0].content.decode()
    assert client.get("/__lbheartbeat__").status_code == 200


def test_heartbeat_reads_redis_at_most_once_per_freshness_period(client, settings, monkeypatch):
    # A period no loaded machine outlasts: the 50 requests fall within one.
    settings.HEALTHD = {**settings.HEALTHD, "CACHE_SECONDS": 30}
    _write_all()
    counter = CommandCounter(monkeypatch)
    for _ in range(50):
        assert client.get("/__heartbeat__").status_code == 200
    assert counter.count == 1


def test_a_new_result_is_seen_within_the_freshness_period(client, settings):
    settings.HEALTHD = {**settings.HEALTHD, "CACHE_SECONDS": 0.2}
    _write_all()
    assert client.get("/__heartbeat__").status_code == 200
    _write("database", Status.FAILING)
    from tests.support.waiting import wait_for

    wait_for(lambda: client.get("/__heartbeat__").status_code == 500, timeout=2,
             message="the failure to show")


def test_lbheartbeat_touches_neither_redis_nor_the_database(client, monkeypatch,
                                                            django_assert_num_queries):
    counter = CommandCounter(monkeypatch)
    with django_assert_num_queries(0):
        response = client.get("/__lbheartbeat__")
    assert response.status_code == 200
    assert counter.count == 0


def test_heartbeat_signals_carry_the_level(client):
    seen = []

    def passed(sender, level, **kwargs):
        seen.append(("passed", level))

    def failed(sender, level, **kwargs):
        seen.append(("failed", level))

    signals.heartbeat_passed.connect(passed)
    signals.heartbeat_failed.connect(failed)
    try:
        _write_all()
        client.get("/__heartbeat__")
        _write("database", Status.FAILING)
        state.forget()
        client.get("/__heartbeat__")
    finally:
        signals.heartbeat_passed.disconnect(passed)
        signals.heartbeat_failed.disconnect(failed)
    # dockerflow's levels: 0 when no check has a message, ERROR's 40 for a failure
    assert seen == [("passed", 0), ("failed", 40)]


def test_a_valid_token_shows_details_and_a_wrong_one_does_not(client, settings):
    settings.WATCHMAN_TOKENS = "alpha-token-1,beta-token-2"
    _write_all()
    assert "checks" in client.get("/__heartbeat__?watchman-token=beta-token-2").json()
    assert "checks" in client.get(
        "/__heartbeat__", HTTP_AUTHORIZATION='WATCHMAN-TOKEN Token="alpha-token-1"').json()
    assert "checks" not in client.get("/__heartbeat__?watchman-token=beta-token-X").json()


def test_version_json(client, settings, tmp_path):
    settings.BASE_DIR = tmp_path
    assert client.get("/__version__").status_code == 404
    (tmp_path / "version.json").write_text('{"version": "1.2.3", "commit": "abc"}')
    response = client.get("/__version__")
    assert response.status_code == 200 and response.json()["version"] == "1.2.3"
    (tmp_path / "version.json").write_text('{"version": ')
    response = client.get("/__version__")
    assert response.status_code == 500
    assert response.json() == {"error": "version.json is not valid JSON"}


def _errors(caplog) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_failing_heartbeat_is_not_logged_as_a_server_error(client, caplog):
    """The 500 is the answer, not a fault of the server: django.request stays quiet."""
    _write_all()
    _write("redis", Status.FAILING)
    with caplog.at_level(logging.INFO):
        response = client.get("/__heartbeat__")
    assert response.status_code == 500
    assert _errors(caplog) == []


def test_a_heartbeat_while_the_store_is_down_is_not_logged_as_a_server_error(client, settings,
                                                                            caplog):
    settings.HEALTHD = {**settings.HEALTHD, "REDIS_URL": "redis://127.0.0.1:1/0"}
    with caplog.at_level(logging.INFO):
        response = client.get("/__heartbeat__")
    assert response.status_code == 500
    assert "unavailable" in response.json()["error"]
    assert _errors(caplog) == []


@pytest.mark.parametrize("path", ["/__heartbeat__", "/healthz", "/readyz", "/watchman/",
                                  "/watchman/bare/", "/status/"])
def test_a_query_string_django_refuses_is_a_400_not_a_500(client, settings, caplog, path):
    """Too many fields (DATA_UPLOAD_MAX_NUMBER_FIELDS) in a query string a view reads (here
    for the token): Django's own answer is a 400, and nothing is logged as an error."""
    settings.WATCHMAN_TOKEN = "a-token-to-look-for"
    _write_all()
    with caplog.at_level(logging.INFO):
        response = client.get(path + "?" + "&" * 1500)
    assert response.status_code == 400, response.content
    assert _errors(caplog) == []
    if path == "/__heartbeat__":
        assert response.json() == {"error": "bad request (TooManyFieldsSent)"}
