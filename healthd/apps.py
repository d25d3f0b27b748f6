"""Django glue: the schedule after migrate, a first run when a worker starts, the Celery
processes' recycling, system checks."""

from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class HealthdConfig(AppConfig):
    name = "healthd"
    verbose_name = "Health checks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, as Django intends: they need the app registry to be ready.
        from celery.signals import (
            beat_embedded_init,
            beat_init,
            worker_ready,
            worker_shutting_down,
        )

        from healthd import (
            passive,  # noqa: F401 - reports watched Celery task runs
            system_checks,  # noqa: F401 - registers the settings checks
        )
        from healthd.alerting import (
            alerts,
            silences,  # noqa: F401 - mirrors silences to Redis when saved
        )
        from healthd.tasks import recycle
        from healthd.tasks.first_run import queue_first_run
        from healthd.tasks.schedule import on_post_migrate

        post_migrate.connect(on_post_migrate, sender=self, dispatch_uid="healthd.sync_schedule")
        worker_ready.connect(queue_first_run, dispatch_uid="healthd.first_run", weak=False)
        # The worker's main process and beat replace themselves after RECYCLE_SECONDS.
        worker_ready.connect(recycle.on_worker_ready, dispatch_uid="healthd.recycle.worker",
                             weak=False)
        worker_shutting_down.connect(recycle.on_worker_shutting_down,
                                     dispatch_uid="healthd.recycle.stop", weak=False)
        beat_init.connect(recycle.on_beat_init, dispatch_uid="healthd.recycle.beat",
                          weak=False)
        beat_embedded_init.connect(recycle.on_beat_embedded_init,
                                   dispatch_uid="healthd.recycle.embedded_beat", weak=False)
        # A check's failed run is logged, but is news for Sentry only as a transition.
        alerts.keep_runs_out_of_sentry()
