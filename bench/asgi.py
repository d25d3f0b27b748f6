"""One ASGI application for the benchmark, as :mod:`bench.wsgi` for WSGI:

- ``/bare``: a bare ASGI answer, no Django at all;
- ``/early/<probe>``: ``<probe>`` through :func:`healthd.asgi.probes`;
- anything else: Django (the trivial coroutine view at ``/trivial-async``, healthd's views,
  coroutines under ASGI).
"""

import os

from django.core.asgi import get_asgi_application

from healthd.asgi import probes

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django_application = get_asgi_application()
early_application = probes(django_application)
EARLY = "/early"


async def application(scope, receive, send):
    path = scope.get("path", "")
    if scope["type"] == "http" and path == "/bare":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", b"16")]})
        await send({"type": "http.response.body", "body": b'{"status": "ok"}'})
        return
    if scope["type"] == "http" and path.startswith(EARLY + "/"):
        scope = {**scope, "path": path[len(EARLY):], "raw_path": path[len(EARLY):].encode()}
        await early_application(scope, receive, send)
        return
    await django_application(scope, receive, send)
