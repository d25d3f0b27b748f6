"""Every SQL statement healthd writes by hand, one function each, a branch per database.

Django's ORM says everything else. What it cannot say is here: the upserts that add to
the stored row (``bulk_create(update_conflicts=True)`` can only set a column to the
inserted value), the bulk insert of a run's results, a p95 PostgreSQL ranks itself, a
row estimate in place of a COUNT, and the trigram index of the admin's search.

Three databases: PostgreSQL, SQLite (3.24 and later) and MySQL 8 / MariaDB 10.5 and
later (Django's ``mysql`` backend, ``vendor == "mysql"`` for both). Where MySQL and
MariaDB differ the form both accept is used: an upsert reads the inserted row with
``VALUES(column)`` (MySQL 8.0.20 deprecates it for a row alias, ``AS new``, which
MariaDB does not have). ``supports()`` says which databases these statements run on; a
system check refuses any other at start-up.

In the templates ``{column}`` stands for the quoted column name and ``{t}`` for the
quoted table; only the model's own names are put into SQL, every value is a parameter.
"""

from __future__ import annotations

import datetime
import sqlite3
from collections.abc import Sequence
from typing import cast

from django.db import DatabaseError, connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper

from healthd.history import rows as rows_io
from healthd.models import (
    BUCKET_COLUMNS,
    CheckResult,
    CheckStatus,
    DailyRollup,
    HourlyRollup,
    Transition,
)

RESULT_COLUMNS = ["name", "status", "message", "value", "unit", "duration", "checked_at",
                  "host"]
ROLLUP_COLUMNS = ["name", "hour", "runs", "failures", "warnings", "duration_sum",
                  "duration_max", *BUCKET_COLUMNS]
DAILY_COLUMNS = ["name", "day", "first_hour", "runs", "failures", "warnings",
                 "duration_sum", "duration_max"]
STATE_COLUMNS = ["name", "status", "since", "streak", "last_checked_at", "last_message",
                 "last_duration"]
# What the oldest releases healthd's statements need: upserts (SQLite 3.24), window
# functions and ``ON DUPLICATE KEY UPDATE … VALUES()`` (MySQL 8, MariaDB 10.5, as Django
# 5.2 itself asks).
MINIMUM_SQLITE = (3, 24)
MINIMUM_MYSQL = (8, 0)
MINIMUM_MARIADB = (10, 5)
SEARCH_INDEX = "healthd_result_search_trgm"


def supports(connection: BaseDatabaseWrapper) -> str | None:
    """Why healthd's statements cannot run on this database (None: they can).

    Asks the server its version only for MySQL / MariaDB, which cannot be told apart
    before connecting.
    """
    vendor = connection.vendor
    if vendor == "postgresql":
        return None
    if vendor == "sqlite":
        if sqlite3.sqlite_version_info < MINIMUM_SQLITE:
            return (f"SQLite {sqlite3.sqlite_version} is older than "
                    f"{'.'.join(map(str, MINIMUM_SQLITE))} (no upsert)")
        return None
    if vendor == "mysql":
        mariadb = bool(getattr(connection, "mysql_is_mariadb", False))
        version = tuple(getattr(connection, "mysql_version", (0, 0)))[:2]
        minimum = MINIMUM_MARIADB if mariadb else MINIMUM_MYSQL
        if version < minimum:
            server = "MariaDB" if mariadb else "MySQL"
            return (f"{server} {'.'.join(map(str, version))} is older than "
                    f"{'.'.join(map(str, minimum))}")
        return None
    return (f"the {vendor!r} database backend is not one healthd writes to "
            "(PostgreSQL, MySQL / MariaDB and SQLite are)")


def _connection_for(model: type[models.Model]) -> BaseDatabaseWrapper:
    return connections[router.db_for_write(model)]


class _Names(dict):
    """Quotes any ``{name}`` of a template as a column name of the connection."""

    def __init__(self, connection: BaseDatabaseWrapper, table: str):
        super().__init__(t=connection.ops.quote_name(table))
        self.quote = connection.ops.quote_name

    def __missing__(self, key: str) -> str:
        return str(self.quote(key))


def _render(connection: BaseDatabaseWrapper, table: str, template: str) -> str:
    return template.format_map(_Names(connection, table))


# --- a run's history: one insert, one rollup upsert, one or two state upserts ----------


