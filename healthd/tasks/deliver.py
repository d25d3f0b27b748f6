"""Delivery of the outbox: each transition's signals, Sentry event, row and notifications.

Every run ends by delivering what the outbox holds (:func:`deliver_outbox`), its own
transitions and any a dead worker left behind. One entry's delivery is four steps, each
marked done as it completes so that a delivery cut short repeats only what was not done:

1. the signals (``check_changed`` and ``check_failed`` / ``check_recovered``), with
   ``transition_id``, ``silenced`` and ``suppressed_by``;
2. one Sentry event (not for a silenced transition, nor one a failing dependency
   suppressed: Sentry gets one event per root transition);
3. the :class:`healthd.models.Transition` row, unique on the transition id;
4. for each channel that wants it: with grouping on (``GROUP_WAIT``), the event joins the
   channel's open group (:mod:`healthd.alerting.grouping`; :func:`flush_groups` sends it
   when due); else one :func:`deliver_notification` task, unless a dependency suppressed
   it. A suppressed transition is counted (``suppressed``) for each channel that would
   have been told.

Then the entry is acknowledged. A step that fails (the database is away for the row,
the broker for the tasks) leaves the entry pending; it is taken again after
``OUTBOX_VISIBILITY_TIMEOUT``. A worker killed during step 1 means the receivers see
the transition again from the next worker: at least once, never lost.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from celery import shared_task
from django.db import IntegrityError
from django.db.models import F
from django.utils import timezone

from healthd import conf
from healthd.alerting import alerts, grouping, notify, outbox
from healthd.alerting.notify import metrics
from healthd.models import Delivery, Transition
from healthd.store.client import StoreNotConfigured
from healthd.util.logs import get_logger
from healthd.util.outages import BROKER_ERRORS, DATABASE_ERRORS, REDIS_ERRORS
from healthd.util.redact import redact

logger = get_logger("healthd.deliver")


def _save_transition(entry: outbox.Entry) -> None:
    """The transition's row, once: a redelivery finds it by its id and writes nothing."""
    result = entry.result
    try:
        Transition.objects.get_or_create(transition_id=entry.id, defaults={
            "name": entry.check[:100], "previous": entry.previous[:10],
            "status": entry.status[:10], "silenced": entry.silenced,
            "suppressed_by": entry.suppressed_by[:100],
            "at": datetime.fromtimestamp(result.checked_at, tz=UTC),
            "message": result.message[:10_000],
        })
    except IntegrityError:  # another worker wrote it between the get and the create
        if not Transition.objects.filter(transition_id=entry.id).exists():
            raise


def event_of(entry: outbox.Entry) -> dict[str, Any]:
    """What the channels are told about an entry."""
    return notify.make_event(
        id=entry.id, check=entry.check, previous=entry.previous, status=entry.status,
        message=entry.result.message, checked_at=entry.result.checked_at,
        host=entry.result.host, silenced=entry.silenced, transition_id=entry.transition_id,
        reminder=entry.reminder, suppressed_by=entry.suppressed_by,
    )


def _queue_notifications(entry: outbox.Entry) -> int:
    event = event_of(entry)
    grouped = grouping.enabled()
    queued = 0
    for channel in notify.configured():
        if not channel.wants(entry.check, entry.status, entry.silenced):
            continue
        if entry.suppressed_by:
            _count(channel.label, "suppressed")
        if grouped:
            joined = grouping.join(channel.id, event)
            if joined.opened:
                flush_groups_task.apply_async(countdown=max(0.0, joined.due - time.time()),
                                              expires=joined.due - time.time() + 3600)
        elif not entry.suppressed_by:
            deliver_notification.apply_async(
                kwargs={"channel_id": channel.id, "event": event, "first_try_at": time.time()})
        queued += 1
    return queued


def _tag_transitions(gid: str, events: list[dict[str, Any]]) -> None:
    """The group a transition was first told in, on its row (best effort: the admin's)."""
    ids = [e.get("transition") or e["id"] for e in events if not e.get("reminder")]
    try:
        Transition.objects.filter(transition_id__in=ids, group="").update(group=gid[:100])
    except DATABASE_ERRORS as exc:
        logger.warning("could not mark the transitions of group %s: %s", gid, redact(exc))


