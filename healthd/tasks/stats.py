"""The Celery task that gathers django-status's stats, so the status views only read them."""

from __future__ import annotations

from celery import shared_task

from healthd import conf
from healthd.compat.status import stats


@shared_task(name="healthd.tasks.gather_stats", ignore_result=True)
def gather_stats() -> dict:
    """Gather the stats and custom STATUS_PROVIDERS and keep them in Redis for the views."""
    if not conf.get().stats:
        return {"skipped": "HEALTHD['STATS'] is False"}
    data = stats.gather_stats()
    stats.store_stats(data)
    failed = [kind for kind, outcome in data["builtin"].items() if "error" in outcome]
    failed += [f"{resource}/{name}" for resource, by_name in data["providers"].items()
               for name, outcome in by_name.items() if "error" in outcome]
    return {"gathered_at": data["gathered_at"], "failed": failed}
