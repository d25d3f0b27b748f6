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
import re
import sqlite3
from collections.abc import Sequence
from typing import cast

from django.db import DatabaseError, connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper

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


_MYSQL_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)

#: The (name, checked_at, duration) index of the results, which the strip reads.
STRIP_INDEX = "healthd_result_name_time_dur"


def latest_results(connection: BaseDatabaseWrapper, names: list[str], length: int,
                   since: datetime.datetime | None = None,
                   recent: datetime.datetime | None = None
                   ) -> list[tuple[str, str, datetime.datetime, float]]:
    """(name, status, checked_at, duration) of each check's latest ``length`` results (at
    or after ``since`` when given), newest first within a check, read check by check from
    the (name, checked_at) index under a LIMIT: the cost is the checks times ``length``,
    whatever the number of a check's rows or the age of its latest one.

    PostgreSQL: a LATERAL join over the names. With ``recent``, each check first reads its
    results since then and only when they are too few the older ones: where results are
    partitioned by day, the first part is planned over the few recent partitions, and the
    older ones (a Merge Append that would otherwise probe every day's index for every
    check, a default partition forbidding an ordered Append) are never opened for a
    check that is running. Times come back as integer microseconds (exact, and a
    tenth of the cost of parsing 10,000 timestamps' text). MySQL / MariaDB: one
    ``ORDER BY … LIMIT`` per check joined by UNION ALL (MariaDB has no LATERAL). SQLite:
    per check, one index probe for the time of its ``length``-th newest result, then the
    index range above it (SQLite caps a compound SELECT at 500 parts); ties at that time
    may give a few more. Neither is partitioned: ``recent`` is not used there.
    """
    if not names:
        return []
    names_ = _result_names(connection)
    bounded = " AND result.{checked_at} >= %s" if since is not None else ""
    since_value = (connection.ops.adapt_datetimefield_value(since) if since is not None
                   and connection.vendor != "postgresql" else since)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            one_part = ("(SELECT result.{status}, (extract(epoch FROM result.{checked_at}) "  # noqa: S608
                        "* 1000000)::bigint AS at_us, result.{duration} FROM {t} AS result "
                        "WHERE result.{name} = wanted.name" + bounded + "{part} "
                        "ORDER BY result.{checked_at} DESC LIMIT %s)")
            params: list = [list(names)]
            if recent is None:
                latest = one_part.replace("{part}", "")
                params += [*([since] if since is not None else []), length]
            else:
                latest = " UNION ALL ".join([
                    one_part.replace("{part}", " AND result.{checked_at} >= %s"),
                    one_part.replace("{part}", " AND result.{checked_at} < %s")]
                ) + " LIMIT %s"
                params += [*([since] if since is not None else []), recent, length,
                           *([since] if since is not None else []), recent, length, length]
            cursor.execute(
                ("SELECT wanted.name, latest.{status}, latest.at_us, latest.{duration} "
                 "FROM unnest(%s::text[]) AS wanted(name) CROSS JOIN LATERAL ("
                 + latest + ") AS latest").format_map(names_), params)
            return [(name, status, _EPOCH + datetime.timedelta(microseconds=at), duration)
                    for name, status, at, duration in cursor.fetchall()]
        if connection.vendor == "mysql":
            # The time as integer microseconds since 1970 of the naive UTC time stored:
            # exact, and a third less time than the driver's parsing of 10,000 datetimes.
            one_check = ("(SELECT result.{name}, result.{status}, TIMESTAMPDIFF(MICROSECOND, "  # noqa: S608
                         "'1970-01-01', result.{checked_at}), "
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
                found += [(name, status, _MYSQL_EPOCH + datetime.timedelta(microseconds=at),
                           duration) for name, status, at, duration in cursor.fetchall()]
            return found
        # Both reads name their index (INDEXED BY): the status is not in it, and with the
        # statistics of a large table SQLite's planner would rather build an automatic
        # covering index of the whole table on every read (50 s at 2,000,000 results,
        # against 20 ms).
        wanted = ", ".join("(%s)" for _ in names)
        query = (
            f"WITH wanted(name) AS (VALUES {wanted}), "  # noqa: S608 - placeholders only
            "bound(name, since) AS (SELECT wanted.name, COALESCE("
            "(SELECT result.{checked_at} FROM {t} AS result INDEXED BY {" + STRIP_INDEX + "} "
            "WHERE result.{name} = wanted.name"
            + bounded + " ORDER BY result.{checked_at} DESC LIMIT 1 OFFSET %s), %s) "
            "FROM wanted) "
            "SELECT result.{name}, result.{status}, result.{checked_at}, result.{duration} "
            "FROM bound JOIN {t} AS result INDEXED BY {" + STRIP_INDEX + "} "
            "ON result.{name} = bound.name "
            "AND result.{checked_at} >= bound.since ORDER BY result.{name}, "
            "result.{checked_at} DESC"
        ).format_map(names_)
        lowest = since_value if since is not None else "0"
        cursor.execute(query, [*names, *([since_value] if since is not None else []),
                               length - 1, lowest])
        return [(name, status, _aware(connection, at), duration)
                for name, status, at, duration in cursor.fetchall()]


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


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
        # A partitioned table keeps no estimate of its own: its partitions' are summed.
        cursor.execute(
            "SELECT sum(greatest(reltuples, 0))::bigint FROM pg_class WHERE oid = "
            "to_regclass(%s) OR oid IN (SELECT inhrelid FROM pg_inherits "
            "WHERE inhparent = to_regclass(%s))",
            [connection.ops.quote_name(model._meta.db_table)] * 2)
        row = cursor.fetchone()
    # -1 (PostgreSQL 14+, counted as 0 here) or 0 means never analysed: no estimate.
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
        columns = "((UPPER(name::text)) gin_trgm_ops, (UPPER(message::text)) gin_trgm_ops)"
        if results_partitioned(connection):
            # No CONCURRENTLY on a partitioned table: the parent's index is made for it
            # alone, each partition's concurrently and then attached, which makes it whole.
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {SEARCH_INDEX} ON ONLY {table} "
                           f"USING gin {columns}")
            for partition in result_partitions(connection):
                child = connection.ops.quote_name(f"{partition[:45]}_search_trgm")
                cursor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {child} ON "
                               f"{connection.ops.quote_name(partition)} USING gin {columns}")
                cursor.execute(f"ALTER INDEX {SEARCH_INDEX} ATTACH PARTITION {child}")
            return
        # A build interrupted earlier leaves an invalid index under the name: start again.
        cursor.execute("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
                       [SEARCH_INDEX])
        invalid = cursor.fetchone()
        if invalid and invalid[0]:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {SEARCH_INDEX}")
        cursor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {SEARCH_INDEX} ON {table} "
                       f"USING gin {columns}")


