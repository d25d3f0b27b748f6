"""Benchmark: the uptime page and the history API on 2,000,000 results / 90 days.

Not part of the test run. Fills a PostgreSQL database of its own with 2,000,000
CheckResult rows for 20 checks spread over 90 days (one result per check every ~78 s,
generate_series in the database), their hourly rollups (43,200 rows), a few hundred
transitions (each check failing for a few minutes every few days) and the current state,
then times with Django's test client (median of several requests):

- ``/status/uptime/`` read afresh (this process's copy of the history dropped before each
  request: the three queries and the drawing), rendered again from the history held (when
  a state changes, or once a minute), with Redis read again but the same states shown
  (about once a second), and as rendered;
- ``/status/badge/<check>.svg?period=7d`` (from the copy) and the state badge;
- ``/status/api/history/<check>`` by hour over 24 h and 31 days, by day over 90 and 366 days.

    # from the repository root:
    PYTHONPATH=. \\
      DATABASE_URL=postgres://postgres@127.0.0.1:5432/healthd_bench_status \\
      REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python -m bench.status_page

The database is created when missing; healthd's tables in it are emptied first
(``--keep`` times the data already there).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from bench import database

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/healthd_bench_status"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
CHECK_COUNT = 20
DAYS = 90
ROWS = 2_000_000
TOKEN = "bench-token"  # noqa: S105 - the benchmark's own, for its own site
# Seconds between two results of one check: ROWS results fill the 90 days.
INTERVAL = DAYS * 86400 / (ROWS / CHECK_COUNT)


def check_name(index: int) -> str:
    return f"check-{index:02d}"


def setup_django() -> None:
    database.setup_django(DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL)
    from django.test.utils import override_settings

    from tests.site import settings as test_settings

    checks = [{"check": "database", "name": check_name(i), "interval": INTERVAL}
              for i in range(CHECK_COUNT)]
    override_settings(HEALTHD={**test_settings.HEALTHD, "CHECKS": checks,
                               "PUBLIC_STATUS_PAGE": True, "TOKENS": [TOKEN]}).enable()


def prepare() -> None:
    """Empty healthd's tables; fill results, rollups, transitions, states and Redis."""
    from django.core.management import call_command
    from django.db import connection

    from healthd import store
    from healthd.checks import registry
    from healthd.checks.base import Result, Status

    call_command("migrate", interactive=False, verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE healthd_checkresult, healthd_hourlyrollup, healthd_checkstatus, "
                       "healthd_transition RESTART IDENTITY")
        started = time.perf_counter()
        print(f"filling {ROWS:,} results over {DAYS} days ...", flush=True)
        # Row g is check g % 20, (g / 20) intervals ago; each check fails for 5 runs
        # every 2,000 of its runs (about every 1.8 days).
        cursor.execute(
            """
            INSERT INTO healthd_checkresult
                (name, status, message, value, unit, duration, checked_at, host)
            SELECT 'check-' || lpad((g %% %(checks)s)::text, 2, '0'),
                   CASE WHEN (g / %(checks)s) %% 2000 < 5 THEN 'failing'
                        WHEN g %% 211 = 0 THEN 'warning' ELSE 'passing' END,
                   CASE WHEN (g / %(checks)s) %% 2000 < 5 THEN 'connection refused'
                        ELSE 'ok' END,
                   NULL, '', 0.001 + (g %% 100) / 10000.0,
                   now() - make_interval(secs => 1 + (g / %(checks)s) * %(interval)s),
                   'bench-host'
            FROM generate_series(0, %(rows)s - 1) AS g
            """,
            {"checks": CHECK_COUNT, "rows": ROWS, "interval": INTERVAL},
        )
        print(f"  inserted in {time.perf_counter() - started:.1f} s", flush=True)
        database.summarise_rollups()
        # A transition into failing at each spell's first failure, and back at its end.
        cursor.execute(
            """
            INSERT INTO healthd_transition (name, previous, status, at, message, silenced)
            SELECT name, 'passing', 'failing', min(checked_at), 'connection refused', false
            FROM healthd_checkresult WHERE status = 'failing'
            GROUP BY name, date_trunc('day', checked_at)
            UNION ALL
            SELECT name, 'failing', 'passing', max(checked_at) + interval '78 seconds', '', false
            FROM healthd_checkresult WHERE status = 'failing'
            GROUP BY name, date_trunc('day', checked_at)
            """
        )
        cursor.execute(
            """
            INSERT INTO healthd_checkstatus
                (name, status, since, streak, last_checked_at, last_message, last_duration)
            SELECT DISTINCT ON (name) name, 'passing', checked_at - interval '1 day', 1000,
                   checked_at, 'ok', duration
            FROM healthd_checkresult ORDER BY name, checked_at DESC
            """
        )
        cursor.execute("VACUUM ANALYZE healthd_checkresult")
        cursor.execute("ANALYZE healthd_hourlyrollup")
        cursor.execute("ANALYZE healthd_transition")
    now = time.time()
    checks = list(registry.configured_checks())
    store.record([Result(c.name, Status.PASSING, "ok", now - 2, 0.003) for c in checks], checks)
    print(f"  prepared in {time.perf_counter() - started:.1f} s", flush=True)


