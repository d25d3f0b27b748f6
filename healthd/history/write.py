"""The database side of a run: history rows, current state, transitions, rollups.

A run costs a handful of statements whatever its number of checks: one bulk insert of
the results, one upsert of the hourly rollups and one or two of the current state, with
the counting done in SQL (the statements are in :mod:`healthd.history.sql`).

When the database is away the rows wait in a Redis list and are written by the
first run that finds the database back, so no result is lost to an outage.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.db import InterfaceError, OperationalError, transaction

from healthd import store
from healthd.checks.base import Result, Status
from healthd.history import buckets, days, sql
from healthd.models import CheckStatus
from healthd.store import client as redis_client
from healthd.store.client import StoreNotConfigured
from healthd.util.logs import get_logger
from healthd.util.outages import DATABASE_ERRORS, REDIS_ERRORS
from healthd.util.redact import redact

logger = get_logger("healthd.history")
BACKLOG_LIMIT = 200_000
# Refused runs kept for an operator to look at; the oldest go first past this many.
DEAD_LETTER_LIMIT = 10_000
# A parked run refused for what it holds: bad JSON (a ValueError), a missing field, a field
# of the wrong shape, a value the database will not take (the database away is not this).
REFUSED = (ValueError, KeyError, TypeError, *DATABASE_ERRORS)


def _dt(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def known_states(names: list[str]) -> dict[str, str]:
    """The state of these checks as the database remembers it ({} when it cannot be read)."""
    if not names:
        return {}
    try:
        return dict(CheckStatus.objects.filter(name__in=names).values_list("name", "status"))
    except DATABASE_ERRORS as exc:
        logger.warning("could not read check states from the database: %s", redact(exc))
        return {}


def _write(results: list[Result], transitions: list[dict]) -> None:
    """One run's history in a handful of statements, whatever the number of results:
    the rows in one insert, the rollups in one upsert, the current state in one or two."""
    with transaction.atomic():
        sql.insert_results([
            (r.name[:100], str(r.status), r.message[:10_000], r.value, (r.unit or "")[:20],
             r.duration, _dt(r.checked_at), r.host)
            for r in results
        ])
        # Transition rows are the outbox's to write (healthd.tasks.deliver), once per id;
        # here transitions only move the current state.
        _roll_up(results)
        _update_states(results, transitions)


def _roll_up(results: list[Result]) -> None:
    """Add the results to their hour's rollup (with the durations' buckets) and their
    day's, in SQL: two workers adding to the same hour at once both count (an
    update-then-create could lose a whole run to the race)."""
    totals: dict[tuple[str, datetime], list[Any]] = {}
    for r in results:
        hour = _dt(r.checked_at).replace(minute=0, second=0, microsecond=0)
        total = totals.setdefault((r.name[:100], hour), [0, 0, 0, 0.0, 0.0, *buckets.empty()])
        total[0] += 1
        total[1] += int(r.status == Status.FAILING)
        total[2] += int(r.status == Status.WARNING)
        total[3] += r.duration
        total[4] = max(total[4], r.duration)
        total[5 + buckets.bucket_of(r.duration)] += 1
    hourly = [(name, hour, *total) for (name, hour), total in sorted(totals.items())]
    sql.add_to_rollups(hourly)
    sql.add_to_daily_rollups(days.daily_rows(hourly))


def _update_states(results: list[Result], transitions: list[dict]) -> None:
    """Move each check's current state, one upsert for the checks without a transition
    and one for those with (a new check's row is created by either)."""
    changed = {t["name"]: t for t in transitions}
    for batch in _without_repeats(results):
        same, moved = [], []
        for r in batch:
            at = _dt(r.checked_at)
            row = [r.name[:100], str(r.status), at, 1, at, r.message[:10_000], r.duration]
            if r.name in changed:
                row[1:3] = [changed[r.name]["status"], _dt(changed[r.name]["at"])]
                moved.append(tuple(row))
            else:
                same.append(tuple(row))
        sql.upsert_states(sorted(same), moved=False)
        sql.upsert_states(sorted(moved), moved=True)


def _without_repeats(results: list[Result]) -> list[list[Result]]:
    """The results in batches where each check appears once, in order: one upsert cannot
    touch a row twice (a run has each check once; this is for the odd parked run)."""
    batches: list[list[Result]] = []
    seen: dict[str, int] = {}
    for r in results:
        index = seen[r.name[:100]] = seen.get(r.name[:100], -1) + 1
        if index == len(batches):
            batches.append([])
        batches[index].append(r)
    return batches


def transition_rows(transitions: list[store.StateChange]) -> list[dict]:
    return [
        {"name": t.name, "previous": t.previous, "status": t.current,
         "at": t.result.checked_at, "message": t.result.message}
        for t in transitions
    ]


def save(results: list[Result], transitions: list[store.StateChange],
         backlog: int | None = None) -> bool:
    """Write a run's history; on a database failure keep it in Redis for later.

    Runs parked earlier are written first; ``backlog`` is how many there are when the
    caller knows it already (:func:`healthd.store.record_run` says), so that none
    costs no round trip to Redis.
    """
    rows = transition_rows(transitions)
    try:
        if backlog != 0:
            flush_backlog()
        _write(results, rows)
        return True
    except DATABASE_ERRORS as exc:
        logger.error("could not write history, keeping it in Redis: %s", redact(exc))
        _park(results, rows)
        return False


def _park(results: list[Result], transitions: list[dict]) -> None:
    payload = json.dumps({"results": [r.to_dict() for r in results], "transitions": transitions})
    try:
        client = redis_client.writer()
        pipe = client.pipeline()
        pipe.rpush(store.keys().history_backlog, payload)
        pipe.ltrim(store.keys().history_backlog, -BACKLOG_LIMIT, -1)
        pipe.execute()
    except (StoreNotConfigured, *REDIS_ERRORS) as exc:
        logger.error("history lost: neither the database nor Redis answered: %s", redact(exc))


def flush_backlog(limit: int = 200) -> int:
    """Write up to ``limit`` runs parked while the database was away; return how many.

    Each run is popped before it is written, so two workers never write the same one; a
    run the database refuses for its data (not for being away) goes to a dead-letter list
    instead of blocking every later run; that list keeps the newest DEAD_LETTER_LIMIT.
    """
    try:
        client = redis_client.writer()
    except StoreNotConfigured as exc:
        logger.warning("could not look for parked runs: %s", redact(exc))
        return 0
    written = 0
    while written < limit:
        try:
            item: Any = client.lpop(store.keys().history_backlog)  # a str: decoded
        except REDIS_ERRORS as exc:
            logger.warning("could not take a parked run from Redis (%d written): %s",
                           written, redact(exc))
            return written
        if item is None:
            return written
        try:
            data = json.loads(item)
            _write([Result.from_dict(r) for r in data["results"]], data["transitions"])
        except (OperationalError, InterfaceError):
            _put_back(client, item)  # still away: try next time
            raise
        except REFUSED as exc:
            logger.error("a parked run was refused, kept aside: %s", redact(exc))
            _set_aside(client, item)
        written += 1
    return written


def _put_back(client: Any, item: str) -> None:
    try:
        client.lpush(store.keys().history_backlog, item)
    except REDIS_ERRORS as exc:
        logger.error("history lost: a parked run could not be put back: %s", redact(exc))


def _set_aside(client: Any, item: str) -> None:
    try:
        pipe = client.pipeline()
        pipe.rpush(store.keys().history_dead_letter, item)
        pipe.ltrim(store.keys().history_dead_letter, -DEAD_LETTER_LIMIT, -1)
        pipe.execute()
    except REDIS_ERRORS as exc:
        logger.error("history lost: a refused parked run could not be kept aside: %s",
                     redact(exc))
