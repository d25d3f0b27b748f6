"""gunicorn settings of the standalone site: ``gunicorn -c python:healthd.site.gunicorn_conf``.

The access log goes to stdout, without the health probes and with tokens masked
(:mod:`healthd.access_log`). On SIGTERM the server drains first: ``/readyz`` answers 503
for ``HEALTHD["DRAIN_SECONDS"]`` (``HEALTHD_DRAIN_SECONDS``) while every other request is
served, then gunicorn stops gracefully (:mod:`healthd.local.gunicorn_drain`; a site's own
gunicorn config can import the same hooks). Command-line options still override these.

gunicorn's control socket (``gunicornc``, on by default since gunicorn 25.1) is off. It
runs an asyncio loop on a thread of the arbiter, which gunicorn stops before every fork
and starts afresh after it: each worker replaced (``HEALTHD["RECYCLE_SECONDS"]``) then
left the arbiter a little larger, by a page at some forks and half a megabyte once in
about 700 (``bench.soak``; README, Benchmarks). Every gunicorn on a host also shares its
default path, so one stopping removes another's socket. healthd does not use it; a site
that wants ``gunicornc`` writes its own config and imports the hooks from there. An older
gunicorn ignores the setting.
"""

from healthd.local.gunicorn_drain import post_worker_init, when_ready, worker_exit

__all__ = ["post_worker_init", "when_ready", "worker_exit"]

accesslog = "-"
logger_class = "healthd.access_log.ProbeQuietLogger"
control_socket_disable = True
