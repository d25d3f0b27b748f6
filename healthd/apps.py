"""Django glue: the schedule after migrate, a first run when a worker starts, system checks."""

from __future__ import annotations

import logging

from django.apps import AppConfig
from django.core import checks as django_checks
from django.db.models.signals import post_migrate

logger = logging.getLogger("healthd")


class HealthdConfig(AppConfig):
    name = "healthd"
    verbose_name = "Health checks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.signals import worker_ready

        from healthd.tasks.schedule import on_post_migrate

        post_migrate.connect(on_post_migrate, sender=self, dispatch_uid="healthd.sync_schedule")
        worker_ready.connect(_first_run, dispatch_uid="healthd.first_run", weak=False)
        django_checks.register(check_settings, "healthd")


def _first_run(sender=None, **kwargs) -> None:
    """Queue a run as soon as a worker is up, so a fresh deploy is not red for an interval."""
    from healthd.tasks import gather_stats, run_checks

    try:
        run_checks.apply_async(expires=60)
        gather_stats.apply_async(expires=60)
    except Exception as exc:  # the worker must start even if this cannot be queued
        from healthd.redact import redact

        logger.error("could not queue healthd's first run: %s", redact(exc))


def check_settings(app_configs=None, **kwargs) -> list[django_checks.CheckMessage]:
    """Report malformed healthd settings at start-up, naming the setting."""
    from healthd.conf import validate_settings

    return [
        django_checks.Error(f"{setting}: {problem}", id=f"healthd.E{index:03d}")
        for setting, problem, index in validate_settings()
    ]
