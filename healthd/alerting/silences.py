"""Silences: the database's :class:`healthd.models.Silence` rows, mirrored into Redis.

The record script (``healthd/store/record.lua``) decides, atomically with each
result, whether the check is silenced; it reads the silences from the Redis hash
``<prefix>silences``. The mirror is written when a silence is saved or deleted (these
receivers, which also mark the latest records so the views say "silenced" at once)
and rewritten from the database at the start of each run, so a silence made by a bulk
update, a fixture or another site still counts, and one deleted behind Django's back
stops counting. While the database is away the last mirror holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from healthd import store
from healthd.checks import registry
from healthd.models import Silence
from healthd.store.client import StoreNotConfigured
from healthd.util.logs import get_logger
from healthd.util.outages import DATABASE_ERRORS, REDIS_ERRORS
from healthd.util.redact import redact

logger = get_logger("healthd.silences")

# A result may be recorded a little after it was taken: a silence stays in the mirror
# this long after it ended, so such a result is still judged by it.
KEEP_ENDED = timedelta(hours=1)
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
    """What the record script reads of one silence: checks and epoch seconds."""
    checks = ([silence.checks] if isinstance(silence.checks, str)
              else list(dict.fromkeys(str(name) for name in silence.checks or [])))
    return {"checks": checks, "starts_at": silence.starts_at.timestamp(),
            "ends_at": silence.ends_at.timestamp()}


def current() -> list[Silence]:
    """The silences in force now or to come (and those ended within KEEP_ENDED)."""
    return list(Silence.objects.filter(ends_at__gt=timezone.now() - KEEP_ENDED))


def windows() -> dict[str, dict[str, Any]] | None:
    """What the Redis mirror is to hold, by silence id; None when the database cannot be
    read (then the last mirror holds). A run hands it to the record script, which
    replaces the mirror in the same round trip as it records the results."""
    try:
        return {str(s.pk): as_window(s) for s in current()}
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
        store.put_silence(str(instance.pk), as_window(instance))
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


def end(silence: Silence) -> None:
    """End a silence now (kept for the record); what changed under it is told once."""
    now = timezone.now()
    if silence.ends_at > now:
        silence.ends_at = max(now, silence.starts_at + timedelta(microseconds=1))
        silence.save(update_fields=["ends_at"])
