"""The databases healthd writes its history to (PostgreSQL, MySQL / MariaDB, SQLite): a
backend it cannot write to stops start-up, and a run too big for one MySQL statement
is written whole."""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from healthd.checks.base import Result, Status
from healthd.history import rows, sql
from healthd.history import write as history
from healthd.models import CheckResult, CheckStatus, HourlyRollup
from healthd.system_checks import database as database_checks


@pytest.mark.django_db
def test_the_database_under_test_passes_the_start_up_checks():
    assert sql.supports(connection) is None
    assert database_checks.check_database_vendor() == []
    assert database_checks.check_database_version(databases=["default"]) == []
    call_command("check", databases=["default"])  # raises on an error


def test_a_backend_healthd_cannot_write_to_stops_start_up(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "oracle")
    with pytest.raises(SystemCheckError) as raised:
        call_command("check")
    message = str(raised.value)
    assert database_checks.E_UNSUPPORTED_DATABASE in message
    assert "DATABASES['default']: healthd cannot write its history there" in message
    assert "'oracle' database backend" in message


@pytest.mark.django_db
@pytest.mark.parametrize(("mariadb", "version", "said"), [
    (True, (10, 4, 34), "MariaDB 10.4 is older than 10.5"),
    (False, (5, 7, 44), "MySQL 5.7 is older than 8.0"),
])
def test_a_mysql_server_too_old_is_an_error_once_it_answers(monkeypatch, mariadb, version,
                                                            said):
    """Told apart only by the server's answer, so only where checks may connect
    (``migrate``, ``check --database``). Django itself refuses these releases on connect
    today; healthd says why its own SQL needs more."""
    monkeypatch.setattr(connection, "vendor", "mysql")
    monkeypatch.setattr(connection, "mysql_is_mariadb", mariadb, raising=False)
    monkeypatch.setattr(connection, "mysql_version", version, raising=False)
    assert database_checks.check_database_vendor() == []
    assert database_checks.check_database_version(databases=None) == []  # no connection
    (error,) = database_checks.check_database_version(databases=["default"])
    assert error.id == database_checks.E_UNSUPPORTED_DATABASE and said in error.msg


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "mysql", reason="MySQL's statement size")
def test_a_run_too_big_for_one_mysql_statement_is_written_in_several(monkeypatch):
    monkeypatch.setattr(rows, "MYSQL_STATEMENT_BYTES", 64 * 1024)
    now = time.time()
    results = [Result(f"big-{i:02d}", Status.FAILING, "é" * 10_000, now, 0.01)
               for i in range(20)]
    with CaptureQueriesContext(connection) as queries:
        assert history.save(results, [], backlog=0)
    inserts = [q["sql"] for q in queries if q["sql"].startswith("INSERT")]
    # 20 messages of 40,000 bytes at most, one a statement, each for results and states;
    # one for the hourly rollups and one for the daily ones.
    assert len(inserts) == 1 + 1 + 20 + 20
    assert CheckResult.objects.filter(message="é" * 10_000).count() == 20
    assert HourlyRollup.objects.filter(name__startswith="big-").count() == 20
    assert CheckStatus.objects.filter(name__startswith="big-", streak=1).count() == 20


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "mysql", reason="InnoDB's indexes")
def test_on_mysql_the_time_indexes_are_ascending_so_read_backwards_they_give_newest_first():
    """InnoDB ends each index with the id, ascending: only an ascending time index read
    backwards gives the admin's ``-checked_at, -id`` without sorting the table."""
    with connection.cursor() as cursor:
        for model, names in sql.ASCENDING_ON_MYSQL.items():
            found = connection.introspection.get_constraints(cursor, model._meta.db_table)
            for name in names:
                assert set(found[name]["orders"]) == {"ASC"}, (name, found[name])


@pytest.mark.skipif(connection.vendor != "mysql", reason="MySQL's time zone tables")
@pytest.mark.django_db
def test_mysql_says_whether_it_converts_a_time_zone():
    # .ci/run loads the server's time zone tables (mysql_tzinfo_to_sql).
    assert sql.converts_time_zone(connection, "Europe/Paris") is True
    assert sql.converts_time_zone(connection, "Nowhere/Atlantis") is False
