"""Results partitioned by day on PostgreSQL: partitions made ahead, whole days dropped.

On PostgreSQL the results table is range-partitioned on ``checked_at`` (PostgreSQL's
own declarative partitioning), one partition per UTC day, plus a DEFAULT partition.
Retention detaches and drops a day whole — no DELETE, no dead tuples, no vacuum — once
the day has entirely passed the retention: a day only partly expired is kept until it
has all expired, so results live up to a day longer than ``RETENTION_DAYS``.

Why a day: retention is counted in days, and a day's partition at 2.6 M results (300
checks every 10 s) drops in the same moment as a week's while keeping at most a day too
many instead of a week; 90 days are 90 partitions, which PostgreSQL 15 prunes at plan
time for every query bounded in time and merges cheaply for the admin's newest-first page.

A result is never refused for want of a partition: the DEFAULT partition takes any
time (runs parked in Redis during an outage, an import of old results, a clock in the
future), and the scheduled pass (:func:`maintain`) makes each such day's partition and
moves its rows out of the default; rows already past the retention stay there until
retention deletes them (the default partition holds only such strays).

Written here rather than with django-postgres-extra, whose partitioning needs its own
database backend (``ENGINE: psqlextra.backend``): a site switching to healthd with no
other edit keeps Django's. pg_partman is an extension a site may not be allowed to
install. SQLite and MySQL / MariaDB keep a plain table and batched deletes.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from django.db import DatabaseError, connections, router
from django.db.backends.base.base import BaseDatabaseWrapper

from healthd import conf
from healthd.history import sql
from healthd.models import CheckResult
from healthd.util.logs import get_logger
from healthd.util.redact import redact

logger = get_logger("healthd.history")

# Partitions made ahead of today by the hourly pass: three days of it failing before a
# result lands in the default partition (where it is still stored). Not more: each
# partition is a few files, and emptying the table (a test's TRUNCATE) pays for each.
AHEAD_DAYS = 3
_NAME = re.compile(rf"^{re.escape(sql.RESULT_TABLE)}_p(\d{{8}})$")


def connection() -> BaseDatabaseWrapper:
    return connections[router.db_for_write(CheckResult)]


def enabled(db: BaseDatabaseWrapper | None = None) -> bool:
    """Whether results are partitioned here (PostgreSQL, after the conversion)."""
    return sql.results_partitioned(db or connection())


def name_for(day: date) -> str:
    return f"{sql.RESULT_TABLE}_p{day:%Y%m%d}"


def day_of(name: str) -> date | None:
    """The day a partition healthd made holds (None for the default one, or another)."""
    found = _NAME.match(name)
    return datetime.strptime(found[1], "%Y%m%d").replace(tzinfo=UTC).date() if found else None


def bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def first_kept_day(now: datetime) -> date:
    """The oldest day any of whose results are still within the retention."""
    return (now - timedelta(days=conf.get().retention_days)).astimezone(UTC).date()


def wanted_days(now: datetime) -> list[date]:
    """The days that should have a partition: today and AHEAD_DAYS after it."""
    today = now.astimezone(UTC).date()
    return [today + timedelta(days=n) for n in range(AHEAD_DAYS + 1)]


def maintain(now: datetime | None = None) -> dict[str, object]:
    """Make the partitions ahead, and one for each day within the retention that has rows
    in the default partition (moving them out). Nothing where results are not partitioned."""
    db = connection()
    if not enabled(db):
        return {}
    now = now or datetime.now(tz=UTC)
    stray = [day for day in sql.days_in_default_partition(db) if day >= first_kept_day(now)]
    existing = set(sql.result_partitions(db))
    created: list[str] = []
    moved = 0
    for day in sorted(set(wanted_days(now)) | set(stray)):
        name = name_for(day)
        if name in existing:
            continue
        try:
            moved += sql.attach_partition(db, name, *bounds(day))
        except DatabaseError as exc:  # a lock not granted in time: the next pass
            logger.warning("could not make the results partition %s: %s", name, redact(exc))
            continue
        created.append(name)
    if created:
        logger.info("results partitions made: %s (%d rows moved from the default)",
                    ", ".join(created), moved)
    return {"created": created, "moved": moved}


def drop_expired(cutoff: datetime) -> int:
    """Drop each day's partition wholly older than ``cutoff``, delete the default
    partition's rows older than it; returns how many results went."""
    db = connection()
    dropped = 0
    for name in sql.result_partitions(db):
        day = day_of(name)
        if day is None or bounds(day)[1] > cutoff:
            continue
        try:
            dropped += sql.drop_partition(db, name)
        except DatabaseError as exc:
            logger.warning("could not drop the results partition %s: %s", name, redact(exc))
    return dropped + sql.delete_from_default_partition(db, cutoff)


def partition(db: BaseDatabaseWrapper, now: datetime | None = None) -> None:
    """Convert the plain results table to a partitioned one (the migration's forward
    step; nothing but on PostgreSQL, or when it is already), with a partition for each
    day within the retention that has results, today and the days ahead."""
    if db.vendor != "postgresql" or sql.results_partitioned(db):
        return
    now = now or datetime.now(tz=UTC)
    window = [first_kept_day(now) + timedelta(days=n)
              for n in range((now.astimezone(UTC).date() - first_kept_day(now)).days + 1)]
    starts = sql.days_with_results(db, [bounds(day)[0] for day in window])
    days = {start.astimezone(UTC).date() for start in starts} | set(wanted_days(now))
    sql.convert_results_table(db, True, [(name_for(d), *bounds(d)) for d in sorted(days)])


def unpartition(db: BaseDatabaseWrapper) -> None:
    """Back to a plain table, every row kept (the migration's reverse step)."""
    if sql.results_partitioned(db):
        sql.convert_results_table(db, False, [])
