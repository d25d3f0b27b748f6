"""The Celery app of the worker and beat processes the tests start."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.site.settings")

app = Celery("healthd-tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

if os.environ.get("HEALTHD_TEST_COUNT_SIGNALS"):
    from tests.site import faultchecks

    faultchecks.count_signals()

if os.environ.get("HEALTHD_TEST_BLOCKING_RECEIVER"):
    from tests.support import alerting

    alerting.connect_blocking_receiver()
