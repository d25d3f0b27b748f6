"""python-dockerflow's Django tests, against healthd.

Source: mozilla-services/python-dockerflow ``tests/django/test_django.py`` (its latest
version, with ``test_heartbeat_silenced`` and ``test_request_summary_querystring``).
Adapted setup: dockerflow's middleware served the views and ran the checks on the
request; here the views are reached through the URLconf, each check's result is stored
first (as a worker stores it), and ``healthd.middleware.RequestSummaryMiddleware`` is
called the way Django calls it. Checks that dockerflow's tests called directly
(``check_database_connected`` …) map to healthd's built-ins (``database`` …): they are
run on their own, in this thread so that the test's patch applies, and the heartbeat
then shows what they found.
"""

from __future__ import annotations

import json
import logging

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.migrations import executor as migration_executor
from django.db.utils import OperationalError, ProgrammingError
from django.http import HttpResponse
from django.test.utils import CaptureQueriesContext

from healthd.middleware import RequestSummaryMiddleware
from tests.compat.helpers import run_here, run_now
from tests.support.results import write_all

pytestmark = pytest.mark.django_db

CHECKS = "tests.compat.peer_checks"

# The example version object of dockerflow's Django guide.
VERSION_CONTENT = {
    "commit": "52ce614fbf99540a1bf6228e36be6cef63b4d73b",
    "version": "2017.11.0",
    "source": "https://github.com/mozilla/telemetry-analysis-service",
    "build": "https://circleci.com/gh/mozilla/telemetry-analysis-service/2223",
}

# dockerflow.health's message ids.
INFO_CANT_CHECK_MIGRATIONS = "dockerflow.health.I001"
WARNING_UNAPPLIED_MIGRATION = "dockerflow.health.W001"
ERROR_CANNOT_CONNECT_DATABASE = "dockerflow.health.E001"
ERROR_UNUSABLE_DATABASE = "dockerflow.health.E002"
ERROR_MISCONFIGURED_DATABASE = "dockerflow.health.E003"
ERROR_CANNOT_CONNECT_REDIS = "dockerflow.health.E004"
ERROR_MISSING_REDIS_CLIENT = "dockerflow.health.E005"
ERROR_MISCONFIGURED_REDIS = "dockerflow.health.E006"
ERROR_REDIS_PING_FAILED = "dockerflow.health.E007"


# The heartbeat keys the built-ins that stand for dockerflow's checks by dockerflow's names.
DOCKERFLOW_KEYS = {"database": "check_database_connected",
                   "migrations": "check_migrations_applied",
                   "redis": "check_redis_connected"}


def _heartbeat_details(client, settings) -> tuple[int, dict]:
    settings.DEBUG = True
    response = client.get("/__heartbeat__")
    return response.status_code, response.json()


# --- /__version__ ------------------------------------------------------------------------


# test_django.py::test_version_exists
@pytest.mark.parametrize("request_path", ["/__version__", "/__version__/"])
def test_version_exists(client, settings, tmp_path, request_path):
    (tmp_path / "version.json").write_text(json.dumps(VERSION_CONTENT))
    settings.BASE_DIR = tmp_path
    response = client.get(request_path)
    assert response.status_code == 200
    assert json.loads(response.content.decode()) == VERSION_CONTENT


# test_django.py::test_version_missing
def test_version_missing(client, settings, tmp_path):
    settings.BASE_DIR = tmp_path
    response = client.get("/__version__")
    assert response.status_code == 404


# --- /__heartbeat__ ----------------------------------------------------------------------


# test_django.py::test_heartbeat
def test_heartbeat(client, settings):
    write_all()
    response = client.get("/__heartbeat__")
    assert response.status_code == 200

    settings.DOCKERFLOW_CHECKS = [f"{CHECKS}.warning", f"{CHECKS}.error"]
    run_now("warning", "error")
    response = client.get("/__heartbeat__")
    assert response.status_code == 500
    content = response.json()
    assert content["status"] == "error"
    assert content.get("checks") is None
    assert content.get("details") is None


