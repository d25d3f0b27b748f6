"""The standalone healthd site: settings from the environment, admin, every endpoint."""

from healthd.site.celery import app as celery_app

__all__ = ["celery_app"]
