"""Benchmark: results partitioned by day on PostgreSQL — the conversion, and retention.

Not part of the test run. In one run, on one database:

1. makes the results table plain again (the migration's reverse) and fills it with
   ``--rows`` results over ``--days`` whole UTC days, ending at today's midnight;
2. before: retention as it was, a batched DELETE (5,000 rows a batch) of the oldest
   day, and the dead tuples it leaves; the day is then filled again;
3. the conversion (migration 0009's forward step) at that size, while another thread
   writes one result every 10 ms: how long it took, the slowest write meanwhile, and
   that every row is there;
4. after: dropping the same day's partition, while another thread reads the admin's
   newest page (the slowest read meanwhile), and the dead tuples left; then a retention
   pass over about half of the rows;
5. the cost of the number of partitions: the newest page and a lookup by id with the
   partitions there are, then with 90 more.

    # from the repository root:
    PYTHONPATH=. DATABASE_URL=postgres://postgres@127.0.0.1:5432/healthd_bench \\
      REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/partitions.py

``--rows 2600000 --days 1`` times one day of 300 checks every 10 s instead (steps 1 to 4).
The database is created when missing; healthd's results in it are replaced.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta

from bench import database

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/healthd_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"


def fill(first: int, last: int, midnight: datetime, spacing: float) -> None:
    """Results number ``first`` to ``last``, the i-th ``i * spacing`` seconds before
    ``midnight``, over 20 checks, one in 50 failing."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO healthd_checkresult (name, status, message, value, unit, duration, "
            "checked_at, host) SELECT 'check-' || lpad((i %% 20)::text, 3, '0'), "
            "CASE WHEN i %% 50 = 0 THEN 'failing' ELSE 'passing' END, "
            "'result ' || i, NULL, '', 0.001 + (i %% 97) / 1000.0, "
            "%s - make_interval(secs => i * %s), 'bench' FROM generate_series(%s, %s) AS i",
            [midnight, spacing, first, last])


def count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM healthd_checkresult")
        return int(cursor.fetchone()[0])


