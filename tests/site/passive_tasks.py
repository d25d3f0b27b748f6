"""Tasks the passive-check tests run in a real worker (which imports this with --include)."""

from __future__ import annotations

from celery import shared_task

import healthd


@shared_task(name="tests.site.passive_tasks.export", ignore_result=True)
@healthd.monitored("worker-export", every=2, grace=1)
def export(fail: bool = False) -> str:
    if fail:
        raise RuntimeError("the export failed")
    return "exported"


@shared_task(name="tests.site.passive_tasks.explode", ignore_result=True)
def explode() -> None:
    raise ZeroDivisionError("the beat task blew up")