def flush_groups(now: float | None = None) -> int:
    """Send the notification groups due by ``now`` (default: now); how many were sent.

    A group is queued as one :func:`deliver_notification` (its id the Idempotency-Key),
    then dropped; a group of suppressed transitions alone is dropped unsent. Never raises
    for Redis or the broker away: a group not dropped is taken again when its lease ends.
    """
    try:
        claimed = grouping.claim_due(now)
    except (StoreNotConfigured, *REDIS_ERRORS) as exc:
        logger.error("could not read the notification groups: %s", redact(exc))
        return 0
    sent = 0
    for gid, channel_id in claimed:
        try:
            follow_up, events = grouping.members(gid, channel_id)
            if any(not e.get("suppressed_by") for e in events):
                deliver_notification.apply_async(kwargs={
                    "channel_id": channel_id, "first_try_at": time.time(),
                    "event": grouping.group_event(gid, events, follow_up)})
                _tag_transitions(gid, events)
                sent += 1
            grouping.forget(gid, channel_id, [e["id"] for e in events])
        except (*BROKER_ERRORS, *REDIS_ERRORS) as exc:
            logger.warning("could not send notification group %s yet, will retry: %s", gid,
                           redact(exc))
    return sent


@shared_task(name="healthd.tasks.flush_groups", ignore_result=True)
def flush_groups_task() -> dict:
    """Send the notification groups due (queued for when a group opened is due)."""
    return {"sent": flush_groups()}


def deliver_entry(entry: outbox.Entry) -> bool:
    """Deliver one outbox entry, skipping the steps done before; True once acknowledged."""
    done = outbox.done_steps(entry)
    complete = True
    transition = entry.transition
    if not entry.is_reminder:
        if "signals" not in done:
            alerts.send_signals(transition, entry.id, entry.silenced, entry.suppressed_by)
            outbox.mark_done(entry, "signals")
        if "sentry" not in done:
            if not entry.silenced and not entry.suppressed_by:
                alerts.sentry_event(transition, entry.id)
            outbox.mark_done(entry, "sentry")
        if "row" not in done:
            try:
                _save_transition(entry)
                outbox.mark_done(entry, "row")
            except (*DATABASE_ERRORS, *REDIS_ERRORS) as exc:
                complete = False
                logger.warning("could not write transition %s yet, will retry: %s", entry.id,
                               redact(exc))
    if "notify" not in done:
        try:
            _queue_notifications(entry)
            outbox.mark_done(entry, "notify")
        except (*BROKER_ERRORS, *REDIS_ERRORS) as exc:
            complete = False
            logger.warning("could not queue the notifications of %s yet, will retry: %s",
                           entry.id, redact(exc))
    if complete:
        outbox.acknowledge(entry)
    return complete


def deliver_outbox(limit: int = 100) -> int:
    """Deliver what the outbox holds (claimed from dead workers first); how many were done.

    Never raises for Redis, the database or the broker away: a run that stored its
    results must not fail for its announcements.
    """
    try:
        entries = outbox.take(count=limit)
    except (StoreNotConfigured, *REDIS_ERRORS) as exc:
        logger.error("could not read the outbox: %s", redact(exc))
        return 0
    delivered = 0
    with outbox.Lease(entries) as lease:
        for entry in entries:
            try:
                delivered += deliver_entry(entry)
            except REDIS_ERRORS as exc:
                logger.error("could not deliver %s (it stays in the outbox): %s", entry.id,
                             redact(exc))
            lease.release(entry)
    if entries:
        try:
            outbox.trim()
        except REDIS_ERRORS as exc:
            logger.warning("could not trim the outbox: %s", redact(exc))
    flush_groups()  # those due, whose flush task may have died with its worker
    return delivered


@shared_task(name="healthd.tasks.deliver_outbox", ignore_result=True)
def deliver_outbox_task() -> dict:
    """Deliver the outbox now (each run does it too; this is for a site that wants more)."""
    return {"delivered": deliver_outbox()}