def insert_results(rows: Sequence[tuple]) -> None:
    """The run's results, one row each (RESULT_COLUMNS), in one statement."""
    _insert(CheckResult, RESULT_COLUMNS, rows, "")


def add_to_rollups(rows: Sequence[tuple]) -> None:
    """Add each (name, hour) total (ROLLUP_COLUMNS: counts, durations and the duration
    buckets) to its hourly rollup, creating it.

    The adding happens in SQL, so two workers adding to one hour at once both count; rows
    should come sorted by (name, hour), so that two writers lock them in the same order.
    """
    _insert(HourlyRollup, ROLLUP_COLUMNS, rows,
            _adding_tail(_connection_for(HourlyRollup), ["name", "hour"],
                         ["runs", "failures", "warnings", "duration_sum", *BUCKET_COLUMNS],
                         greatest=["duration_max"]))


def add_to_daily_rollups(rows: Sequence[tuple]) -> None:
    """Add each (name, day) total (DAILY_COLUMNS) to its daily rollup, creating it; the
    day's first hour is the earlier one. Sorted by (name, day), as for the hourly ones."""
    _insert(DailyRollup, DAILY_COLUMNS, rows,
            _adding_tail(_connection_for(DailyRollup), ["name", "day"],
                         ["runs", "failures", "warnings", "duration_sum"],
                         greatest=["duration_max"], least=["first_hour"]))


def _adding_tail(connection: BaseDatabaseWrapper, key: list[str], added: list[str],
                 greatest: Sequence[str] = (), least: Sequence[str] = ()) -> str:
    """An upsert's clause that adds the inserted row's ``added`` columns to the stored
    row's, and keeps the greater (lesser) of each of ``greatest`` (``least``)."""
    def q(column: str) -> str:
        return "{" + column + "}"

    if connection.vendor == "mysql":
        changes = [f"{q(c)} = {q(c)} + VALUES({q(c)})" for c in added]
        changes += [f"{q(c)} = GREATEST({q(c)}, VALUES({q(c)}))" for c in greatest]
        changes += [f"{q(c)} = LEAST({q(c)}, VALUES({q(c)}))" for c in least]
        return "ON DUPLICATE KEY UPDATE " + ", ".join(changes)
    changes = [f"{q(c)} = {{t}}.{q(c)} + EXCLUDED.{q(c)}" for c in added]
    changes += [f"{q(c)} = CASE WHEN EXCLUDED.{q(c)} > {{t}}.{q(c)} THEN EXCLUDED.{q(c)} "
                f"ELSE {{t}}.{q(c)} END" for c in greatest]
    changes += [f"{q(c)} = CASE WHEN EXCLUDED.{q(c)} < {{t}}.{q(c)} THEN EXCLUDED.{q(c)} "
                f"ELSE {{t}}.{q(c)} END" for c in least]
    return (f"ON CONFLICT ({', '.join(q(c) for c in key)}) DO UPDATE SET "
            + ", ".join(changes))


def insert_rows(model: type[models.Model], columns: list[str], rows: Sequence[tuple]) -> None:
    """Plain rows of ``model`` (a rebuild's rollups), in as few statements as they take."""
    _insert(model, columns, rows, "")


