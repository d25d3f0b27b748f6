"""The Django system checks for the database healthd writes its history to.

A backend whose SQL healthd does not speak would otherwise be found out by the first
run, and by every run after it, each parking its history in Redis until the backlog
overflows. Here it stops start-up instead: the vendor is known without a connection
(``manage.py check``, ``runserver``); the server's version and, on MySQL / MariaDB,
its time zone tables only with one (``migrate``, ``check --database default``).
Registered with Django's check framework when this module is imported.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks as django_checks
from django.db import DatabaseError, connections, router

from healthd.history import sql
from healthd.models import CheckResult

TAG = "healthd"

# Stable IDs: a site may silence one with SILENCED_SYSTEM_CHECKS.
E_UNSUPPORTED_DATABASE = "healthd.E201"
W_NO_TIME_ZONE_TABLES = "healthd.W201"


def _history_alias() -> str:
    return router.db_for_write(CheckResult) or "default"


@django_checks.register(TAG)
def check_database_vendor(app_configs: Any = None, **kwargs: Any
                          ) -> list[django_checks.CheckMessage]:
    """An error when healthd's history would go to a database it does not write to."""
    alias = _history_alias()
    connection = connections[alias]
    if connection.vendor in ("postgresql", "sqlite", "mysql"):
        return []  # the version needs a connection: check_database_version says
    return [_unsupported(alias, sql.supports(connection) or "")]


@django_checks.register(TAG, django_checks.Tags.database)
def check_database_version(app_configs: Any = None, databases: Any = None, **kwargs: Any
                           ) -> list[django_checks.CheckMessage]:
    """An error when the history's database server is too old for healthd's SQL; on
    MySQL / MariaDB, a warning when it cannot convert to the site's time zone."""
    alias = _history_alias()
    if not databases or alias not in databases:
        return []
    connection = connections[alias]
    if connection.vendor not in ("postgresql", "sqlite", "mysql"):
        return []  # check_database_vendor has said so
    try:
        problem = sql.supports(connection)
        zones = _time_zones_known(connection)
    except DatabaseError:
        return []  # the server does not answer: migrate itself says so
    if problem:
        return [_unsupported(alias, problem)]
    if not zones:
        return [django_checks.Warning(
            f"DATABASES[{alias!r}]: the MySQL server has no time zone tables, so the "
            f"uptime page cannot count days in TIME_ZONE {settings.TIME_ZONE!r}",
            hint="Load them (mysql_tzinfo_to_sql /usr/share/zoneinfo | mysql -u root mysql), "
                 "as Django's MySQL notes ask when USE_TZ is on.",
            id=W_NO_TIME_ZONE_TABLES)]
    return []


def _time_zones_known(connection: Any) -> bool:
    """False when MySQL / MariaDB would answer NULL converting to the site's zone."""
    if connection.vendor != "mysql" or not settings.USE_TZ:
        return True
    zone = str(settings.TIME_ZONE or "UTC")
    return zone in ("UTC", "Etc/UTC") or sql.converts_time_zone(connection, zone)


def _unsupported(alias: str, problem: str) -> django_checks.CheckMessage:
    return django_checks.Error(
        f"DATABASES[{alias!r}]: healthd cannot write its history there: {problem}",
        hint="healthd writes to PostgreSQL, MySQL 8 / MariaDB 10.5 and later, and SQLite "
             "3.24 and later; route its models to one of those (DATABASE_ROUTERS).",
        id=E_UNSUPPORTED_DATABASE)
