"""Silences: the database's :class:`healthd.models.Silence` rows, mirrored into Redis.

The record script (``healthd/store/record.lua``) decides, atomically with each
result, whether the check is silenced; it reads the silences from the Redis hash
``<prefix>silences``. The mirror is written when a silence is saved or deleted (these
receivers, which also mark the latest records so the views say "silenced" at once)
and rewritten from the database at the start of each run, so a silence made by a bulk
update, a fixture or another site still counts, and one deleted behind Django's back
stops counting. While the database is away the last mirror holds.

A repeating silence (``every``: a cron expression) is mirrored as its windows, each a
field ``<id>@<start>`` that the record script judges like a one-off silence (so what
changed under a window is told once at its end): those from KEEP_ENDED ago to HORIZON
ahead, at most WINDOWS_KEPT of them, rewritten at each run.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from healthd import store
from healthd.checks import registry
from healthd.models import Silence
from healthd.store.client import StoreNotConfigured
from healthd.util import recurrence
from healthd.util.logs import get_logger
from healthd.util.outages import DATABASE_ERRORS, REDIS_ERRORS
from healthd.util.redact import redact

logger = get_logger("healthd.silences")

# A result may be recorded a little after it was taken: a silence stays in the mirror
# this long after it ended, so such a result is still judged by it.
KEEP_ENDED = timedelta(hours=1)
# A repeating silence's windows in the mirror: this far ahead (a weekly one always has
# its next window, for the views and for runs while the database is away), at most this
# many (a window every minute would otherwise fill the hash the record script reads).
HORIZON = timedelta(days=8)
WINDOWS_KEPT = 100
REASON_LONGEST = 500
# How many names an error about unknown ones repeats.
NAMES_SHOWN = 10


def _some(names: list[str]) -> str:
    more = f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
    return ", ".join(names[:NAMES_SHOWN]) + more


def checked_names(names: Iterable[str]) -> list[str]:
    """``names`` once each, in order; ValueError when one is not a configured check.

    So a silence holds at most the configured checks, whatever was sent (the admin's
    form, ``manage.py healthd_silence``).
    """
    unique = list(dict.fromkeys(str(name) for name in names))
    known = {check.name for check in registry.configured_checks()}
    unknown = [name[:100] for name in unique if name not in known]
    if unknown:
        raise ValueError(f"not a configured check: {_some(unknown)} "
                         f"(known: {_some(sorted(known))})")
    return unique


def checked_reason(reason: str) -> str:
    """``reason``; ValueError when it is longer than REASON_LONGEST characters."""
    if len(reason) > REASON_LONGEST:
        raise ValueError(f"a reason is at most {REASON_LONGEST} characters, not {len(reason)}")
    return reason


def as_window(silence: Silence) -> dict[str, Any]:
    """What the record script reads of one one-off silence: checks and epoch seconds."""
    assert silence.ends_at is not None
    return _window(silence, silence.starts_at, silence.ends_at)


def _window(silence: Silence, starts_at: Any, ends_at: Any) -> dict[str, Any]:
    checks = ([silence.checks] if isinstance(silence.checks, str)
              else list(dict.fromkeys(str(name) for name in silence.checks or [])))
    return {"checks": checks, "starts_at": starts_at.timestamp(),
            "ends_at": ends_at.timestamp()}


def as_windows(silence: Silence, now: Any = None) -> dict[str, dict[str, Any]]:
    """The mirror's fields for one silence: ``{id: window}`` for a one-off one, and
    ``{"<id>@<start>": window}`` for each window of a repeating one (see the module's
    docstring); none for a repeating one whose cron expression or zone is not one."""
    if not silence.every:
        return {str(silence.pk): as_window(silence)}
    now = now or timezone.now()
    try:
        found = silence.windows(now - KEEP_ENDED, now + HORIZON, limit=WINDOWS_KEPT)
    except ValueError as exc:  # saved behind the form's back: nothing to judge by
        logger.warning("silence %s does not repeat: %s", silence.pk, redact(exc))
        return {}
    return {f"{silence.pk}@{int(start.timestamp())}": _window(silence, start, end)
            for start, end in found}


def current() -> list[Silence]:
    """The silences in force now or to come (and those ended within KEEP_ENDED)."""
    return list(Silence.objects.filter(Q(ends_at__gt=timezone.now() - KEEP_ENDED)
                                       | Q(ends_at__isnull=True)))


def windows() -> dict[str, dict[str, Any]] | None:
    """What the Redis mirror is to hold, by silence id (and window); None when the
    database cannot be read (then the last mirror holds). A run hands it to the record
    script, which replaces the mirror in the same round trip as it records the results."""
    try:
        now = timezone.now()
        return {key: window for s in current() for key, window in as_windows(s, now).items()}
    except DATABASE_ERRORS as exc:
        logger.warning("could not read the silences, keeping the last known: %s", redact(exc))
        return None


def sync() -> bool:
    """Rewrite the Redis mirror from the database; False (and the mirror kept) when the
    database or Redis cannot be read."""
    found = windows()
    if found is None:
        return False
    try:
        store.replace_silences(found)
    except (StoreNotConfigured, *REDIS_ERRORS) as exc:
        logger.warning("could not write the silences to Redis: %s", redact(exc))
        return False
    return True


def _saved(sender: type, instance: Silence, **kwargs: Any) -> None:
    try:
        store.put_silence_windows(str(instance.pk), as_windows(instance))
        store.show_silences()
    except (StoreNotConfigured, *REDIS_ERRORS) as exc:  # saved; the next run mirrors it
        logger.warning("could not mirror silence %s to Redis: %s", instance.pk, redact(exc))


def _deleted(sender: type, instance: Silence, **kwargs: Any) -> None:
    try:
        store.drop_silence(str(instance.pk))
        store.show_silences()
    except (StoreNotConfigured, *REDIS_ERRORS) as exc:
        logger.warning("could not drop silence %s from Redis: %s", instance.pk, redact(exc))


post_save.connect(_saved, sender=Silence, dispatch_uid="healthd.silences.saved")
post_delete.connect(_deleted, sender=Silence, dispatch_uid="healthd.silences.deleted")


def create(names: list[str], duration: timedelta, reason: str = "", created_by: str = "",
           starts_at: Any = None) -> Silence:
    """A silence of ``names`` (empty: every check) from now (or ``starts_at``) for
    ``duration``; ValueError when a name is not a configured check or the reason too long."""
    start = starts_at or timezone.now()
    return Silence.objects.create(checks=checked_names(names), starts_at=start,
                                  ends_at=start + duration, reason=checked_reason(reason),
                                  created_by=created_by[:150])


def create_recurring(names: list[str], every: str, duration: timedelta, time_zone: str = "",
                     reason: str = "", created_by: str = "", starts_at: Any = None,
                     ends_at: Any = None) -> Silence:
    """A silence of ``names`` (empty: every check) for ``duration`` each time the cron
    expression ``every`` fires in ``time_zone`` (empty: the site's), from now (or
    ``starts_at``) until ``ends_at`` (None: for ever); ValueError when a field is wrong."""
    cron = recurrence.normal_cron(every)
    if time_zone:
        recurrence.parse_zone(time_zone)
    if duration <= timedelta(0):
        raise ValueError("a silence lasts more than nothing")
    start = starts_at or timezone.now()
    if ends_at is not None and ends_at <= start:
        raise ValueError("a silence ends after it starts")
    return Silence.objects.create(checks=checked_names(names), every=cron, duration=duration,
                                  time_zone=time_zone.strip(), starts_at=start, ends_at=ends_at,
                                  reason=checked_reason(reason), created_by=created_by[:150])


def end(silence: Silence) -> None:
    """End a silence now (kept for the record); what changed under it is told once. A
    repeating one stops repeating, its window in force (if any) ending now."""
    now = timezone.now()
    if silence.ends_at is None or silence.ends_at > now:
        silence.ends_at = max(now, silence.starts_at + timedelta(microseconds=1))
        silence.save(update_fields=["ends_at"])