def drop_search_index(connection: BaseDatabaseWrapper) -> None:
    """Undo :func:`create_search_index` (nothing elsewhere than on PostgreSQL)."""
    if connection.vendor != "postgresql":
        return
    concurrently = "" if results_partitioned(connection) else "CONCURRENTLY "  # not there
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX {concurrently}IF EXISTS {SEARCH_INDEX}")


# --- results partitioned by day, on PostgreSQL -------------------------------------------
#
# Only on PostgreSQL; the names and days come from healthd.history.partitions, which
# decides when. A DDL statement takes no parameters: the only values put into these
# statements are the model's own names, partition names healthd makes ("…_p20261206")
# and ISO timestamps it formats from dates.

RESULT_TABLE = CheckResult._meta.db_table
DEFAULT_PARTITION = f"{RESULT_TABLE}_default"
# What the conversion names the table it replaces, until it drops it; and the new one.
REPLACED_TABLE = f"{RESULT_TABLE}_replaced"
NEW_TABLE = f"{RESULT_TABLE}_new"
# How long a partition's DDL waits for its lock before giving up until the next pass: a
# waiting ACCESS EXCLUSIVE request queues every later reader and writer behind it.
LOCK_TIMEOUT = "3s"
# Serialises healthd's partition DDL between processes (any constant of healthd's own).
_ADVISORY_LOCK = 0x6865616C
_INDEX_TARGET = re.compile(r" ON (?:ONLY )?\S+ USING ")


