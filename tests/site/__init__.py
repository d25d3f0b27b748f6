"""The test site: its settings, Celery app, URLs, WSGI entry point, and the checks and
tasks its settings and the processes the tests start name by dotted path."""
