"""The database side of a run: history rows, current state, transitions, rollups.

A run costs a handful of statements whatever its number of checks: one bulk insert of
the results, one upsert of the hourly rollups and one or two of the current state, with
the counting done in SQL (see :func:`_upsert`).

When the database is away the rows wait in a Redis list and are written by the
first run that finds the database back, so no result is lost to an outage.
"""

from __future__ import annotations

import json
import math
import sqlite3
from datetime import UTC, datetime
from typing import Any, cast

from django.db import InterfaceError, OperationalError, connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from healthd import store
from healthd.checks.base import Result, Status
from healthd.models import CheckResult, CheckStatus, HourlyRollup
from healthd.store import client as redis_client
from healthd.util.logs import get_logger
from healthd.util.redact import redact

logger = get_logger("healthd.history")
BACKLOG_LIMIT = 200_000
# Refused runs kept for an operator to look at; the oldest go first past this many.
DEAD_LETTER_LIMIT = 10_000


def _dt(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def known_states(names: list[str]) -> dict[str, str]:
    """The state of these checks as the database remembers it ({} when it cannot be read)."""
    if not names:
        return {}
    try:
        return dict(CheckStatus.objects.filter(name__in=names).values_list("name", "status"))
    except Exception as exc:
        logger.warning("could not read check states from the database: %s", redact(exc))
        return {}


RESULT_COLUMNS = ["name", "status", "message", "value", "unit", "duration", "checked_at",
                  "host"]


def _write(results: list[Result], transitions: list[dict]) -> None:
    """One run's history in a handful of statements, whatever the number of results:
    the rows in one insert, the rollups in one upsert, the current state in one or two."""
    with transaction.atomic():
        _insert(CheckResult, RESULT_COLUMNS, [
            (r.name[:100], str(r.status), r.message[:10_000], r.value, (r.unit or "")[:20],
             r.duration, _dt(r.checked_at), r.host)
            for r in results
        ])
        # Transition rows are the outbox's to write (healthd.tasks.deliver), once per id;
        # here transitions only move the current state.
        _roll_up(results)
        _update_states(results, transitions)


def _roll_up(results: list[Result]) -> None:
    """Add the results to their hour's rollup, in SQL: two workers adding to the same
    hour at once both count (an update-then-create could lose a whole run to the race)."""
    totals: dict[tuple[str, datetime], list[Any]] = {}
    for r in results:
        hour = _dt(r.checked_at).replace(minute=0, second=0, microsecond=0)
        total = totals.setdefault((r.name[:100], hour), [0, 0, 0, 0.0, 0.0])
        total[0] += 1
        total[1] += int(r.status == Status.FAILING)
        total[2] += int(r.status == Status.WARNING)
        total[3] += r.duration
        total[4] = max(total[4], r.duration)
    rows = [(name, hour, *total) for (name, hour), total in sorted(totals.items())]
    _insert(HourlyRollup, ["name", "hour", "runs", "failures", "warnings", "duration_sum",
                           "duration_max"], rows, ["name", "hour"], {
        "runs": "{t}.runs + EXCLUDED.runs",
        "failures": "{t}.failures + EXCLUDED.failures",
        "warnings": "{t}.warnings + EXCLUDED.warnings",
        "duration_sum": "{t}.duration_sum + EXCLUDED.duration_sum",
        "duration_max": "CASE WHEN EXCLUDED.duration_max > {t}.duration_max "
                        "THEN EXCLUDED.duration_max ELSE {t}.duration_max END",
    })


STATE_COLUMNS = ["name", "status", "since", "streak", "last_checked_at", "last_message",
                 "last_duration"]
# A result never moves the current state backwards: an older one changes nothing.
NOT_OLDER = "{t}.last_checked_at <= EXCLUDED.last_checked_at"
LATEST = {"last_checked_at": "EXCLUDED.last_checked_at",
          "last_message": "EXCLUDED.last_message", "last_duration": "EXCLUDED.last_duration"}
# No transition: the state stays, and its streak grows when the result agrees with it.
SAME_STATE = {"streak": "CASE WHEN {t}.status = EXCLUDED.status THEN {t}.streak + 1 "
                        "ELSE {t}.streak END", **LATEST}
# A transition: the state it went to, since its time, a streak of one.
NEW_STATE = {"status": "EXCLUDED.status", "since": "EXCLUDED.since", "streak": "1", **LATEST}


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
        _insert(CheckStatus, STATE_COLUMNS, sorted(same), ["name"], SAME_STATE, NOT_OLDER)
        _insert(CheckStatus, STATE_COLUMNS, sorted(moved), ["name"], NEW_STATE, NOT_OLDER)


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


def _insert(model: type[models.Model], columns: list[str], rows: list[tuple],
            conflict: list[str] | None = None, updates: dict[str, str] | None = None,
            where: str = "") -> None:
    """Insert many rows in one statement; with ``conflict``, an upsert:
    ``INSERT … ON CONFLICT (…) DO UPDATE SET …``.

    Written by hand because Django's ``bulk_create(update_conflicts=True)`` can only set
    a column to the inserted value (``EXCLUDED``), never add to the stored one or decide
    by it, and the rollups and streaks are increments; reading rows first and writing
    them back costs a statement per row and loses to a concurrent writer. The plain
    insert of the results is here too: ``bulk_create`` cost three times the CPU for a
    thousand rows, and on SQLite splits them by Django's 999-parameter guess.

    The statement is the same on PostgreSQL and SQLite (3.24 and later) but for where
    the rows come from: a multi-row ``VALUES`` on SQLite (as many rows as its parameter
    limit allows); on PostgreSQL one JSON array of rows, each column cast to its type,
    because psycopg renders every parameter (and parses every placeholder) in Python,
    and a thousand rows' seven thousand took longer than the rest of the run. Names are
    quoted by the connection. ``{t}`` in ``updates`` and ``where`` stands for the
    table's quoted name (the stored row). Rows should come sorted by ``conflict``, so
    that two writers lock them in the same order. Values are str, int, float, None or
    an aware datetime.
    """
    if not rows:
        return
    db = connections[router.db_for_write(model)]
    quote = db.ops.quote_name
    table = quote(model._meta.db_table)
    fields = [cast(models.Field, model._meta.get_field(name)) for name in columns]
    head = f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) "
    tail = ""
    if conflict:
        tail = (f" ON CONFLICT ({', '.join(quote(c) for c in conflict)}) DO UPDATE SET "
                + ", ".join(f"{quote(column)} = {expression.format(t=table)}"
                            for column, expression in (updates or {}).items())
                + (f" WHERE {where.format(t=table)}" if where else ""))
    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            values = ", ".join(f"(r->>{index})::{field.db_type(db)}"
                               for index, field in enumerate(fields))
            cursor.execute(
                f"{head}SELECT {values} FROM json_array_elements(%s::json) AS r{tail}",  # noqa: S608
                [_json_rows(rows)])
            return
        # Only a datetime needs the backend's own form; the rest every backend takes as is.
        dated = [index for index, field in enumerate(fields)
                 if isinstance(field, models.DateTimeField)]
        prepared = []
        for row in rows:
            values_of_row = list(row)
            for index in dated:
                values_of_row[index] = fields[index].get_db_prep_save(row[index], db)
            prepared.append(values_of_row)
        placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
        per_statement = max(1, _max_parameters(db) // len(columns))
        for start in range(0, len(prepared), per_statement):
            chunk = prepared[start:start + per_statement]
            cursor.execute(f"{head}VALUES {', '.join([placeholders] * len(chunk))}{tail}",
                           [value for row in chunk for value in row])


def _json_rows(rows: list[tuple]) -> str:
    """The rows as one JSON array for PostgreSQL; an infinity or NaN (not JSON) goes as
    the text PostgreSQL reads as that float."""
    try:
        return json.dumps(rows, default=datetime.isoformat, allow_nan=False)
    except ValueError:
        return json.dumps([[repr(v) if isinstance(v, float) and not math.isfinite(v) else v
                            for v in row] for row in rows], default=datetime.isoformat)


def _max_parameters(db: BaseDatabaseWrapper) -> int:
    """How many parameters one statement may carry on this database."""
    if db.vendor == "sqlite":
        # Django assumes SQLite's old default of 999; the library says what it allows.
        db.ensure_connection()
        return int(db.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    return int(db.features.max_query_params or 65_535)


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
    except Exception as exc:
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
    except Exception as exc:
        logger.error("history lost: neither the database nor Redis answered: %s", redact(exc))


def flush_backlog(limit: int = 200) -> int:
    """Write up to ``limit`` runs parked while the database was away; return how many.

    Each run is popped before it is written, so two workers never write the same one; a
    run the database refuses for its data (not for being away) goes to a dead-letter list
    instead of blocking every later run; that list keeps the newest DEAD_LETTER_LIMIT.
    """
    try:
        client = redis_client.writer()
    except Exception:
        return 0
    written = 0
    while written < limit:
        try:
            item: Any = client.lpop(store.keys().history_backlog)  # a str: decoded
        except Exception:
            return written
        if item is None:
            return written
        try:
            data = json.loads(item)
            _write([Result.from_dict(r) for r in data["results"]], data["transitions"])
        except (OperationalError, InterfaceError):
            client.lpush(store.keys().history_backlog, item)  # still away: try next time
            raise
        except Exception as exc:
            logger.error("a parked run was refused, kept aside: %s", redact(exc))
            pipe = client.pipeline()
            pipe.rpush(store.keys().history_dead_letter, item)
            pipe.ltrim(store.keys().history_dead_letter, -DEAD_LETTER_LIMIT, -1)
            pipe.execute()
        written += 1
    return written
