"""Django glue: the schedule after migrate, a first run when a worker starts, system checks."""

from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class HealthdConfig(AppConfig):
    name = "healthd"
    verbose_name = "Health checks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, as Django intends: they need the app registry to be ready.
        from celery.signals import worker_ready

        from healthd import system_checks  # noqa: F401 - registers the settings checks
        from healthd.alerting import alerts
        from healthd.tasks.first_run import queue_first_run
        from healthd.tasks.schedule import on_post_migrate

        post_migrate.connect(on_post_migrate, sender=self, dispatch_uid="healthd.sync_schedule")
        worker_ready.connect(queue_first_run, dispatch_uid="healthd.first_run", weak=False)
        # A check's failed run is logged, but is news for Sentry only as a transition.
        alerts.keep_runs_out_of_sentry()
