"""Benchmark: the admin's history pages on PostgreSQL with millions of rows.

Not part of the test run. Fills 2,000,000 CheckResult rows for 20 checks, times the
history changelist (unfiltered, by check, by status) and the current-state page with
Django's test client logged in as a superuser (median of 5, and the queries each page
makes); fills them again for 200 checks and times the current-state page again (its
query count must not change); then prunes a backlog of 2,000,000 expired rows while
another thread keeps loading the changelist, and prints the worst admin latency seen
during the pruning. It starts by naming the machine: cores, PostgreSQL, Python, Django.

    # from the repository root:
    PYTHONPATH=. \\
      DATABASE_URL=postgres://postgres@127.0.0.1:5432/healthd_bench \\
      REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/admin_history.py

The database is created when missing; healthd's tables in it are emptied first. With a
SQLite ``DATABASE_URL`` (``sqlite:////tmp/bench.sqlite3``) or a MySQL / MariaDB one
(``mysql://root@127.0.0.1:3306/healthd_bench``) the same rows are filled and the same
pages timed; ``--backlog 0`` leaves the pruning out.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import threading
import time

from bench import database

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/healthd_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
CHECK_COUNTS = (20, 200)
# One result per check every 12 s.
SECONDS_BETWEEN_RUNS = 12.0


def setup_django() -> None:
    database.setup_django(DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL)


def configure_checks(count: int) -> None:
    """Make ``count`` database checks the configured ones."""
    from django.test.utils import override_settings

    from tests.site import settings as test_settings

    checks = [{"check": "database", "name": check_name(i)} for i in range(count)]
    override_settings(HEALTHD={**test_settings.HEALTHD, "CHECKS": checks}).enable()


def check_name(index: int) -> str:
    return f"check-{index:03d}"


def describe_machine() -> None:
    """Name what the figures were measured on."""
    import django
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT sqlite_version()")
            server = f"SQLite {cursor.fetchone()[0]}"
        elif connection.vendor == "mysql":
            cursor.execute("SELECT VERSION()")
            server = f"MySQL {cursor.fetchone()[0]}"
        else:
            cursor.execute("SHOW server_version")
            server = f"PostgreSQL {cursor.fetchone()[0]}"
    print(f"machine: {os.cpu_count()} cores ({platform.machine()}), {server}, "
          f"Python {platform.python_version()}, Django {django.get_version()}", flush=True)


def fill_results(rows: int, newest_seconds_ago: float, spacing_seconds: float,
                 checks: int) -> float:
    """Insert ``rows`` results round-robin over ``checks`` checks, newest first; return
    seconds."""
    from django.db import connection

    started = time.perf_counter()
    if connection.vendor == "sqlite":
        _fill_results_sqlite(rows, newest_seconds_ago, spacing_seconds, checks)
        return time.perf_counter() - started
    if connection.vendor == "mysql":
        _fill_results_mysql(rows, newest_seconds_ago, spacing_seconds, checks)
        return time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO healthd_checkresult
                (name, status, message, value, unit, duration, checked_at, host)
            SELECT 'check-' || lpad((g %% %(checks)s)::text, 3, '0'),
                   CASE WHEN g %% 997 = 0 THEN 'failing'
                        WHEN g %% 211 = 0 THEN 'warning' ELSE 'passing' END,
                   CASE WHEN g %% 997 = 0 THEN 'connection refused' ELSE 'ok' END,
                   NULL, '', 0.001 + (g %% 100) / 10000.0,
                   now() - make_interval(secs => %(newest)s + g * %(spacing)s),
                   'bench-host'
            FROM generate_series(1, %(rows)s) AS g
            """,
            {"checks": checks, "rows": rows, "newest": newest_seconds_ago,
             "spacing": spacing_seconds},
        )
    return time.perf_counter() - started


def _fill_results_sqlite(rows: int, newest_seconds_ago: float, spacing_seconds: float,
                         checks: int) -> None:
    """fill_results on SQLite: the same rows, counted by a recursive CTE."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < %s)
            INSERT INTO healthd_checkresult
                (name, status, message, value, unit, duration, checked_at, host)
            SELECT printf('check-%%03d', n %% %s),
                   CASE WHEN n %% 997 = 0 THEN 'failing'
                        WHEN n %% 211 = 0 THEN 'warning' ELSE 'passing' END,
                   CASE WHEN n %% 997 = 0 THEN 'connection refused' ELSE 'ok' END,
                   NULL, '', 0.001 + (n %% 100) / 10000.0,
                   strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now',
                            printf('-%%f seconds', %s + n * %s)),
                   'bench-host'
            FROM g
            """,
            [rows, checks, newest_seconds_ago, spacing_seconds],
        )