def _timestamp(moment: datetime.datetime) -> str:
    return "'" + moment.astimezone(datetime.UTC).isoformat() + "'"


def results_partitioned(connection: BaseDatabaseWrapper) -> bool:
    """Whether the results table is a partitioned table (only ever on PostgreSQL)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)",
                       [connection.ops.quote_name(RESULT_TABLE)])
        row = cursor.fetchone()
    return bool(row and row[0] == "p")


def result_partitions(connection: BaseDatabaseWrapper) -> list[str]:
    """The names of the results table's partitions (the default one included)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname FROM pg_inherits JOIN pg_class AS child "
            "ON child.oid = pg_inherits.inhrelid WHERE pg_inherits.inhparent = to_regclass(%s) "
            "ORDER BY child.relname", [connection.ops.quote_name(RESULT_TABLE)])
        return [name for (name,) in cursor.fetchall()]


def days_in_default_partition(connection: BaseDatabaseWrapper) -> list[datetime.date]:
    """The UTC days of the rows that landed in the default partition (it is small: only
    results for a day that had no partition yet)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT (checked_at AT TIME ZONE 'UTC')::date "  # noqa: S608
            f"FROM {quote(DEFAULT_PARTITION)} ORDER BY 1")
        return [day for (day,) in cursor.fetchall()]


def days_with_results(connection: BaseDatabaseWrapper,
                      starts: Sequence[datetime.datetime]) -> list[datetime.datetime]:
    """Those of the days starting at ``starts`` that hold a result (one index probe each)."""
    query = ("SELECT start FROM unnest(%s::timestamptz[]) AS start WHERE EXISTS ("
             "SELECT 1 FROM {t} WHERE {checked_at} >= start "
             "AND {checked_at} < start + interval '1 day') ORDER BY start"
             ).format_map(_result_names(connection))
    with connection.cursor() as cursor:
        cursor.execute(query, [list(starts)])
        return [start for (start,) in cursor.fetchall()]


def attach_partition(connection: BaseDatabaseWrapper, name: str, start: datetime.datetime,
                     end: datetime.datetime) -> int:
    """Create the partition ``name`` for [start, end), moving into it the rows of that
    range the default partition holds; returns how many moved (0 when it existed).

    Made as a plain table and then attached, because ``CREATE TABLE … PARTITION OF``
    locks the whole results table (ACCESS EXCLUSIVE) while ``ATTACH PARTITION`` takes
    only SHARE UPDATE EXCLUSIVE on it: reads and writes go on. The CHECK constraint
    spares the attach a scan of the new table; the default partition is locked while its
    rows of the range move, so none can arrive there between the move and the attach.
    """
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in CheckResult._meta.concrete_fields)
    lower, upper = _timestamp(start), _timestamp(end)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK])
        cursor.execute("SELECT to_regclass(%s)", [quote(name)])
        if cursor.fetchone()[0] is not None:
            return 0
        cursor.execute(f"LOCK TABLE {quote(DEFAULT_PARTITION)} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(f"CREATE TABLE {quote(name)} (LIKE {quote(RESULT_TABLE)} "
                       "INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        cursor.execute(f"ALTER TABLE {quote(name)} ADD CONSTRAINT {quote(name + '_range')} "
                       f"CHECK (checked_at >= {lower} AND checked_at < {upper})")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {quote(DEFAULT_PARTITION)} "  # noqa: S608
            f"WHERE checked_at >= {lower} AND checked_at < {upper} RETURNING {columns}) "
            f"INSERT INTO {quote(name)} ({columns}) SELECT {columns} FROM moved")
        moved = cursor.rowcount
        cursor.execute(f"ALTER TABLE {quote(RESULT_TABLE)} ATTACH PARTITION {quote(name)} "
                       f"FOR VALUES FROM ({lower}) TO ({upper})")
        cursor.execute(f"ALTER TABLE {quote(name)} DROP CONSTRAINT {quote(name + '_range')}")
    return max(moved, 0)


def drop_partition(connection: BaseDatabaseWrapper, name: str) -> int:
    """Detach and drop one partition; returns how many rows it held.

    The count reads the partition before any lock that stops anyone; the detach and the
    drop take the results table's ACCESS EXCLUSIVE lock for a moment (a detach
    ``CONCURRENTLY`` is refused while a default partition exists), under a lock timeout.
    """
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {quote(name)}")  # noqa: S608
        rows = int(cursor.fetchone()[0])
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK])
        cursor.execute(f"ALTER TABLE {quote(RESULT_TABLE)} DETACH PARTITION {quote(name)}")
        cursor.execute(f"DROP TABLE {quote(name)}")
    return rows


def delete_from_default_partition(connection: BaseDatabaseWrapper,
                                  cutoff: datetime.datetime) -> int:
    """Delete the default partition's rows older than ``cutoff`` (the only DELETE on a
    partitioned results table: that partition holds only strays — results for a day no
    partition was made for, because it was already past the retention)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {quote(DEFAULT_PARTITION)} WHERE checked_at < %s",  # noqa: S608
                       [cutoff])
        return max(cursor.rowcount, 0)


