"""The database side of a run: history rows, current state, transitions, rollups.

When the database is away the rows wait in a Redis list and are written by the
first run that finds the database back, so no result is lost to an outage.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F
from django.db.models.functions import Greatest

from healthd import redis_client, store
from healthd.checks.base import Result, Status
from healthd.models import CheckResult, CheckStatus, HourlyRollup
from healthd.redact import redact

logger = logging.getLogger("healthd.history")
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


def _write(results: list[Result], transitions: list[dict]) -> None:
    with transaction.atomic():
        CheckResult.objects.bulk_create([
            CheckResult(
                name=r.name[:100], status=str(r.status), message=r.message[:10_000],
                value=r.value, unit=(r.unit or "")[:20], duration=r.duration,
                checked_at=_dt(r.checked_at), host=r.host,
            )
            for r in results
        ])
        # Transition rows are the outbox's to write (healthd.tasks.deliver), once per id;
        # here transitions only move the current state.
        for r in results:
            _roll_up(r)
        _update_states(results, transitions)


def _roll_up(result: Result) -> None:
    hour = _dt(result.checked_at).replace(minute=0, second=0, microsecond=0)
    failed = int(result.status == Status.FAILING)
    warned = int(result.status == Status.WARNING)
    updated = HourlyRollup.objects.filter(name=result.name, hour=hour).update(
        runs=F("runs") + 1, failures=F("failures") + failed, warnings=F("warnings") + warned,
        duration_sum=F("duration_sum") + result.duration,
        duration_max=Greatest(F("duration_max"), result.duration),
    )
    if not updated:
        HourlyRollup.objects.create(
            name=result.name, hour=hour, runs=1, failures=failed, warnings=warned,
            duration_sum=result.duration, duration_max=result.duration,
        )


def _update_states(results: list[Result], transitions: list[dict]) -> None:
    changed = {t["name"]: t for t in transitions}
    for r in results:
        state = CheckStatus.objects.select_for_update().filter(name=r.name).first()
        at = _dt(r.checked_at)
        if state is None:
            CheckStatus.objects.create(
                name=r.name, status=str(r.status), since=at, streak=1, last_checked_at=at,
                last_message=r.message[:10_000], last_duration=r.duration,
            )
            continue
        if state.last_checked_at > at:
            continue
        if r.name in changed:
            state.status = changed[r.name]["status"]
            state.since = _dt(changed[r.name]["at"])
            state.streak = 1
        elif str(r.status) == state.status:
            state.streak += 1
        state.last_checked_at = at
        state.last_message = r.message[:10_000]
        state.last_duration = r.duration
        state.save()


def transition_rows(transitions: list[store.StateChange]) -> list[dict]:
    return [
        {"name": t.name, "previous": t.previous, "status": t.current,
         "at": t.result.checked_at, "message": t.result.message}
        for t in transitions
    ]


def save(results: list[Result], transitions: list[store.StateChange]) -> bool:
    """Write a run's history; on a database failure keep it in Redis for later."""
    rows = transition_rows(transitions)
    try:
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
            # One item (no count given), as text: the writer decodes responses.
            item: str | None = client.lpop(store.keys().history_backlog)  # type: ignore[assignment]
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
