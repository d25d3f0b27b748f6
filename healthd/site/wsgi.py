"""The standalone site for a WSGI server: ``gunicorn healthd.site.wsgi:application``."""

import os

from django.core.wsgi import get_wsgi_application

from healthd.wsgi import probes

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthd.site.settings")
application = probes(get_wsgi_application())