def _copy_committed(cursor: CursorWrapper, table: str, new: str, columns: str, after: int) -> int:
    """Copy the rows of ``table`` after id ``after`` up to a barrier into ``new``; return
    the barrier's id. The barrier (``LOCK … IN SHARE MODE``, a moment) waits for the
    transactions writing results and holds new ones off, so every id up to the largest
    one then seen is committed, and every later row gets a larger id."""
    with transaction.atomic(using=cursor.db.alias):
        cursor.execute(f"LOCK TABLE {table} IN SHARE MODE")
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")  # noqa: S608
        upto = max(int(cursor.fetchone()[0]), after)
    cursor.execute(f"INSERT INTO {new} ({columns}) SELECT {columns} FROM {table} "  # noqa: S608
                   "WHERE id > %s AND id <= %s", [after, upto])
    return upto


def convert_results_table(connection: BaseDatabaseWrapper, partitioned: bool,
                          days: Sequence[tuple[str, datetime.datetime, datetime.datetime]]
                          ) -> None:
    """Replace the results table by a partitioned one (``partitioned``, with a default
    partition and ``days``: (name, start, end)) or back by a plain one, keeping every row.

    Writes go on while the rows are copied and the indexes built; they wait only for
    the final step, which copies the rows written meanwhile and swaps the names:

    1. A barrier: ``LOCK … IN SHARE MODE`` waits for every transaction writing results
       and holds new ones off for a moment, so every id up to the largest one seen is
       committed, and every later row gets a larger id from the sequence.
    2. The rows up to that id are copied, then the indexes are built (with temporary
       names), then the rows written meanwhile are copied under a second barrier, all
       while workers write to the old table.
    3. One short transaction locks the old table against writes (readers go on), copies
       the rows written since the second barrier, carries the id sequence on, and swaps
       the tables' and the indexes' names. The old table is dropped after.

    Must run outside a transaction (each step commits its own). A row deleted from the
    old table during step 2 is copied all the same.
    """
    quote = connection.ops.quote_name
    table, new, replaced = quote(RESULT_TABLE), quote(NEW_TABLE), quote(REPLACED_TABLE)
    columns = ", ".join(quote(str(f.column)) for f in CheckResult._meta.concrete_fields)
    with connection.cursor() as cursor:
        # What an interrupted run may have left.
        cursor.execute(f"DROP TABLE IF EXISTS {new}, {replaced} CASCADE")
        # The new table, its primary key and partitions (no other index yet: faster).
        cursor.execute(f"CREATE TABLE {new} (LIKE {table} INCLUDING DEFAULTS "
                       "INCLUDING IDENTITY INCLUDING CONSTRAINTS)"
                       + (" PARTITION BY RANGE (checked_at)" if partitioned else ""))
        cursor.execute(f"ALTER TABLE {new} ADD CONSTRAINT {quote(NEW_TABLE + '_pkey')} "
                       f"PRIMARY KEY (id{', checked_at' if partitioned else ''})")
        if partitioned:
            cursor.execute(f"CREATE TABLE {quote(DEFAULT_PARTITION)} PARTITION OF {new} DEFAULT")
            for name, start, end in days:
                cursor.execute(f"CREATE TABLE {quote(name)} PARTITION OF {new} FOR VALUES "
                               f"FROM ({_timestamp(start)}) TO ({_timestamp(end)})")
        # 1 and 2: the bulk under a first barrier, then the indexes.
        copied_to = _copy_committed(cursor, table, new, columns, 0)
        cursor.execute(
            "SELECT index.relname, pg_get_indexdef(index.oid) FROM pg_index "
            "JOIN pg_class AS index ON index.oid = pg_index.indexrelid "
            "WHERE pg_index.indrelid = to_regclass(%s) AND NOT pg_index.indisprimary "
            "AND NOT pg_index.indisunique", [table])
        indexes = cursor.fetchall()
        for index, definition in indexes:
            temporary = quote(f"{index[:55]}_swap")
            cursor.execute(f"DROP INDEX IF EXISTS {temporary}")
            definition = definition.replace(f"INDEX {quote(index)} ", f"INDEX {temporary} ", 1)
            definition = definition.replace(f"INDEX {index} ", f"INDEX {temporary} ", 1)
            cursor.execute(_INDEX_TARGET.sub(f" ON {new} USING ", definition, count=1))
        # What was written during the bulk copy and the index builds, under a second
        # barrier, so that the step under the lock has only seconds' worth left.
        copied_to = _copy_committed(cursor, table, new, columns, copied_to)
        # 3. The rows written meanwhile, and the swap.
        with transaction.atomic(using=connection.alias):
            cursor.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
            cursor.execute(f"INSERT INTO {new} ({columns}) SELECT {columns} FROM {table} "  # noqa: S608
                           "WHERE id > %s", [copied_to])
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id'), "
                           "pg_get_serial_sequence(%s, 'id')", [table, new])
            old_sequence, new_sequence = cursor.fetchone()
            if new_sequence and new_sequence != old_sequence:
                cursor.execute(f"SELECT setval(%s, greatest((SELECT max(id) FROM {new}), "  # noqa: S608
                               f"(SELECT last_value FROM {old_sequence}), 1))", [new_sequence])
            elif old_sequence:  # a serial column: its sequence goes to the new table
                cursor.execute(f"ALTER SEQUENCE {old_sequence} OWNED BY {new}.id")
            cursor.execute(f"ALTER TABLE {table} RENAME TO {replaced}")
            cursor.execute(f"ALTER TABLE {new} RENAME TO {table}")
            for index, _ in indexes:
                cursor.execute(f"ALTER INDEX {quote(index)} RENAME TO {quote(index[:55] + '_old')}")
                cursor.execute(f"ALTER INDEX {quote(index[:55] + '_swap')} RENAME TO "
                               f"{quote(index)}")
        cursor.execute(f"DROP TABLE {replaced}")
        cursor.execute(f"ALTER TABLE {table} RENAME CONSTRAINT "
                       f"{quote(NEW_TABLE + '_pkey')} TO {quote(RESULT_TABLE + '_pkey')}")
        if new_sequence and new_sequence != old_sequence:
            cursor.execute(f"ALTER SEQUENCE {new_sequence} RENAME TO "
                           f"{quote(RESULT_TABLE + '_id_seq')}")
