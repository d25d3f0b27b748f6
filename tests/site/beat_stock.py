"""django-celery-beat's own DatabaseScheduler with its five-minute full re-read cut to
three seconds, so the outage tests show in seconds what that re-read does to it."""

from django_celery_beat import schedulers

schedulers.SCHEDULE_SYNC_MAX_INTERVAL = 3
Scheduler = schedulers.DatabaseScheduler