def upsert_states(rows: Sequence[tuple], moved: bool) -> None:
    """Each check's current state (STATE_COLUMNS), created or moved by a newer result.

    ``moved``: the rows are transitions, so the state becomes theirs, since their time,
    with a streak of one; else the state stays and its streak grows when the result
    agrees with it. Either way the latest result's time, message and duration are kept,
    and an older result than the stored one changes nothing. Each name at most once.
    """
    connection = _connection_for(CheckStatus)
    if connection.vendor == "mysql":
        # No WHERE on ON DUPLICATE KEY UPDATE: each column keeps its value unless the
        # result is not older; and the assignments run left to right, each seeing the
        # ones before, so last_checked_at, which the condition reads, is set last.
        newer = "{last_checked_at} <= VALUES({last_checked_at})"
        if moved:
            changes = ["{status} = IF(%s, VALUES({status}), {status})",
                       "{since} = IF(%s, VALUES({since}), {since})",
                       "{streak} = IF(%s, 1, {streak})"]
        else:
            changes = ["{streak} = IF(%s AND {status} = VALUES({status}), {streak} + 1, "
                       "{streak})"]
        changes += ["{last_message} = IF(%s, VALUES({last_message}), {last_message})",
                    "{last_duration} = IF(%s, VALUES({last_duration}), {last_duration})",
                    "{last_checked_at} = GREATEST({last_checked_at}, VALUES({last_checked_at}))"]
        tail = "ON DUPLICATE KEY UPDATE " + ", ".join(c.replace("%s", newer) for c in changes)
    else:
        if moved:
            changes = ["{status} = EXCLUDED.{status}", "{since} = EXCLUDED.{since}",
                       "{streak} = 1"]
        else:
            changes = ["{streak} = CASE WHEN {t}.{status} = EXCLUDED.{status} "
                       "THEN {t}.{streak} + 1 ELSE {t}.{streak} END"]
        changes += ["{last_checked_at} = EXCLUDED.{last_checked_at}",
                    "{last_message} = EXCLUDED.{last_message}",
                    "{last_duration} = EXCLUDED.{last_duration}"]
        tail = ("ON CONFLICT ({name}) DO UPDATE SET " + ", ".join(changes)
                + " WHERE {t}.{last_checked_at} <= EXCLUDED.{last_checked_at}")
    _insert(CheckStatus, STATE_COLUMNS, rows, tail)


def _insert(model: type[models.Model], columns: list[str], rows: Sequence[tuple],
            tail: str) -> None:
    """Insert many rows in one statement, followed by ``tail`` (an upsert's clause).

    The rows come from a multi-row ``VALUES`` on SQLite (as many as its parameter limit
    allows a statement) and on MySQL (as many as fit a statement: :mod:`.rows`); on
    PostgreSQL from one JSON array, each column cast to its type, because psycopg renders
    every parameter (and parses every placeholder) in Python, and a thousand rows' seven
    thousand took longer than the rest of the run. ``bulk_create`` is not used: it cost
    three times the CPU for a thousand rows, and splits them by Django's 999-parameter
    guess on SQLite. Values are str, int, float, None or an aware datetime.
    """
    if not rows:
        return
    connection = _connection_for(model)
    table = model._meta.db_table
    fields = [cast(models.Field, model._meta.get_field(name)) for name in columns]
    listed = ", ".join("{" + column + "}" for column in columns)
    head = _render(connection, table, f"INSERT INTO {{t}} ({listed}) ")
    tail = " " + _render(connection, table, tail) if tail else ""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            values = ", ".join(f"(r->>{index})::{field.db_type(connection)}"
                               for index, field in enumerate(fields))
            cursor.execute(
                f"{head}SELECT {values} FROM json_array_elements(%s::json) AS r{tail}",  # noqa: S608
                [rows_io.json_rows(rows)])
            return
        prepared = rows_io.prepared(connection, fields, rows)
        placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
        for chunk in rows_io.chunks(connection, prepared, len(columns)):
            cursor.execute(f"{head}VALUES {', '.join([placeholders] * len(chunk))}{tail}",
                           [value for row in chunk for value in row])


# --- reports -----------------------------------------------------------------------------


def _result_names(connection: BaseDatabaseWrapper) -> _Names:
    return _Names(connection, CheckResult._meta.db_table)


