"""The standalone site for an ASGI server: ``uvicorn healthd.site.asgi:application``.

Outermost, :func:`healthd.local.asgi_drain.drains`: on SIGTERM ``/readyz`` answers 503
for ``HEALTHD["DRAIN_SECONDS"]`` while every other request is served, then uvicorn stops.
"""

import os

from django.core.asgi import get_asgi_application

from healthd.asgi import probes
from healthd.local.asgi_drain import drains

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthd.site.settings")
application = drains(probes(get_asgi_application()))
