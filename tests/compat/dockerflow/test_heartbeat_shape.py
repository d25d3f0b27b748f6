"""The heartbeat's details as python-dockerflow shaped them, so a monitor keyed on them
(or an alert rule matching a message) reads the same after a switch.

dockerflow's facts, from its tests and its Django checks: ``checks`` has every check's
status, ``details`` only the checks with a message (a silenced one has none); its own
checks are keyed by their function names; a migration state that cannot be read is the
Info ``dockerflow.health.I001`` "Can't connect to database to check migrations", which
leaves the heartbeat at 200; the signals carry the worst level (0 when no message).
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.migrations import executor as migration_executor
from django.db.utils import OperationalError, ProgrammingError

from healthd import signals
from tests.compat.helpers import run_here, run_now
from tests.support.results import write_all

pytestmark = pytest.mark.django_db

CHECKS = "tests.compat.peer_checks"
I001 = "dockerflow.health.I001"
I001_TEXT = "Can't connect to database to check migrations"


def _heartbeat(client, settings):
    settings.DEBUG = True
    response = client.get("/__heartbeat__")
    return response.status_code, response.json()


def test_details_list_only_the_checks_with_messages(client, settings):
    settings.DOCKERFLOW_CHECKS = [f"{CHECKS}.warning"]
    write_all()
    run_now("warning")
    code, body = _heartbeat(client, settings)
    assert code == 200
    assert body["status"] == "warning"
    assert list(body["details"]) == ["warning"]
    detail = body["details"]["warning"]
    assert (detail["status"], detail["level"]) == ("warning", 30)
    assert detail["messages"] == {"tests.checks.W001": "some warning"}
    # every check is in checks, the quiet ones "ok"
    assert body["checks"]["warning"] == "warning"
    assert body["checks"]["check_database_connected"] == "ok"


def test_a_silenced_check_is_in_checks_but_not_in_details(client, settings):
    settings.DOCKERFLOW_CHECKS = [f"{CHECKS}.warning", f"{CHECKS}.error"]
    settings.SILENCED_SYSTEM_CHECKS = [*settings.SILENCED_SYSTEM_CHECKS, "tests.checks.E001"]
    write_all()
    run_now("warning", "error")
    code, body = _heartbeat(client, settings)
    assert code == 200
    assert body["status"] == "warning"
    assert "warning" in body["details"]
    assert "error" not in body["details"]
    assert body["checks"]["error"] == "ok"


def test_all_quiet_means_empty_details(client, settings):
    write_all()
    code, body = _heartbeat(client, settings)
    assert code == 200
    assert body["status"] == "ok"
    assert body["details"] == {}
    assert set(body["checks"].values()) == {"ok"}


def test_dockerflows_checks_are_keyed_by_their_function_names(client, settings):
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": ["database", "migrations", "redis",
                                                      "cache"]}
    write_all()
    _, body = _heartbeat(client, settings)
    assert list(body["checks"]) == ["check_database_connected", "check_migrations_applied",
                                    "check_redis_connected", "cache"]


def _raise(exception):
    def raiser(*args, **kwargs):
        raise exception

    return raiser


@pytest.mark.parametrize("exception", [ImproperlyConfigured, ProgrammingError,
                                       OperationalError])
def test_an_unreadable_migration_state_is_an_info_and_the_heartbeat_stays_up(
        client, settings, monkeypatch, exception):
    write_all()
    with monkeypatch.context() as patched:
        patched.setattr(migration_executor, "MigrationLoader", _raise(exception()))
        run_here("migrations")
    anonymous = client.get("/__heartbeat__")
    assert anonymous.status_code == 200
    assert anonymous.json() == {"status": "info"}
    code, body = _heartbeat(client, settings)
    assert code == 200
    assert body["status"] == "info"
    assert body["checks"]["check_migrations_applied"] == "info"
    detail = body["details"]["check_migrations_applied"]
    assert detail["messages"] == {I001: I001_TEXT}
    assert (detail["status"], detail["level"]) == ("info", 20)
    assert list(body["details"]) == ["check_migrations_applied"]


def test_the_signal_carries_the_worst_level(client, settings, monkeypatch):
    heard = []

    def passed(sender, level, **kwargs):
        heard.append(level)

    write_all()
    signals.heartbeat_passed.connect(passed)
    try:
        client.get("/__heartbeat__")
        with monkeypatch.context() as patched:
            patched.setattr(migration_executor, "MigrationLoader",
                            _raise(OperationalError()))
            run_here("migrations")
        client.get("/__heartbeat__")
    finally:
        signals.heartbeat_passed.disconnect(passed)
    assert heard == [0, 20]


def _database_raises(exception):
    def patch(monkeypatch):
        from django.db import connection

        monkeypatch.setattr(connection, "ensure_connection", _raise(exception))

    return patch


def _database_unusable(monkeypatch):
    from django.db import connection

    monkeypatch.setattr(connection, "is_usable", lambda: False)


def _redis_ping_false(monkeypatch):
    import redis

    monkeypatch.setattr(redis.Redis, "ping", lambda self, **kwargs: False)


# dockerflow's texts for its checks' messages (dockerflow.django.checks), one connection.
@pytest.mark.parametrize(("check", "patch", "messages"), [
    ("database", _database_raises(OperationalError("no route to db")),
     {"dockerflow.health.E001": "Could not connect to database: no route to db"}),
    ("database", _database_raises(ImproperlyConfigured("no NAME")),
     {"dockerflow.health.E003": 'Database misconfigured: "no NAME"'}),
    ("database", _database_unusable,
     {"dockerflow.health.E002": "Database connection is not usable"}),
    ("redis", _redis_ping_false, {"dockerflow.health.E007": "Redis ping failed"}),
])
def test_dockerflows_checks_speak_dockerflows_words(client, settings, monkeypatch, check,
                                                    patch, messages):
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": ["database", "redis"]}
    write_all()
    with monkeypatch.context() as patched:
        patch(patched)
        run_here(check)
    code, body = _heartbeat(client, settings)
    assert code == 500
    key = {"database": "check_database_connected", "redis": "check_redis_connected"}[check]
    assert body["details"][key]["messages"] == messages


class _Migration:
    app_label = "app"
    name = "0002_second"


def test_an_unapplied_migration_in_dockerflows_words(client, settings, monkeypatch):
    write_all()
    with monkeypatch.context() as patched:
        patched.setattr(migration_executor.MigrationExecutor, "migration_plan",
                        lambda self, targets, clean_start=False: [(_Migration(), False)])
        run_here("migrations")
    code, body = _heartbeat(client, settings)
    assert code == 200
    detail = body["details"]["check_migrations_applied"]
    assert detail["messages"] == {"dockerflow.health.W001": "Unapplied migration app.0002_second"}
    assert (detail["status"], detail["level"]) == ("warning", 30)