def counts() -> str:
    from healthd.models import CheckResult, HourlyRollup, Transition

    return (f"{CheckResult.objects.count():,} results, {HourlyRollup.objects.count():,} "
            f"rollups, {Transition.objects.count():,} transitions")


def median_ms(request: Callable[[], object], times: int, before: Callable[[], None] | None = None
              ) -> float:
    taken = []
    for _ in range(times):
        if before:
            before()
        started = time.perf_counter()
        request()
        taken.append((time.perf_counter() - started) * 1000)
    return statistics.median(taken)


def measure(times: int) -> list[tuple[str, float]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from healthd.store import health as state
    from healthd.uptime import kept
    from healthd.uptime import page as uptime_page

    client = Client()

    def forget() -> None:
        kept.forget()
        uptime_page.forget()

    def rendered_forget() -> None:
        uptime_page._rendered.clear()

    def get(path: str, **params: str) -> Callable[[], object]:
        def request() -> object:
            response = client.get(path, params, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
            assert response.status_code == 200, (path, response.status_code, response.content)
            return response
        return request

    page = get("/status/uptime/")
    page()  # connections, templates, the first evaluation of the state
    forget()
    with CaptureQueriesContext(connection) as queries:
        page()
    print(f"uptime page: {len(queries)} queries, "
          f"{sum(float(q['time']) for q in queries.captured_queries) * 1000:.1f} ms in SQL")
    def select_one() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    # Two references for how busy the machine is: a view that touches nothing, and the
    # smallest query.
    results = [
        ("`/__lbheartbeat__` (reference: no Redis, no SQL)", median_ms(
            get("/__lbheartbeat__"), times * 10)),
        ("`SELECT 1` (reference: one round trip to PostgreSQL)", median_ms(
            select_one, times * 10)),
        ("`/status/uptime/`, read afresh", median_ms(page, times, before=forget)),
        ("`/status/uptime/`, history from the process's copy, rendered again",
         median_ms(page, times * 5, before=rendered_forget)),
        ("`/status/uptime/`, history from the process's copy, Redis read again, same states",
         median_ms(page, times * 5, before=state.forget)),
        ("`/status/uptime/`, served as rendered (same history, same state)",
         median_ms(page, times * 10)),
        ("`/status/badge/check-07.svg?period=7d`", median_ms(
            get("/status/badge/check-07.svg", period="7d"), times * 10)),
        ("`/status/badge/check-07.svg` (state, Redis only)", median_ms(
            get("/status/badge/check-07.svg"), times * 10)),
    ]
    for label, params in (("by hour, 24 h", {}),
                          ("by hour, 31 days", {"since": _ago(31)}),
                          ("by day, 90 days", {"resolution": "day"}),
                          ("by day, 366 days", {"resolution": "day", "since": _ago(366)})):
        results.append((f"`/status/api/history/check-07` {label}",
                        median_ms(get("/status/api/history/check-07", **params), times)))
    return results


def _ago(days: int) -> str:
    import datetime as dt

    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=days) + dt.timedelta(minutes=1)
            ).isoformat()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="time the data already there")
    parser.add_argument("--times", type=int, default=20, help="requests per median")
    args = parser.parse_args()
    setup_django()
    if not args.keep:
        prepare()
    print(counts(), flush=True)
    print("| request | median ms |")
    print("| --- | ---: |")
    for label, value in measure(args.times):
        print(f"| {label} | {value:.1f} |", flush=True)


if __name__ == "__main__":
    main()