# test_django.py::test_heartbeat_debug
def test_heartbeat_debug(client, settings):
    write_all()
    settings.DOCKERFLOW_CHECKS = [f"{CHECKS}.warning", f"{CHECKS}.error"]
    settings.DEBUG = True
    run_now("warning", "error")
    response = client.get("/__heartbeat__")
    assert response.status_code == 500
    content = response.json()
    assert content["status"]
    assert content["checks"]
    assert content["details"]


def _silenced_heartbeat(client, settings):
    write_all()
    settings.DOCKERFLOW_CHECKS = [f"{CHECKS}.warning", f"{CHECKS}.error"]
    settings.SILENCED_SYSTEM_CHECKS = [*settings.SILENCED_SYSTEM_CHECKS, "tests.checks.E001"]
    settings.DEBUG = True
    run_now("warning", "error")
    return client.get("/__heartbeat__")


# test_django.py::test_heartbeat_silenced (the status)
def test_heartbeat_silenced(client, settings):
    response = _silenced_heartbeat(client, settings)
    assert response.status_code == 200
    content = response.json()
    assert content["status"] == "warning"
    assert "warning" in content["details"]


# test_django.py::test_heartbeat_silenced (the details)
def test_heartbeat_silenced_check_not_in_details(client, settings):
    content = _silenced_heartbeat(client, settings).json()
    assert "error" not in content["details"]


# test_django.py::test_heartbeat_logging
def test_heartbeat_logging(client, settings, caplog):
    write_all()
    settings.DOCKERFLOW_CHECKS = [f"{CHECKS}.warning", f"{CHECKS}.error"]
    with caplog.at_level(logging.INFO):
        run_now("warning", "error")
        client.get("/__heartbeat__")
    logged = [(record.levelname, record.message) for record in caplog.records]
    assert ("ERROR", "tests.checks.E001: some error") in logged
    assert ("WARNING", "tests.checks.W001: some warning") in logged


# test_django.py::test_lbheartbeat_makes_no_db_queries
def test_lbheartbeat_makes_no_db_queries(client):
    queries = CaptureQueriesContext(connection)
    with queries:
        response = client.get("/__lbheartbeat__")
        assert response.status_code == 200
    assert len(queries) == 0


# test_django.py::test_redis_check
def test_redis_check(client, settings):
    settings.DOCKERFLOW_CHECKS = ["dockerflow.django.checks.check_redis_connected"]
    write_all()
    run_here("redis")
    response = client.get("/__heartbeat__")
    assert response.status_code == 200


# --- request.summary ---------------------------------------------------------------------


def assert_log_record(request, record, errno=0, level=logging.INFO):
    assert record.levelno == level
    assert record.errno == errno
    assert record.agent == "dockerflow/tests"
    assert record.lang == "tlh"
    assert record.method == "GET"
    assert record.path == "/"
    assert record.rid == request._id
    assert isinstance(record.t, int)


@pytest.fixture
def summary_log(caplog):
    caplog.set_level(logging.INFO, logger="request.summary")
    return caplog


@pytest.fixture
def dockerflow_request(rf):
    return rf.get("/", HTTP_USER_AGENT="dockerflow/tests", HTTP_ACCEPT_LANGUAGE="tlh")


def through_middleware(request, view=None):
    """Call the middleware as Django does, with ``view`` standing for the rest."""
    middleware = RequestSummaryMiddleware(view or (lambda r: HttpResponse()))
    return middleware, middleware(request)


# test_django.py::test_request_summary
def test_request_summary(summary_log, dockerflow_request):
    seen = {}

    def view(request):
        seen["_id"] = getattr(request, "_id", None)
        seen["_start_timestamp"] = getattr(request, "_start_timestamp", None)
        return HttpResponse()

    through_middleware(dockerflow_request, view)
    assert seen["_id"] is not None
    assert isinstance(seen["_start_timestamp"], float)
    assert len(summary_log.records) == 1
    record = summary_log.records[0]
    assert_log_record(dockerflow_request, record)
    assert getattr(dockerflow_request, "uid", None) is None


# test_django.py::test_request_summary_querystring
def test_request_summary_querystring(settings, summary_log, rf):
    settings.DOCKERFLOW_SUMMARY_LOG_QUERYSTRING = True
    request = rf.get("/?x=%D8%B4%D9%83%D8%B1")
    through_middleware(request)
    assert len(summary_log.records) == 1
    record = summary_log.records[0]
    assert record.querystring == "x=شكر"
    assert isinstance(record.t, int)