def _fill_results_mysql(rows: int, newest_seconds_ago: float, spacing_seconds: float,
                        checks: int) -> None:
    """fill_results on MySQL / MariaDB: the same rows, counted by a cross join of digits
    (MySQL 8 stops a recursive CTE at 1,000 rows by default)."""
    from django.db import connection, transaction

    def digits(up_to: int) -> str:
        return "(" + " UNION ALL ".join(f"SELECT {d} AS d" for d in range(up_to + 1)) + ")"

    # The lower places take every digit, the top one only as many as the rows need.
    lower = max(0, len(str(max(rows - 1, 1))) - 1)
    places = [f"{digits(9)} AS p{n}" for n in range(lower)]
    places.append(f"{digits((rows - 1) // 10 ** lower)} AS p{lower}")
    number = " + ".join(f"p{n}.d * {10 ** n}" for n in range(lower + 1)) + " + 1"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO healthd_checkresult
                (name, status, message, value, unit, duration, checked_at, host)
            SELECT CONCAT('check-', LPAD(n %% %s, 3, '0')),
                   CASE WHEN n %% 997 = 0 THEN 'failing'
                        WHEN n %% 211 = 0 THEN 'warning' ELSE 'passing' END,
                   CASE WHEN n %% 997 = 0 THEN 'connection refused' ELSE 'ok' END,
                   NULL, '', 0.001 + (n %% 100) / 10000.0,
                   UTC_TIMESTAMP(6) - INTERVAL ROUND((%s + n * %s) * 1000000) MICROSECOND,
                   'bench-host'
            FROM (SELECT {number} AS n FROM {", ".join(places)}) AS g
            WHERE n <= %s
            """,  # noqa: S608 - our own SQL fragments
            [checks, newest_seconds_ago, spacing_seconds, rows],
        )


def prepare(rows: int, checks: int) -> None:
    """Empty healthd's tables, fill history, rollups, states and the Redis state."""
    from django.core.management import call_command
    from django.db import connection

    from healthd import store
    from healthd.checks import registry
    from healthd.checks.base import Result, Status

    call_command("migrate", interactive=False, verbosity=0)
    tables = ("healthd_checkresult", "healthd_hourlyrollup", "healthd_checkstatus",
              "healthd_transition")
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - our own table names
        elif connection.vendor == "mysql":
            for table in tables:
                cursor.execute(f"TRUNCATE TABLE {table}")
        else:
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY")
    # For 20 checks, 2,000,000 rows span about 14 days; for 200, about 33 hours.
    spacing = SECONDS_BETWEEN_RUNS / checks
    print(f"\nfilling {rows:,} results for {checks} checks ...", flush=True)
    print(f"  inserted in {fill_results(rows, 1.0, spacing, checks):.1f} s", flush=True)
    _summarise()
    now = time.time()
    configured = list(registry.configured_checks())
    store.record([Result(c.name, Status.PASSING, "ok", now - 2, 0.003) for c in configured],
                 configured)


def _summarise() -> None:
    """The hourly rollups and current states of the results, as the workers keep them."""
    from django.db import connection

    database.summarise_rollups()
    sqlite, mysql = connection.vendor == "sqlite", connection.vendor == "mysql"
    since = ("datetime(checked_at, '-3 days')" if sqlite else
             "checked_at - INTERVAL 3 DAY" if mysql else "checked_at - interval '3 days'")
    with connection.cursor() as cursor:
        cursor.execute(  # our own SQL fragments, no input
            "INSERT INTO healthd_checkstatus"  # noqa: S608
            " (name, status, since, streak, last_checked_at, last_message, last_duration)"
            f" SELECT name, status, {since}, 1000, checked_at, message, duration"
            " FROM (SELECT r.*, ROW_NUMBER() OVER (PARTITION BY name ORDER BY checked_at DESC)"
            " AS recency FROM healthd_checkresult AS r) AS newest WHERE recency = 1")
        if sqlite:
            cursor.execute("ANALYZE")
        elif mysql:
            cursor.execute("ANALYZE TABLE healthd_checkresult, healthd_hourlyrollup")
        else:
            # What autovacuum would have done to a table filled over two weeks.
            cursor.execute("VACUUM ANALYZE healthd_checkresult")
            cursor.execute("ANALYZE healthd_hourlyrollup")


def logged_in_client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    user_model = get_user_model()
    user = user_model.objects.filter(username="bench").first()
    if user is None:
        user = user_model.objects.create_superuser("bench", "bench@example.com", "bench")
    client = Client()
    client.force_login(user)
    return client