def _record_attempt(channel: notify.Channel | None, channel_id: str, event: dict[str, Any],
                    error: str | None, final: bool) -> None:
    """The Delivery row of this (event, channel): best effort, the database may be away."""
    now = timezone.now()
    try:
        row, _ = Delivery.objects.get_or_create(key=event["id"], channel=channel_id, defaults={
            "transition_id": event.get("transition") or event["id"],
            "reminder": int(event.get("reminder") or 0),
            "channel_label": (channel.label if channel else channel_id)[:300],
        })
        changes: dict[str, Any] = {"attempts": F("attempts") + 1, "updated_at": now}
        if error is None:
            changes.update(delivered_at=now, failed_at=None, last_error="")
        else:
            changes["last_error"] = error[:2000]
            if final:
                changes["failed_at"] = now
        Delivery.objects.filter(pk=row.pk).update(**changes)
    except DATABASE_ERRORS as exc:
        logger.warning("could not record the delivery of %s: %s", event.get("id"), redact(exc))


def _count(label: str, outcome: str) -> None:
    try:
        metrics.count(label, outcome)
    except (StoreNotConfigured, *REDIS_ERRORS) as exc:
        logger.warning("could not count a delivery: %s", redact(exc))


@shared_task(bind=True, name="healthd.tasks.deliver_notification", ignore_result=True,
             acks_late=True, reject_on_worker_lost=True, max_retries=None)
def deliver_notification(self: Any, channel_id: str, event: dict[str, Any],
                         first_try_at: float | None = None, attempt: int | None = None) -> dict:
    """Tell one channel about one transition; retry with backoff and jitter for
    NOTIFY_RETRY_FOR seconds, then keep it as failed. Every attempt carries the same
    idempotency key (the event's id), so a receiver can drop a repeat.

    The next attempt is queued as a task of its own (``attempt`` counts them), not raised
    as Celery's ``Retry``: each exception that passes through Celery's tracer leaves a
    reference cycle of frames behind, which only the rare full garbage collection frees,
    and a channel failing for an hour made a pool process grow by 8.6 MB a minute
    (bench.dead_channel).
    """
    settings = conf.get()
    first_try_at = first_try_at or time.time()
    attempt = attempt or self.request.retries + 1  # a retry queued by a former version
    channel = notify.channel_by_id(channel_id)
    if channel is None:
        gone = "the channel is no longer in HEALTHD['NOTIFY']"
        _record_attempt(None, channel_id, event, gone, final=True)
        logger.warning("notification %s to %s dropped: %s", event.get("id"), channel_id, gone)
        return {"delivered": False, "error": gone}
    channel_id = channel.id  # a retry queued under a former id goes on under this one
    error: str | None = None
    try:
        channel.send(event, float(settings.notify_timeout))
    except notify.DeliveryFailed as exc:
        error = str(exc)
    if error is None:
        _record_attempt(channel, channel_id, event, None, final=False)
        _count(channel.label, "delivered")
        logger.info("notified %s of %s (attempt %d)", channel.label, event["id"], attempt)
        return {"delivered": True, "attempts": attempt}
    delay = notify.backoff(attempt, float(settings.notify_backoff),
                           float(settings.notify_backoff_max))
    final = time.time() + delay - first_try_at > float(settings.notify_retry_for)
    _record_attempt(channel, channel_id, event, error, final=final)
    if final:
        _count(channel.label, "failed")
        logger.error("could not notify %s of %s after %d attempts: %s", channel.label,
                     event["id"], attempt, error)
        return {"delivered": False, "attempts": attempt, "error": error}
    _count(channel.label, "retried")
    logger.warning("could not notify %s of %s (attempt %d), retrying in %.1f s: %s",
                   channel.label, event["id"], attempt, delay, error)
    deliver_notification.apply_async(countdown=delay, kwargs={
        "channel_id": channel_id, "event": event, "first_try_at": first_try_at,
        "attempt": attempt + 1})
    return {"delivered": False, "attempts": attempt, "retry_in": delay}
