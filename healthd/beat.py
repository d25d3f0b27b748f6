"""healthd's beat scheduler: django-celery-beat's, made to outlive a database outage.

django-celery-beat's ``DatabaseScheduler`` re-reads the whole schedule every five
minutes, and that read is not guarded: a database that refuses connections at that
moment raises ``OperationalError`` out of ``tick()`` and beat exits, so every check
stops running (and a supervisor such as ``healthd run`` takes web and worker down with
it). Nothing beat sends needs the database: the tasks go to the broker and the results
to Redis. So this scheduler keeps the schedule it last read while the database is away,
says so once, asks again at most once per ``max_interval``, and refreshes as soon as
the database answers. A beat (re)started while the database is away has read nothing:
it sends healthd's own rows as the settings make them (``sync_schedule`` would write
the same), so the checks keep running and reaching Redis; the operator's rows, and
edits of healthd's, wait for the first read that succeeds. It is the standalone site's
``CELERY_BEAT_SCHEDULER``; another site sets::

    CELERY_BEAT_SCHEDULER = "healthd.beat:Scheduler"

``HEALTHD["SCHEDULE_REFRESH_SECONDS"]`` (default 300, at most 300) sets how often the
whole schedule is re-read when nothing says it changed.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import close_old_connections, transaction
from django.db.utils import DatabaseError, InterfaceError
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import SCHEDULE_SYNC_MAX_INTERVAL, DatabaseScheduler

from healthd import conf
from healthd.tasks.schedule import wanted_rows
from healthd.util.logs import get_logger
from healthd.util.redact import redact

logger = get_logger("healthd.beat")

DATABASE_ERRORS = (DatabaseError, InterfaceError)


def _first_line(exc: BaseException) -> str:
    """``OperationalError: connection … refused``: the gist, secrets masked."""
    lines = str(exc).strip().splitlines()
    return redact(f"{type(exc).__name__}: {lines[0] if lines else ''}")


class Scheduler(DatabaseScheduler):
    """A ``DatabaseScheduler`` that sends runs from the schedule in hand while the
    database is away, instead of dying on its next full re-read."""

    # Set by the base classes (untyped): the last PeriodicTasks change seen, and the
    # heap Scheduler.tick() sends from.
    _last_timestamp: Any
    _heap: list[Any] | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Set before the base class reads the schedule (it does so in __init__).
        self._read_at: float | None = None  # monotonic time of the last full read
        self._away_since: float | None = None  # when the database stopped answering
        self._last_attempt = 0.0
        self._setup_pending = False
        self._from_settings = False  # sending the settings' rows: nothing read yet
        super().__init__(*args, **kwargs)

    @property
    def refresh_seconds(self) -> float:
        """Seconds between full re-reads; capped at django-celery-beat's look-ahead for
        clocked tasks, so none is missed between two reads."""
        configured = float(conf.get().schedule_refresh_seconds)
        return min(configured, SCHEDULE_SYNC_MAX_INTERVAL)

    @property
    def database_away(self) -> bool:
        """True from a failed read until the next one that succeeds."""
        return self._away_since is not None

    @property
    def schedule(self) -> dict[str, Any]:
        """The schedule in hand: re-read when it changed or is due, kept when the
        database does not answer."""
        return self._refresh()

    def _refresh(self) -> dict[str, Any]:
        now = time.monotonic()
        if self.database_away and now - self._last_attempt < self.max_interval:
            return self._schedule
        try:
            if self._read_due(now):
                self._read(now)
        except DATABASE_ERRORS as exc:
            self._on_database_away(exc, now)
        else:
            if self.database_away:
                self._on_database_back(now)
        return self._schedule

    def _last_change(self) -> Any:
        """When the schedule last changed (PeriodicTasks); raises if the database is away."""
        close_old_connections()
        # A REPEATABLE READ snapshot (MySQL's default) would hide other transactions' changes.
        with contextlib.suppress(transaction.TransactionManagementError):
            transaction.commit()
        return self.Changes.last_change()

    def _read_due(self, now: float) -> bool:
        changed_at = self._last_change()
        previous, self._last_timestamp = self._last_timestamp, changed_at
        changed = bool(changed_at and changed_at > (previous or changed_at))
        if changed:
            logger.info("beat: the schedule changed; reading it again")
        return (self._read_at is None or self.database_away or changed
                or now - self._read_at >= self.refresh_seconds)

    def _read(self, now: float) -> None:
        if self._from_settings:
            self._dirty.clear()  # the settings' rows have no row of theirs to write to
        self._write_last_runs()  # first the last run times of what was sent since
        fresh = self.all_as_schedule()
        self._schedule = fresh
        self._from_settings = False
        self._read_at = now
        if self._heap is not None:
            # Entries changed under the heap: Scheduler.tick() builds it again.
            self._heap = []
            self._heap_invalidated = True

    def _on_database_away(self, exc: BaseException, now: float) -> None:
        self._last_attempt = now
        if self.database_away:
            return  # said once per outage
        self._away_since = now
        if self._schedule is None:
            self._schedule = self._settings_schedule()
            self._from_settings = True
            logger.warning(
                "beat could not read its schedule: the database did not answer (%s). "
                "Sending healthd's %d entries as the settings make them until it does; "
                "asking again every %g s.",
                _first_line(exc), len(self._schedule), self.max_interval)
            return
        logger.warning(
            "beat could not refresh its schedule: the database did not answer (%s). "
            "Sending runs from the %d entries read before; asking again every %g s.",
            _first_line(exc), len(self._schedule), self.max_interval)

    def _settings_schedule(self) -> dict[str, Any]:
        """healthd's rows as ``sync_schedule`` writes them, built in memory (no query):
        what to send when the database could not be read even once."""
        entries: dict[str, Any] = {}
        for name, (task, every, kwargs) in wanted_rows().items():
            row = PeriodicTask(
                name=name, task=task, kwargs=json.dumps(kwargs), expire_seconds=every,
                interval=IntervalSchedule(every=every, period=IntervalSchedule.SECONDS))
            entries[name] = self.Entry(row, app=self.app)
        return entries

    def _on_database_back(self, now: float) -> None:
        away_for = now - (self._away_since or now)
        self._away_since = None
        logger.warning("beat: the database answers again after %.0f s; schedule refreshed "
                       "(%d entries)", away_for, len(self._schedule))

    def setup_schedule(self) -> None:
        """Read the schedule and install the default and ``beat_schedule`` entries; if the
        database is away at start-up, install them once it answers."""
        self._refresh()
        if self.database_away:
            self._setup_pending = True
            return
        super().setup_schedule()

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if self._setup_pending and not self.database_away:
            self._setup_pending = False
            super().setup_schedule()
        return super().tick(*args, **kwargs)

    def sync(self) -> None:
        """Write the last run times, unless the database is known to be away: they stay
        pending and are written by the first read that succeeds.

        Written here rather than by django-celery-beat's ``sync``, which logs a traceback
        when the database goes away mid-write and forgets the entry it was writing: here
        that is the outage noticed (logged once, as a failed refresh is) and the entry kept.
        """
        if self.database_away:
            return
        try:
            self._write_last_runs()
        except DATABASE_ERRORS as exc:
            self._on_database_away(exc, time.monotonic())

    def _write_last_runs(self) -> None:
        """Save the entries sent since the last write; raises when the database is away
        (what was not written stays pending)."""
        written: set[str] = set()
        try:
            close_old_connections()
            for name in list(self._dirty):
                try:
                    self._schedule[name].save()
                except (KeyError, TypeError, ObjectDoesNotExist):
                    continue  # tried again at the next write, as django-celery-beat does
                written.add(name)
        finally:
            self._dirty -= written