# test_django.py::test_request_summary_admin_user
def test_request_summary_admin_user(admin_user, summary_log, dockerflow_request):
    dockerflow_request.user = admin_user
    through_middleware(dockerflow_request)
    assert len(summary_log.records) == 1
    record = summary_log.records[0]
    assert_log_record(dockerflow_request, record)
    assert record.uid == admin_user.pk


# test_django.py::test_request_summary_exception
def test_request_summary_exception(summary_log, dockerflow_request):
    exception = ValueError("exception message")

    def failing_view(request):
        # What Django's handler does with a view's exception: the middleware's
        # process_exception, then a 500 response.
        middleware.process_exception(request, exception)
        return HttpResponse(status=500)

    middleware = RequestSummaryMiddleware(failing_view)
    middleware(dockerflow_request)
    assert len(summary_log.records) == 1
    record = summary_log.records[0]
    assert_log_record(dockerflow_request, record, level=logging.ERROR, errno=500)
    assert record.getMessage() == "exception message"


# test_django.py::test_request_summary_failed_request
def test_request_summary_failed_request(summary_log, dockerflow_request):
    def hostile(request):
        # simulating resetting request changes
        delattr(request, "_id")
        delattr(request, "_start_timestamp")
        return HttpResponse()

    through_middleware(dockerflow_request, hostile)
    assert len(summary_log.records) == 1
    record = summary_log.records[0]
    assert getattr(record, "rid", None) is not None
    assert getattr(record, "t", None) is None


# --- the checks: check_database_connected, check_migrations_applied, check_redis_connected


def _raise(exception):
    def raiser(*args, **kwargs):
        raise exception

    return raiser


def _database_cannot_connect(monkeypatch):
    monkeypatch.setattr(connection, "ensure_connection", _raise(OperationalError()))


def _database_misconfigured(monkeypatch):
    monkeypatch.setattr(connection, "ensure_connection", _raise(ImproperlyConfigured()))


def _database_unusable(monkeypatch):
    monkeypatch.setattr(connection, "is_usable", lambda: False)


def _migrations_unreadable(exception):
    def patch(monkeypatch):
        monkeypatch.setattr(migration_executor, "MigrationLoader", _raise(exception))

    return patch


class _Migration:
    app_label = "app"
    name = "0001_initial"


def _migration_unapplied(monkeypatch):
    monkeypatch.setattr(migration_executor.MigrationExecutor, "migration_plan",
                        lambda self, targets, clean_start=False: [(_Migration(), False)])


def _redis_raises(exception):
    def patch(monkeypatch):
        monkeypatch.setattr(redis.Redis, "ping", _raise(exception))

    return patch


def _redis_ping_false(monkeypatch):
    monkeypatch.setattr(redis.Redis, "ping", lambda self, **kwargs: False)


def _record_with(monkeypatch, check: str, patch) -> None:
    write_all()
    with monkeypatch.context() as patched:
        patch(patched)
        run_here(check)


DOCKERFLOW_MESSAGE_IDS = [
    # test_check_database_connected_cannot_connect
    ("database", _database_cannot_connect, ERROR_CANNOT_CONNECT_DATABASE),
    # test_check_database_connected_misconfigured
    ("database", _database_misconfigured, ERROR_MISCONFIGURED_DATABASE),
    # test_check_database_connected_unsuable
    ("database", _database_unusable, ERROR_UNUSABLE_DATABASE),
    # test_check_migrations_applied_cannot_check_migrations[ImproperlyConfigured, ...]
    ("migrations", _migrations_unreadable(ImproperlyConfigured), INFO_CANT_CHECK_MIGRATIONS),
    ("migrations", _migrations_unreadable(ProgrammingError), INFO_CANT_CHECK_MIGRATIONS),
    ("migrations", _migrations_unreadable(OperationalError), INFO_CANT_CHECK_MIGRATIONS),
    # test_check_migrations_applied_unapplied_migrations
    ("migrations", _migration_unapplied, WARNING_UNAPPLIED_MIGRATION),
    # test_check_redis_connected[ConnectionError, NotImplementedError, ImproperlyConfigured]
    ("redis", _redis_raises(redis.ConnectionError), ERROR_CANNOT_CONNECT_REDIS),
    ("redis", _redis_raises(NotImplementedError), ERROR_MISSING_REDIS_CLIENT),
    ("redis", _redis_raises(ImproperlyConfigured), ERROR_MISCONFIGURED_REDIS),
    # test_check_redis_connected_ping_failed
    ("redis", _redis_ping_false, ERROR_REDIS_PING_FAILED),
]