def time_page(client, url: str, repeats: int = 5) -> tuple[float, int]:
    """Median milliseconds of ``repeats`` GETs (after one warm-up) and the query count."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    # Read now: the next request's new connection clears the query log.
    query_count = len(queries)
    assert response.status_code == 200, (url, response.status_code)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(timings), query_count


def pages() -> dict[str, str]:
    from django.db import connection
    from django.urls import reverse

    history = reverse("admin:healthd_checkresult_changelist")
    # Elsewhere than on PostgreSQL there is no row estimate: 100 pages, the count's cap.
    last = 200 if connection.vendor == "postgresql" else 100
    return {
        "history, unfiltered": history,
        "history, by check": f"{history}?name={check_name(7)}",
        "history, by status": f"{history}?status=failing",
        "history, by check and status": f"{history}?name={check_name(7)}&status=warning",
        f"history, page {last}": f"{history}?p={last}",
        "history, search": f"{history}?q=refused",
        "current state": reverse("admin:healthd_checkstatus_current"),
    }


def measure_pages(client, checks: int, only: tuple[str, ...] = ()) -> None:
    print(f"\nadmin pages with {checks} checks, median of 5 (ms), queries per page:")
    for label, url in pages().items():
        if only and label not in only:
            continue
        median, queries = time_page(client, url)
        print(f"  {label:32s} {median:9.1f} ms  {queries:3d} queries", flush=True)
        if label == "history, search":
            median, queries = _as_before_sorting_apart(client, url)
            print(f"  {'  before: the time index walked':32s} {median:9.1f} ms  "
                  f"{queries:3d} queries", flush=True)


def _as_before_sorting_apart(client, url: str) -> tuple[float, int]:
    """The search page as it was before a term's few matches were sorted apart
    (healthd.admin.changelist.sorted_apart): PostgreSQL walks the time index."""
    from healthd.admin.changelist import EstimatedCountPaginator

    few_matches = EstimatedCountPaginator._few_matches_of_a_search
    EstimatedCountPaginator._few_matches_of_a_search = lambda self: False  # type: ignore[method-assign]
    try:
        return time_page(client, url)
    finally:
        EstimatedCountPaginator._few_matches_of_a_search = few_matches  # type: ignore[method-assign]


def measure_pruning(rows: int) -> None:
    """Prune a backlog of ``rows`` expired results while timing the changelist."""
    from django.db import connection, connections

    from healthd import conf
    from healthd.history.retention import prune

    retention = conf.get().retention_days * 86400
    checks = len(conf.get().checks)
    print(f"\nfilling a backlog of {rows:,} expired results ...", flush=True)
    seconds = fill_results(rows, retention + 3600, SECONDS_BETWEEN_RUNS / checks, checks)
    print(f"  inserted in {seconds:.1f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE TABLE healthd_checkresult" if connection.vendor == "mysql"
                       else "ANALYZE healthd_checkresult")
    urls = list(pages().values())[:3]
    latencies: list[float] = []
    done = threading.Event()

    def browse() -> None:
        client = logged_in_client()
        try:
            index = 0
            while not done.is_set():
                started = time.perf_counter()
                response = client.get(urls[index % len(urls)])
                latencies.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
                index += 1
                time.sleep(0.05)
        finally:
            connections.close_all()

    browser = threading.Thread(target=browse, name="admin-browser")
    browser.start()
    started = time.perf_counter()
    try:
        deleted = prune()
    finally:
        done.set()
        browser.join()
    took = time.perf_counter() - started
    print(f"retention deleted {deleted['results']:,} results in {took:.1f} s "
          f"({deleted['results'] / took:,.0f} rows/s)")
    if latencies:
        ordered = sorted(latencies)
        print(f"admin changelist during pruning: {len(latencies)} requests, "
              f"median {statistics.median(ordered):.1f} ms, "
              f"p95 {ordered[max(0, int(0.95 * len(ordered)) - 1)]:.1f} ms, "
              f"max {ordered[-1]:.1f} ms")


def cleanup_redis() -> None:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(match=f"{settings.KEY_PREFIX}*", count=1000))
    if keys:
        client.delete(*keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--backlog", type=int, default=2_000_000)
    parser.add_argument("--checks", type=int, nargs="+", default=list(CHECK_COUNTS),
                        help="check counts to fill and measure; all pages for the first, "
                             "the current-state page for the others")
    args = parser.parse_args()
    setup_django()
    describe_machine()
    try:
        for index, checks in enumerate(args.checks):
            configure_checks(checks)
            prepare(args.rows, checks)
            measure_pages(logged_in_client(), checks, () if index == 0 else ("current state",))
        if args.backlog:
            measure_pruning(args.backlog)
    finally:
        cleanup_redis()


if __name__ == "__main__":
    main()
