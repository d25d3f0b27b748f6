import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.site.settings")
application = get_wsgi_application()

# The same site with the probes answered before Django (healthd.wsgi.probes).
from healthd.wsgi import probes  # noqa: E402

probes_application = probes(application)
