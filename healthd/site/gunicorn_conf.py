"""gunicorn settings of the standalone site: ``gunicorn -c python:healthd.site.gunicorn_conf``.

The access log goes to stdout, without the health probes and with tokens masked
(:mod:`healthd.access_log`). Command-line options still override these.
"""

accesslog = "-"
logger_class = "healthd.access_log.ProbeQuietLogger"
