"""Benchmark: the history pages at 2,000,000 results on MariaDB and on SQLite.

Not part of the test run. The same data and pages as :mod:`bench.history_slope` (which
fills PostgreSQL with ``generate_series``): 200 checks over 90 days, the even ones still
running, the odd ones stopped an hour ago, filled in SQL suited to each database
(MariaDB's ``seq_0_to_N`` sequence table, a recursive CTE on SQLite), every summary made
by ``manage.py healthd_rollups --rebuild``; then the admin's current-state page (200
checks, 20 stopped, 20 running, with their queries), the status page read afresh, the
history API's daily series over 366 days, and the retention pass over half of the rows.

    # from the repository root:
    PYTHONPATH=. \\
      DATABASE_URL=mysql://root@127.0.0.1:3306/healthd_bench_slope \\
      REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/python -m bench.history_databases

    DATABASE_URL=sqlite:////tmp/healthd_bench_slope.sqlite3 ... -m bench.history_databases

``--reuse`` measures what a previous run left (no fill, no rebuild); ``--no-prune``
leaves the retention pass out (it deletes half of the rows).
"""

from __future__ import annotations

import argparse
import time

from bench import admin_history, database, history_slope
from bench.history_slope import CHECKS, TABLES, check_name, configure, spacing

DEFAULT_DATABASE_URL = "mysql://root@127.0.0.1:3306/healthd_bench_slope"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"


def fill(rows: int) -> float:
    """Empty healthd's tables and fill ``rows`` results; return seconds."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", interactive=False, verbosity=0)
    started = time.perf_counter()
    empty = "TRUNCATE TABLE" if connection.vendor == "mysql" else "DELETE FROM"
    with connection.cursor() as cursor:
        for table in TABLES:
            if table in connection.introspection.table_names():
                cursor.execute(f"{empty} {table}")  # our own table names
    if connection.vendor == "mysql":
        _fill_mysql(rows)
    elif connection.vendor == "sqlite":
        _fill_sqlite(rows)
    else:
        raise SystemExit("PostgreSQL: python -m bench.history_slope")
    return time.perf_counter() - started


# Row g is check g % CHECKS, (g / CHECKS) runs before its last; odd checks stopped an hour
# ago. Each check fails 5 runs in every 2,000: the rows of bench.history_slope.fill.


def _fill_mysql(rows: int) -> None:
    """MariaDB's Sequence engine counts the rows (``seq_0_to_N``); a naive UTC time, as
    Django's MySQL backend stores one."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO healthd_checkresult
                (name, status, message, value, unit, duration, checked_at, host)
            SELECT CONCAT('check-', LPAD(g.seq %% %(checks)s, 3, '0')),
                   CASE WHEN (g.seq DIV %(checks)s) %% 2000 < 5 THEN 'failing'
                        WHEN g.seq %% 211 = 0 THEN 'warning' ELSE 'passing' END,
                   CASE WHEN (g.seq DIV %(checks)s) %% 2000 < 5 THEN 'connection refused'
                        ELSE 'ok' END,
                   NULL, '', 0.001 * (1 + (g.seq %% 97)) * (1 + (g.seq %% 7)),
                   UTC_TIMESTAMP(6) - INTERVAL ROUND(1000000 * (1 + (g.seq DIV %(checks)s)
                       * %(spacing)s + IF(g.seq %% 2 = 1, 3600, 0))) MICROSECOND,
                   'bench-host'
            FROM seq_0_to_{int(rows) - 1} AS g
            """,  # noqa: S608 - an integer
            {"checks": CHECKS, "spacing": spacing(rows)},
        )
        cursor.execute("ANALYZE TABLE healthd_checkresult")


def _fill_sqlite(rows: int) -> None:
    """A recursive CTE counts the rows; times as the text Django's SQLite backend writes
    (UTC, space-separated, microseconds)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n < %s - 1),
            at(n, us) AS (SELECT n, CAST(round(%s - 1000000 * (1 + (n / %s) * %s
                                               + CASE WHEN n %% 2 = 1 THEN 3600 ELSE 0 END))
                                         AS INTEGER) FROM g)
            INSERT INTO healthd_checkresult
                (name, status, message, value, unit, duration, checked_at, host)
            SELECT printf('check-%%03d', n %% %s),
                   CASE WHEN (n / %s) %% 2000 < 5 THEN 'failing'
                        WHEN n %% 211 = 0 THEN 'warning' ELSE 'passing' END,
                   CASE WHEN (n / %s) %% 2000 < 5 THEN 'connection refused' ELSE 'ok' END,
                   NULL, '', 0.001 * (1 + (n %% 97)) * (1 + (n %% 7)),
                   strftime('%%Y-%%m-%%d %%H:%%M:%%S', us / 1000000, 'unixepoch')
                       || printf('.%%06d', us %% 1000000),
                   'bench-host'
            FROM at
            """,
            [rows, round(time.time() * 1_000_000), CHECKS, spacing(rows), CHECKS, CHECKS,
             CHECKS],
        )
        cursor.execute("ANALYZE")


def rebuild() -> float:
    """Every summary by ``healthd_rollups --rebuild``, then the tables' statistics."""
    from django.core.management import call_command
    from django.db import connection

    started = time.perf_counter()
    call_command("healthd_rollups", rebuild=True)
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            cursor.execute(f"ANALYZE TABLE {', '.join(TABLES)}")
        else:
            cursor.execute("ANALYZE")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--reuse", action="store_true",
                        help="measure the rows a previous run left, without filling")
    parser.add_argument("--no-prune", action="store_true",
                        help="leave the retention pass (half of the rows) out")
    args = parser.parse_args()
    database.setup_django(DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL)
    admin_history.describe_machine()
    rows = args.rows
    configure([check_name(i) for i in range(CHECKS)], spacing(rows))
    print(f"\n{rows:,} results, {CHECKS} checks over {history_slope.DAYS} days:", flush=True)
    try:
        if not args.reuse:
            print(f"  filled in {fill(rows):.1f} s", flush=True)
            print(f"  summaries rebuilt in {rebuild():.1f} s", flush=True)
        found = history_slope.measure(rows)
        if not args.no_prune:
            found["retention, half of the rows (ms)"] = (history_slope.prune(), None)
    finally:
        admin_history.cleanup_redis()
    print(f"\n| page | {rows / 1e6:g} M |\n| --- | ---: |")
    for label, (ms, queries) in found.items():
        print(f"| {label} | {ms:.1f} ms" + (f", {queries} q" if queries is not None else "")
              + " |")


if __name__ == "__main__":
    main()
