"""Benchmark: the slope of the history pages between 2,000,000 and 20,000,000 results.

Not part of the test run. On PostgreSQL, for each size: fills the results of 200 checks
over 90 days in SQL (generate_series; the even checks still running, the odd ones
stopped an hour ago; one result per check every 90 days times 200 over the size, in seconds), makes
every summary with ``manage.py healthd_rollups --rebuild`` (timed), then times, median
of several requests with Django's test client:

- the admin's current-state page with 200 checks (half of them stopped), with 20 stopped
  checks and with 20 running ones, and the queries each makes;
- the status page (``/status/uptime/``) read afresh, 20 checks;
- the history API's daily series over 366 days (``/status/api/history/<check>``);

and the retention pass (``healthd.history.retention.prune``) over half of the rows. At
the end it prints each figure at both sizes and their ratio. The rollups are the same at
both sizes (200 checks, 90 days of hours): what grows tenfold is the results table.

    # from the repository root:
    PYTHONPATH=. \\
      DATABASE_URL=postgres://postgres@127.0.0.1:5432/healthd_bench_slope \\
      REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/python -m bench.history_slope

``--sizes 2000000`` measures one size; ``--prune-sizes`` picks the sizes whose pruning is
timed (a batched DELETE of 10,000,000 rows takes minutes).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from bench import admin_history, database

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/healthd_bench_slope"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
CHECKS = 200
DAYS = 90
TOKEN = "bench-token"  # noqa: S105 - the benchmark's own, for its own site
TABLES = ("healthd_checkresult", "healthd_hourlyrollup", "healthd_dailyrollup",
          "healthd_checkstatus", "healthd_transition")


def check_name(index: int) -> str:
    return f"check-{index:03d}"


def spacing(rows: int) -> float:
    """Seconds between two results of one check: ``rows`` fill the DAYS."""
    return DAYS * 86400 / (rows / CHECKS)


def configure(names: list[str], interval: float) -> None:
    from django.test.utils import override_settings

    from tests.site import settings as test_settings

    checks = [{"check": "database", "name": name, "interval": interval} for name in names]
    override_settings(HEALTHD={**test_settings.HEALTHD, "CHECKS": checks,
                               "PUBLIC_STATUS_PAGE": True, "TOKENS": [TOKEN],
                               "RETENTION_DAYS": DAYS // 2}).enable()


def fill(rows: int) -> float:
    """Empty healthd's tables and fill ``rows`` results; return seconds."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", interactive=False, verbosity=0)
    started = time.perf_counter()
    tables = [t for t in TABLES if t in connection.introspection.table_names()]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY")
        # Row g is check g % CHECKS, (g / CHECKS) runs before its last; odd checks
        # stopped an hour ago. Each check fails 5 runs in every 2,000.
        cursor.execute(
            """
            INSERT INTO healthd_checkresult
                (name, status, message, value, unit, duration, checked_at, host)
            SELECT 'check-' || lpad((g %% %(checks)s)::text, 3, '0'),
                   CASE WHEN (g / %(checks)s) %% 2000 < 5 THEN 'failing'
                        WHEN g %% 211 = 0 THEN 'warning' ELSE 'passing' END,
                   CASE WHEN (g / %(checks)s) %% 2000 < 5 THEN 'connection refused'
                        ELSE 'ok' END,
                   NULL, '', 0.001 * (1 + (g %% 97)) * (1 + (g %% 7)),
                   now() - make_interval(secs => 1 + (g / %(checks)s) * %(spacing)s
                                         + CASE WHEN g %% 2 = 1 THEN 3600 ELSE 0 END),
                   'bench-host'
            FROM generate_series(0, %(rows)s - 1) AS g
            """,
            {"checks": CHECKS, "rows": rows, "spacing": spacing(rows)},
        )
        cursor.execute("VACUUM ANALYZE healthd_checkresult")
    return time.perf_counter() - started


def rebuild() -> float:
    from django.core.management import CommandError, call_command
    from django.db import connection

    started = time.perf_counter()
    try:
        call_command("healthd_rollups", rebuild=True)
    except CommandError:  # a checkout without the command: the rollups as before it
        database.summarise_rollups()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO healthd_checkstatus (name, status, since, streak, "
                "last_checked_at, last_message, last_duration) SELECT DISTINCT ON (name) "
                "name, status, checked_at, 1, checked_at, message, duration "
                "FROM healthd_checkresult ORDER BY name, checked_at DESC")
    with connection.cursor() as cursor:
        for table in TABLES[1:]:
            if table in connection.introspection.table_names():
                cursor.execute(f"ANALYZE {table}")
    return time.perf_counter() - started