def latest_results(connection: BaseDatabaseWrapper, names: list[str], length: int,
                   since: datetime.datetime | None = None
                   ) -> list[tuple[str, str, datetime.datetime, float]]:
    """(name, status, checked_at, duration) of each check's latest ``length`` results (at
    or after ``since`` when given), newest first within a check, read check by check from
    the (name, checked_at) index under a LIMIT: the cost is the checks times ``length``,
    whatever the number of a check's rows or the age of its latest one.

    PostgreSQL: a LATERAL join over the names. MySQL / MariaDB: one ``ORDER BY … LIMIT``
    per check joined by UNION ALL (MariaDB has no LATERAL). SQLite: per check, one index
    probe for the time of its ``length``-th newest result, then the index range above it
    (SQLite caps a compound SELECT at 500 parts); ties at that time may give a few more.
    """
    if not names:
        return []
    names_ = _result_names(connection)
    bounded = " AND result.{checked_at} >= %s" if since is not None else ""
    since_value = (connection.ops.adapt_datetimefield_value(since) if since is not None
                   and connection.vendor != "postgresql" else since)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                ("SELECT wanted.name, latest.{status}, latest.{checked_at}, latest.{duration} "  # noqa: S608
                 "FROM unnest(%s::text[]) AS wanted(name) CROSS JOIN LATERAL ("
                 "SELECT result.{status}, result.{checked_at}, result.{duration} FROM {t} AS "
                 "result WHERE result.{name} = wanted.name" + bounded +
                 " ORDER BY result.{checked_at} DESC LIMIT %s) AS latest"
                 ).format_map(names_),
                [list(names), *([since] if since is not None else []), length])
            return cursor.fetchall()
        if connection.vendor == "mysql":
            one_check = ("(SELECT result.{name}, result.{status}, result.{checked_at}, "  # noqa: S608
                         "result.{duration} FROM {t} AS result WHERE result.{name} = %s"
                         + bounded + " ORDER BY result.{checked_at} DESC LIMIT %s)"
                         ).format_map(names_)
            found: list[tuple[str, str, datetime.datetime, float]] = []
            for start in range(0, len(names), 400):
                part = names[start:start + 400]
                cursor.execute(" UNION ALL ".join([one_check] * len(part)), [
                    value for name in part
                    for value in (name, *([since_value] if since is not None else []),
                                  length)])
                found += [(name, status, _aware(connection, at), duration)
                          for name, status, at, duration in cursor.fetchall()]
            return found
        wanted = ", ".join("(%s)" for _ in names)
        query = (
            f"WITH wanted(name) AS (VALUES {wanted}), "  # noqa: S608 - placeholders only
            "bound(name, since) AS (SELECT wanted.name, COALESCE("
            "(SELECT result.{checked_at} FROM {t} AS result WHERE result.{name} = wanted.name"
            + bounded + " ORDER BY result.{checked_at} DESC LIMIT 1 OFFSET %s), %s) "
            "FROM wanted) "
            "SELECT result.{name}, result.{status}, result.{checked_at}, result.{duration} "
            "FROM bound JOIN {t} AS result ON result.{name} = bound.name "
            "AND result.{checked_at} >= bound.since ORDER BY result.{name}, "
            "result.{checked_at} DESC"
        ).format_map(names_)
        lowest = since_value if since is not None else "0"
        cursor.execute(query, [*names, *([since_value] if since is not None else []),
                               length - 1, lowest])
        return [(name, status, _aware(connection, at), duration)
                for name, status, at, duration in cursor.fetchall()]