def dead_tuples() -> int:
    """Dead tuples in the results' tables, once this process's statistics are flushed."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
    time.sleep(1.5)  # the statistics are sent when this connection is next idle
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables "
                       "WHERE relname LIKE 'healthd_checkresult%%'")
        return int(cursor.fetchone()[0])


class Meanwhile(threading.Thread):
    """Runs ``step`` every ``pause`` seconds on its own connection; keeps each latency."""

    def __init__(self, step, pause: float = 0.01):
        super().__init__(daemon=True)
        self.step, self.pause = step, pause
        self.latencies: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        from django.db import connection

        while not self.done.is_set():
            started = time.perf_counter()
            self.step()
            self.latencies.append(time.perf_counter() - started)
            time.sleep(self.pause)
        connection.close()

    def stop(self) -> str:
        self.done.set()
        self.join()
        slow = sum(1 for t in self.latencies if t > 0.1)
        return (f"{len(self.latencies)} done, slowest {max(self.latencies) * 1000:.0f} ms, "
                f"median {statistics.median(self.latencies) * 1000:.1f} ms, "
                f"{slow} over 100 ms")


def write_one() -> None:
    from healthd.history import sql

    sql.insert_results([("meanwhile", "passing", "", None, "", 0.01, datetime.now(tz=UTC),
                         "bench")])


def newest_page() -> None:
    from healthd.models import CheckResult

    list(CheckResult.objects.order_by("-checked_at", "-id").values_list("id", flat=True)[:100])


def timed(what, repeat: int = 7) -> float:
    """The median of ``repeat`` runs of ``what``, in ms."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        what()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=14)
    args = parser.parse_args()
    database.setup_django(DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL)
    from django.core.management import call_command
    from django.db import connection

    from healthd import conf
    from healthd.history import partitions, sql
    from healthd.history.retention import _delete_before
    from healthd.models import CheckResult

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        print(f"PostgreSQL {cursor.fetchone()[0]}; {args.rows:,} results over {args.days} "
              f"days; RETENTION_DAYS {conf.get().retention_days}", flush=True)
    partitions.unpartition(connection)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE healthd_checkresult RESTART IDENTITY")
    midnight = datetime.now(tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    spacing = args.days * 86400 / args.rows
    oldest_day_end = midnight - timedelta(days=args.days - 1)
    started = time.perf_counter()
    fill(1, args.rows, midnight, spacing)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE healthd_checkresult")
    print(f"filled {count():,} rows in {time.perf_counter() - started:.1f} s", flush=True)

    # Before: the batched DELETE of the oldest day.
    dead_before = dead_tuples()
    started = time.perf_counter()
    deleted = _delete_before(CheckResult, "checked_at", oldest_day_end, 5000)
    delete_seconds = time.perf_counter() - started
    dead_after_delete = dead_tuples() - dead_before
    print(f"before: batched DELETE of the oldest day, {deleted:,} rows: "
          f"{delete_seconds:.2f} s; dead tuples left: {dead_after_delete:,}", flush=True)
    fill(args.rows - deleted + 1, args.rows, midnight, spacing)  # the same rows again
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE healthd_checkresult")
    rows = count()

    # The conversion, with a writer meanwhile.
    writer = Meanwhile(write_one)
    writer.start()
    time.sleep(0.5)
    started = time.perf_counter()
    partitions.partition(connection)
    convert_seconds = time.perf_counter() - started
    time.sleep(0.5)
    writes = writer.stop()
    written = CheckResult.objects.filter(name="meanwhile").count()
    after = count()
    print(f"conversion of {rows:,} rows: {convert_seconds:.1f} s; writes meanwhile: {writes}; "
          f"rows after: {after:,} = {rows:,} + {written} written meanwhile: "
          f"{'yes' if after == rows + written else 'NO'}", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE healthd_checkresult")
    CheckResult.objects.filter(name="meanwhile").delete()  # from the default/today: not timed

    # After: the same day, dropped.
    dead_before = dead_tuples()
    reader = Meanwhile(newest_page)
    reader.start()
    time.sleep(0.3)
    started = time.perf_counter()
    dropped = partitions.drop_expired(oldest_day_end)
    drop_seconds = time.perf_counter() - started
    time.sleep(0.3)
    reads = reader.stop()
    dead_after_drop = dead_tuples() - dead_before
    print(f"after: dropping the oldest day's partition, {dropped:,} rows: "
          f"{drop_seconds * 1000:.0f} ms (DELETE: {delete_seconds * 1000:.0f} ms, "
          f"{delete_seconds / drop_seconds:.0f}x); dead tuples left: {dead_after_drop}; "
          f"the admin's newest page meanwhile: {reads}", flush=True)
    if args.days >= 4:
        half = midnight - timedelta(days=args.days // 2)
        started = time.perf_counter()
        dropped = partitions.drop_expired(half)
        print(f"after: a retention pass over {dropped:,} more rows (to half the table): "
              f"{(time.perf_counter() - started) * 1000:.0f} ms; {count():,} rows left",
              flush=True)
    if count() < 1000:
        return

    # The cost of more partitions (90 days' worth more, empty).
    some_id = CheckResult.objects.order_by("-checked_at").values_list("id", flat=True)[500]
    before = len(sql.result_partitions(connection))
    page_ms = timed(newest_page)
    lookup_ms = timed(lambda: CheckResult.objects.get(id=some_id))
    ahead = midnight.date() + timedelta(days=partitions.AHEAD_DAYS + 1)
    for n in range(90):
        day = ahead + timedelta(days=n)
        sql.attach_partition(connection, partitions.name_for(day), *partitions.bounds(day))
    more = len(sql.result_partitions(connection))
    print(f"newest page / lookup by id: {page_ms:.1f} / {lookup_ms:.1f} ms with {before} "
          f"partitions, {timed(newest_page):.1f} / "
          f"{timed(lambda: CheckResult.objects.get(id=some_id)):.1f} ms with {more}",
          flush=True)
    for n in range(90):
        sql.drop_partition(connection, partitions.name_for(ahead + timedelta(days=n)))


if __name__ == "__main__":
    main()
