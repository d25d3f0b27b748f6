"""gunicorn settings of the standalone site: ``gunicorn -c python:healthd.site.gunicorn_conf``.

The access log goes to stdout, without the health probes and with tokens masked
(:mod:`healthd.access_log`). On SIGTERM the server drains first: ``/readyz`` answers 503
for ``HEALTHD["DRAIN_SECONDS"]`` (``HEALTHD_DRAIN_SECONDS``) while every other request is
served, then gunicorn stops gracefully (:mod:`healthd.local.gunicorn_drain`; a site's own
gunicorn config can import the same hooks). Command-line options still override these.
"""

from healthd.local.gunicorn_drain import post_worker_init, when_ready, worker_exit

__all__ = ["post_worker_init", "when_ready", "worker_exit"]

accesslog = "-"
logger_class = "healthd.access_log.ProbeQuietLogger"