def record_state(names: list[str]) -> None:
    """The Redis state of the configured checks: the stopped ones an hour old."""
    from healthd import store
    from healthd.checks import registry
    from healthd.checks.base import Result, Status

    now = time.time()
    configured = list(registry.configured_checks())
    store.record([Result(c.name, Status.PASSING, "ok",
                         now - (3600 if int(c.name[-3:]) % 2 else 2), 0.003)
                  for c in configured], configured)


def median_ms(request: Callable[[], object], times: int,
              before: Callable[[], None] | None = None) -> float:
    taken = []
    for _ in range(times):
        if before:
            before()
        started = time.perf_counter()
        request()
        taken.append((time.perf_counter() - started) * 1000)
    return statistics.median(taken)


def measure(rows: int) -> dict[str, tuple[float, int | None]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from healthd.uptime import kept
    from healthd.uptime import page as uptime_page

    interval = spacing(rows)
    found: dict[str, tuple[float, int | None]] = {}
    admin = admin_history.logged_in_client()
    url = reverse("admin:healthd_checkstatus_current")
    for label, names in (
            ("current state, 200 checks (half stopped)", [check_name(i) for i in range(CHECKS)]),
            ("current state, 20 stopped checks", [check_name(i) for i in range(1, 40, 2)]),
            ("current state, 20 running checks", [check_name(i) for i in range(0, 40, 2)])):
        configure(names, interval)
        record_state(names)
        with CaptureQueriesContext(connection) as queries:
            assert admin.get(url).status_code == 200
        count = len(queries)

        def page() -> None:
            assert admin.get(url).status_code == 200

        found[label] = (median_ms(page, 7), count)
        print(f"  {label}: {found[label][0]:.1f} ms, {count} queries", flush=True)

    configure([check_name(i) for i in range(20)], interval)
    record_state([check_name(i) for i in range(20)])
    client = Client()

    def get(path: str, **params: str) -> Callable[[], object]:
        def request() -> object:
            response = client.get(path, params, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
            assert response.status_code == 200, (path, response.status_code)
            return response
        return request

    def forget() -> None:
        kept.forget()
        uptime_page.forget()

    status = get("/status/uptime/")
    status()
    found["status page, read afresh (20 checks)"] = (median_ms(status, 7, before=forget), None)
    import datetime as dt
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=366) + dt.timedelta(minutes=1))
    series = get(f"/status/api/history/{check_name(0)}", resolution="day",
                 since=since.isoformat())
    series()
    found["history API, by day over 366 days"] = (median_ms(series, 9), None)
    for label in list(found)[-2:]:
        print(f"  {label}: {found[label][0]:.1f} ms", flush=True)
    return found


def prune() -> float:
    from healthd.history.retention import prune as run_prune

    started = time.perf_counter()
    deleted = run_prune()
    took = time.perf_counter() - started
    print(f"  retention: {deleted['results']:,} results in {took:.1f} s", flush=True)
    return took * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2_000_000, 20_000_000])
    parser.add_argument("--prune-sizes", type=int, nargs="*", default=None,
                        help="the sizes whose retention pass is timed (default: all)")
    args = parser.parse_args()
    database.setup_django(DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL)
    admin_history.describe_machine()
    prune_sizes = args.sizes if args.prune_sizes is None else args.prune_sizes
    table: dict[int, dict[str, tuple[float, int | None]]] = {}
    try:
        for rows in args.sizes:
            configure([check_name(i) for i in range(CHECKS)], spacing(rows))
            print(f"\n{rows:,} results, {CHECKS} checks over {DAYS} days:", flush=True)
            print(f"  filled in {fill(rows):.1f} s", flush=True)
            print(f"  summaries rebuilt in {rebuild():.1f} s", flush=True)
            table[rows] = measure(rows)
            if rows in prune_sizes:
                table[rows]["retention, half of the rows (ms)"] = (prune(), None)
    finally:
        admin_history.cleanup_redis()
    sizes = list(table)
    print("\n| page | " + " | ".join(f"{s / 1e6:g} M" for s in sizes)
          + (" | ratio |" if len(sizes) > 1 else " |"))
    print("| --- |" + " ---: |" * (len(sizes) + (len(sizes) > 1)))
    for label in table[sizes[0]]:
        cells = []
        for size in sizes:
            ms, queries = table[size].get(label, (float("nan"), None))
            cells.append(f"{ms:.1f} ms" + (f", {queries} q" if queries is not None else ""))
        ratio = ""
        if len(sizes) > 1 and label in table[sizes[-1]]:
            ratio = f" | {table[sizes[-1]][label][0] / table[sizes[0]][label][0]:.2f}"
        print(f"| {label} | " + " | ".join(cells) + ratio + (" |" if ratio or
                                                              len(sizes) == 1 else " | |"))


if __name__ == "__main__":
    main()
