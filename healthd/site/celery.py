"""The standalone site's Celery app (``celery -A healthd.site``)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthd.site.settings")

app = Celery("healthd")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