# test_django.py: each test_check_* test's `errors[0].id == health.…`
@pytest.mark.parametrize(("check", "patch", "message_id"), DOCKERFLOW_MESSAGE_IDS)
def test_checks_report_dockerflow_message_ids(client, settings, monkeypatch, check, patch,
                                              message_id):
    _record_with(monkeypatch, check, patch)
    _, content = _heartbeat_details(client, settings)
    messages = content["details"][DOCKERFLOW_KEYS[check]]["messages"]
    assert len(messages) == 1
    assert list(messages) == [message_id]


# test_django.py::test_check_database_connected_cannot_connect, _misconfigured: an Error
@pytest.mark.parametrize("patch", [_database_cannot_connect, _database_misconfigured])
def test_database_that_cannot_connect_fails_the_heartbeat(client, settings, monkeypatch,
                                                          patch):
    _record_with(monkeypatch, "database", patch)
    code, content = _heartbeat_details(client, settings)
    assert code == 500
    assert content["checks"]["check_database_connected"] == "error"


# test_django.py::test_check_database_connected_unsuable: an Error
def test_unusable_database_fails_the_heartbeat(client, settings, monkeypatch):
    _record_with(monkeypatch, "database", _database_unusable)
    code, content = _heartbeat_details(client, settings)
    assert code == 500
    assert content["checks"]["check_database_connected"] == "error"


# test_django.py::test_check_database_connected_success: `errors == []`
def test_database_success_has_no_messages(client, settings):
    write_all()
    run_here("database")
    code, content = _heartbeat_details(client, settings)
    assert code == 200
    assert content["checks"]["check_database_connected"] == "ok"
    assert content["details"].get("check_database_connected", {}).get("messages", {}) == {}


# test_django.py::test_check_migrations_applied_cannot_check_migrations: an Info only
@pytest.mark.parametrize("exception", [ImproperlyConfigured, ProgrammingError,
                                       OperationalError])
def test_unreadable_migrations_leave_the_heartbeat_up(client, settings, monkeypatch,
                                                      exception):
    _record_with(monkeypatch, "migrations", _migrations_unreadable(exception))
    code, _ = _heartbeat_details(client, settings)
    assert code == 200


# test_django.py::test_check_migrations_applied_unapplied_migrations: a Warning
def test_unapplied_migration_is_a_warning(client, settings, monkeypatch):
    _record_with(monkeypatch, "migrations", _migration_unapplied)
    code, content = _heartbeat_details(client, settings)
    assert code == 200
    assert content["status"] == "warning"
    assert content["checks"]["check_migrations_applied"] == "warning"


# test_django.py::test_check_redis_connected: an Error for each exception
@pytest.mark.parametrize("exception", [redis.ConnectionError, NotImplementedError,
                                       ImproperlyConfigured])
def test_redis_that_cannot_connect_fails_the_heartbeat(client, settings, monkeypatch,
                                                       exception):
    _record_with(monkeypatch, "redis", _redis_raises(exception))
    code, content = _heartbeat_details(client, settings)
    assert code == 500
    assert content["checks"]["check_redis_connected"] == "error"


# test_django.py::test_check_redis_connected_ping_failed: an Error
def test_redis_ping_false_fails_the_heartbeat(client, settings, monkeypatch):
    _record_with(monkeypatch, "redis", _redis_ping_false)
    code, content = _heartbeat_details(client, settings)
    assert code == 500
    assert content["checks"]["check_redis_connected"] == "error"


# Not in test_django.py: src/dockerflow/django/middleware.py serves its views on
# r"/__heartbeat__/?$" and r"/__lbheartbeat__/?$", before the URLconf.
@pytest.mark.parametrize("path", ["/__heartbeat__/", "/__lbheartbeat__/"])
def test_trailing_slash_forms_are_served(client, path):
    write_all()
    assert client.get(path).status_code == 200