def _aware(connection: BaseDatabaseWrapper, value: object) -> datetime.datetime:
    """A datetime as the ORM would give it back: aware, in UTC (SQLite gives text, MySQL
    a naive UTC time)."""
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    if isinstance(value, datetime.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return cast(datetime.datetime, value)


def hour_buckets(connection: BaseDatabaseWrapper, since: datetime.datetime,
                 until: datetime.datetime, bounds: Sequence[float]) -> list[tuple]:
    """The results of ``[since, until)`` counted per (name, hour, duration bucket): rows of
    (name, hour, bucket, runs, failures, warnings, duration_sum, duration_max), for a
    rebuild of the hourly rollups. A duration's bucket is how many of ``bounds`` it
    reaches (PostgreSQL's ``width_bucket``; elsewhere a sum of comparisons), as
    :func:`healthd.history.buckets.bucket_of` counts it."""
    names_ = _result_names(connection)
    if connection.vendor == "postgresql":
        hour = "date_trunc('hour', {checked_at})"
        bucket = "width_bucket({duration}, %s::float8[])"
        bucket_params: list = [list(bounds)]
    else:
        hour = ("DATE_FORMAT({checked_at}, '%%Y-%%m-%%d %%H:00:00')"
                if connection.vendor == "mysql"
                else "strftime('%%Y-%%m-%%d %%H:00:00', {checked_at})")
        bucket = "(" + " + ".join(["(CASE WHEN {duration} >= %s THEN 1 ELSE 0 END)"]
                                  * len(bounds)) + ")"
        bucket_params = list(bounds)
    query = (
        f"SELECT {{name}}, {hour}, {bucket}, COUNT(*), "  # noqa: S608 - names only
        "SUM(CASE WHEN {status} = 'failing' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN {status} = 'warning' THEN 1 ELSE 0 END), "
        "SUM({duration}), MAX({duration}) FROM {t} "
        "WHERE {checked_at} >= %s AND {checked_at} < %s GROUP BY 1, 2, 3"
    ).format_map(names_)
    params = [*bucket_params, connection.ops.adapt_datetimefield_value(since),
              connection.ops.adapt_datetimefield_value(until)]
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return [(name, _aware(connection, hour_at), *rest)
                for name, hour_at, *rest in cursor.fetchall()]


# --- the admin ---------------------------------------------------------------------------


def estimated_row_count(model: type[models.Model]) -> int | None:
    """PostgreSQL's estimate of a table's rows, from its planner statistics (None when
    the table was never analysed, and on the other databases, whose pages count up to
    a cap instead: InnoDB's estimate may be off by half, and SQLite keeps none)."""
    connection = connections[model._default_manager.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                       [connection.ops.quote_name(model._meta.db_table)])
        row = cursor.fetchone()
    # -1 (PostgreSQL 14+) or 0 means the table was never analysed: no estimate.
    if not row or row[0] is None or row[0] <= 0:
        return None
    return int(row[0])


def converts_time_zone(connection: BaseDatabaseWrapper, zone: str) -> bool:
    """Whether MySQL / MariaDB converts UTC to ``zone`` (its time zone tables are
    loaded), as Django's date truncations in a zone other than UTC need."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT CONVERT_TZ('2000-01-01 00:00:00', 'UTC', %s)", [zone])
        row = cursor.fetchone()
    return bool(row and row[0] is not None)


# --- migrations --------------------------------------------------------------------------

# The time indexes whose descending column MySQL / MariaDB keep ascending (see below).
ASCENDING_ON_MYSQL = {CheckResult: ["healthd_result_time", "healthd_result_status_time"],
                      Transition: ["healthd_transition_name_at"]}


def time_indexes_for_mysql(connection: BaseDatabaseWrapper, ascending: bool = True) -> None:
    """On MySQL / MariaDB, make the history's time indexes ascending (``ascending=False``:
    as the models declare them, descending); elsewhere nothing.

    The admin lists the newest first, ties by id: ``ORDER BY checked_at DESC, id DESC``.
    InnoDB ends every secondary index with the primary key, ascending, so a descending
    index on checked_at cannot give that order and MariaDB sorted all 2,000,000 rows for
    each page (2.3 s); an ascending one read backwards gives it as is, 100 rows read. Each
    table is rebuilt in one ALTER, online (other statements keep running).
    """
    if connection.vendor != "mysql":
        return
    quote = connection.ops.quote_name
    for model, names in ASCENDING_ON_MYSQL.items():
        changes = []
        for index in model._meta.indexes:
            if index.name not in names:
                continue
            columns = ", ".join(
                quote(str(cast(models.Field, model._meta.get_field(field.lstrip("-"))).column))
                + (" DESC" if field.startswith("-") and not ascending else "")
                for field in index.fields)
            changes += [f"DROP INDEX {quote(index.name)}",
                        f"ADD INDEX {quote(index.name)} ({columns})"]
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {quote(model._meta.db_table)} {', '.join(changes)}, "
                           "ALGORITHM=INPLACE, LOCK=NONE")


def create_search_index(connection: BaseDatabaseWrapper) -> None:
    """On PostgreSQL, a GIN trigram index serving the admin's search (``icontains`` on
    name and message, ``UPPER(column::text) LIKE …``); elsewhere nothing.

    Built ``CONCURRENTLY``, outside a transaction, so workers keep writing history while
    it builds. Where pg_trgm cannot be created (no privilege), says so and goes on.
    """
    if connection.vendor != "postgresql":
        return
    table = connection.ops.quote_name(CheckResult._meta.db_table)
    with connection.cursor() as cursor:
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except DatabaseError as exc:
            print(f"\n  healthd: no trigram index for the admin's search ({exc})".rstrip())
            return
        # A build interrupted earlier leaves an invalid index under the name: start again.
        cursor.execute("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
                       [SEARCH_INDEX])
        invalid = cursor.fetchone()
        if invalid and invalid[0]:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {SEARCH_INDEX}")
        cursor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {SEARCH_INDEX} ON {table} USING gin "
            "((UPPER(name::text)) gin_trgm_ops, (UPPER(message::text)) gin_trgm_ops)")


def drop_search_index(connection: BaseDatabaseWrapper) -> None:
    """Undo :func:`create_search_index` (nothing elsewhere than on PostgreSQL)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {SEARCH_INDEX}")
