"""The instance watch: each run reads every web pod's published state and records one
``instance:<name>`` result per pod (see :mod:`healthd.local.watch`), so that a pod
unready for longer than ``HEALTHD["INSTANCE_GRACE"]`` is a transition delivered as any
check's (signals, one Sentry event, notifications)."""

from __future__ import annotations

from celery import shared_task

from healthd import store
from healthd.checks.base import Status
from healthd.history import write as history
from healthd.local import instances, watch
from healthd.store import client as redis_client
from healthd.store.client import StoreNotConfigured
from healthd.tasks.deliver import deliver_outbox
from healthd.util.logs import get_logger
from healthd.util.outages import REDIS_ERRORS
from healthd.util.redact import redact

logger = get_logger("healthd.tasks")


def watch_pods() -> dict:
    """Record a result per pod (and per pod gone while failing); deliver what changed."""
    client = redis_client.writer()
    try:
        pods = instances.pods(client)
        snapshot = store.read_latest()
        if snapshot.error:
            raise ConnectionError(snapshot.error)
        results, forget = watch.decide(pods, snapshot.records)
        checks = [watch.check_for(r.name) for r in results]
        recorded = store.record_run(results, checks) if results else store.Recorded()
        if forget:
            client.hdel(store.keys().latest, *forget)
    except (StoreNotConfigured, ConnectionError, *REDIS_ERRORS) as exc:
        logger.error("could not watch the instances: %s", redact(exc))
        return {"error": type(exc).__name__}
    if recorded.news or recorded.outbox_waiting:
        deliver_outbox()
    # The history keeps the pods' incidents, not a row per pod per run: pods come and go
    # with every deploy, and a healthy one has nothing to remember.
    changed = {t.name for t in recorded.news}
    worth_keeping = [r for r in results if r.status != Status.PASSING or r.name in changed]
    if worth_keeping or recorded.backlog:
        history.save(worth_keeping, recorded.news, backlog=recorded.backlog)
    return {"pods": len(pods), "ready": sum(1 for p in pods if p.ready),
            "transitions": len(recorded.news), "forgotten": len(forget)}


@shared_task(name="healthd.tasks.watch_instances", ignore_result=True)
def watch_instances() -> dict:
    """Scheduled every quarter of ``INSTANCE_GRACE`` (1 to 30 s)."""
    return watch_pods()
