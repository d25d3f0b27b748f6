"""Benchmark: what one run of N checks costs, whatever N.

Not part of the test run. For N = 10, 100, 1,000 synthetic checks (each sleeps
``--sleep`` seconds, default none) it runs and records the checks as a scheduled run
does (:func:`healthd.tasks.run.run_and_record`) against PostgreSQL and Redis, and prints
for the first run (an empty store) and for a later run (the usual case, median of
``--repeat``): wall time, the time beyond the slowest check, SQL statements, Redis
round trips and the peak number of threads. CPU ms is this process's CPU time (the
database's and Redis's are not in it): on a busy machine it says what the run itself
costs when the wall time says how long it waited for a core.

SQL statements are counted as Django counts them (``CaptureQueriesContext``, which
includes ``BEGIN`` and ``COMMIT``), on the connection of the thread that records.

    # from the repository root:
    PYTHONPATH=. \\
      DATABASE_URL=postgres://postgres@127.0.0.1:5432/healthd_bench \\
      REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/run_cost.py

The database is created when missing; healthd's tables in it are emptied first, and
this run's Redis keys are deleted before each N and at the end. ``--databases`` runs
the same benchmark against each URL in turn (PostgreSQL beside MySQL / MariaDB), each
in a process of its own:

    PYTHONPATH=. REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/run_cost.py \\
      --databases postgres://postgres@127.0.0.1:5432/healthd_bench \\
                  mysql://root@127.0.0.1:3306/healthd_bench

Round trips are counted where redis-py writes to a socket
(``Connection.send_packed_command``): a pipeline is one, a command on its own is one.
Threads are counted when one starts (the process's live threads at that moment).
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from bench import database

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/healthd_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
SIZES = (10, 100, 1000)
# Read by the checks, which the registry imports as bench.run_cost (not as __main__).
SLEEP_VARIABLE = "HEALTHD_BENCH_CHECK_SLEEP"


def synthetic() -> str:
    """One synthetic check: it passes, after ``--sleep`` seconds."""
    seconds = float(os.environ.get(SLEEP_VARIABLE) or 0)
    if seconds:
        time.sleep(seconds)
    return "ok"


def setup_django() -> None:
    database.setup_django(DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL)
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


class Counters:
    """Redis round trips and the peak of live threads, counted process-wide."""

    def __init__(self) -> None:
        self.round_trips = 0
        self.peak_threads = threading.active_count()
        self._lock = threading.Lock()

    def install(self) -> None:
        from redis.connection import AbstractConnection

        counters = self
        send = AbstractConnection.send_packed_command
        start = threading.Thread.start

        def counting_send(connection, command, check_health=True):
            with counters._lock:
                counters.round_trips += 1
            return send(connection, command, check_health)

        def counting_start(thread):
            start(thread)
            with counters._lock:
                counters.peak_threads = max(counters.peak_threads, threading.active_count())

        AbstractConnection.send_packed_command = counting_send  # type: ignore[method-assign]
        threading.Thread.start = counting_start  # type: ignore[method-assign]

    def reset(self) -> None:
        with self._lock:
            self.round_trips = 0
            self.peak_threads = threading.active_count()


@dataclass
class Measure:
    wall: float
    cpu: float
    slowest: float
    sql: int
    round_trips: int
    peak_threads: int

    @property
    def beyond(self) -> float:
        return self.wall - self.slowest


def configure(size: int) -> None:
    from django.conf import settings
    from django.test.utils import override_settings

    checks = [{"check": "bench.run_cost.synthetic", "name": f"synthetic-{i:04d}", "timeout": 30}
              for i in range(size)]
    override_settings(HEALTHD={**settings.HEALTHD, "CHECKS": checks}).enable()


def empty_everything() -> None:
    import redis
    from django.conf import settings
    from django.db import connection

    from healthd.store import client as redis_client

    with connection.cursor() as cursor:
        for table in ("healthd_checkresult", "healthd_hourlyrollup", "healthd_checkstatus",
                      "healthd_transition", "healthd_silence"):
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
    client = redis.Redis.from_url(settings.REDIS_URL)
    prefix = settings.KEY_PREFIX
    for pattern in (f"{prefix}*", f"{{{prefix}}}*"):
        found = list(client.scan_iter(match=pattern, count=1000))
        if found:
            client.delete(*found)
    client.close()
    redis_client.forget_clients()


def one_run(counters: Counters) -> Measure:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from healthd.store import client as redis_client
    from healthd.tasks.run import run_and_record

    # The connections' own handshakes (AUTH, SELECT, CLIENT SETINFO) are not the run's.
    redis_client.writer().ping()
    connection.ensure_connection()
    counters.reset()
    # Django keeps the last 9,000 statements; a run of the old code wrote more.
    connection.queries_log = collections.deque(maxlen=1_000_000)
    with CaptureQueriesContext(connection) as queries:
        started, cpu = time.perf_counter(), time.process_time()
        summary = run_and_record()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    if not (summary.stored and summary.saved):
        raise SystemExit(f"the run did not record everything: {summary}")
    return Measure(wall, cpu, max(r.duration for r in summary.results), len(queries),
                   counters.round_trips, counters.peak_threads)


HEADER = ("|     N | run   | wall ms | beyond the slowest check, ms | CPU ms | SQL statements "
          "| Redis round trips | peak threads |\n"
          "| ----: | ----- | ------: | ---------------------------: | -----: | -------------: "
          "| ----------------: | -----------: |")


def row(size: int, which: str, measure: Measure) -> str:
    return (f"| {size:>5,} | {which:<5} | {measure.wall * 1000:>7,.0f} | "
            f"{measure.beyond * 1000:>28,.0f} | {measure.cpu * 1000:>6,.0f} | "
            f"{measure.sql:>14,} | {measure.round_trips:>17,} | {measure.peak_threads:>12} |")


def compare(urls: list[str], arguments: list[str]) -> None:
    """The benchmark against each database in turn, each in a process of its own (Django
    has one default database per process)."""
    for url in urls:
        print(f"\n{url.split('://')[0]}:", flush=True)
        subprocess.run([sys.executable, "-m", "bench.run_cost", *arguments],
                       env={**os.environ, "DATABASE_URL": url}, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sleep", type=float, default=0.0,
                        help="seconds each synthetic check sleeps")
    parser.add_argument("--databases", nargs="+", default=[],
                        help="database URLs to run the same benchmark against, in turn")
    args = parser.parse_args()
    if args.databases:
        compare(args.databases, ["--sizes", *map(str, args.sizes), "--repeat",
                                 str(args.repeat), "--sleep", str(args.sleep)])
        return
    os.environ[SLEEP_VARIABLE] = str(args.sleep)
    setup_django()
    from django.conf import settings
    from django.db import connection

    counters = Counters()
    counters.install()
    settings.DEBUG = False
    print(f"database {connection.vendor}, MAX_CONCURRENCY "
          f"{settings.HEALTHD.get('MAX_CONCURRENCY', 32)}, each check sleeps {args.sleep:g} s")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(HEADER)
    try:
        for size in args.sizes:
            configure(size)
            empty_everything()
            first = one_run(counters)
            later = [one_run(counters) for _ in range(args.repeat)]
            median = sorted(later, key=lambda m: m.wall)[len(later) // 2]
            print(row(size, "first", first), flush=True)
            print(row(size, "later", median), flush=True)
            if len({m.sql for m in later}) > 1 or len({m.round_trips for m in later}) > 1:
                print(f"  (later runs varied: SQL {sorted({m.sql for m in later})}, "
                      f"round trips {sorted({m.round_trips for m in later})}, "
                      f"wall ms {[round(m.wall * 1000) for m in later]}; "
                      f"median wall {statistics.median(m.wall for m in later) * 1000:.0f})")
    finally:
        empty_everything()
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
