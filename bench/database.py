"""What the database benchmarks share: a database of their own, Django set up on the
tests' settings against it, and the hourly rollups of the results they filled."""

from __future__ import annotations

import os
import tempfile
from urllib.parse import urlsplit, urlunsplit


def ensure_database(url: str) -> None:
    """Create the PostgreSQL or MySQL / MariaDB database ``url`` names when it does not
    exist yet (a SQLite file is made by its first connection)."""
    if url.startswith(("mysql://", "mysql2://")):
        _ensure_mysql_database(url)
        return
    if not url.startswith(("postgres://", "postgresql://")):
        return
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")),
                         autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def _ensure_mysql_database(url: str) -> None:
    import MySQLdb

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    connection = MySQLdb.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                                 user=parts.username or "root", password=parts.password or "")
    try:
        cursor = connection.cursor()
        if not cursor.execute("SHOW DATABASES LIKE %s", [name]):
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 "
                           "COLLATE utf8mb4_unicode_ci")
            print(f"created database {name}")
    finally:
        connection.close()


def setup_django(default_database_url: str, default_redis_url: str) -> None:
    """Django on the tests' settings, against DATABASE_URL and REDIS_URL (else the
    defaults given), with its state folder in the temporary directory."""
    os.environ.setdefault("DATABASE_URL", default_database_url)
    os.environ.setdefault("REDIS_URL", default_redis_url)
    os.environ.setdefault("HEALTHD_TEST_STATE_DIR",
                          os.path.join(tempfile.gettempdir(), "healthd-bench-state"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.site.settings"
    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()


def summarise_rollups() -> None:
    """The hourly rollups of every result in the table, as the workers keep them."""
    from django.db import connection

    if connection.vendor == "sqlite":
        hour = "strftime('%Y-%m-%d %H:00:00', checked_at)"
        failures, warnings = "sum(status = 'failing')", "sum(status = 'warning')"
    elif connection.vendor == "mysql":
        hour = "DATE_FORMAT(checked_at, '%Y-%m-%d %H:00:00')"
        failures, warnings = "sum(status = 'failing')", "sum(status = 'warning')"
    else:
        hour = "date_trunc('hour', checked_at)"
        failures = "count(*) FILTER (WHERE status = 'failing')"
        warnings = "count(*) FILTER (WHERE status = 'warning')"
    with connection.cursor() as cursor:
        cursor.execute(  # our own SQL fragments, no input
            "INSERT INTO healthd_hourlyrollup"  # noqa: S608
            " (name, hour, runs, failures, warnings, duration_sum, duration_max)"
            f" SELECT name, {hour}, count(*), {failures}, {warnings}, sum(duration),"
            " max(duration) FROM healthd_checkresult GROUP BY 1, 2")
