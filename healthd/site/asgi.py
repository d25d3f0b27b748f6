"""The standalone site for an ASGI server: ``uvicorn healthd.site.asgi:application``."""

import os

from django.core.asgi import get_asgi_application

from healthd.asgi import probes

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthd.site.settings")
application = probes(get_asgi_application())
