"""One WSGI application for the benchmark, so every figure comes from the same server:

- ``/bare``: a bare WSGI answer, no Django at all (the ceiling);
- ``/early/<probe>``: ``<probe>`` through :func:`healthd.wsgi.probes`;
- anything else: Django (the trivial view at ``/trivial``, healthd's views).
"""

import os

from django.core.wsgi import get_wsgi_application

from healthd.wsgi import probes

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django_application = get_wsgi_application()
early_application = probes(django_application)
EARLY = "/early"


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/bare":
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", "16")])
        return [b'{"status": "ok"}']
    if path.startswith(EARLY + "/"):
        environ["PATH_INFO"] = path[len(EARLY):]
        return early_application(environ, start_response)
    return django_application(environ, start_response)
