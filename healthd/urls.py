"""Every healthd endpoint: ``path("", include("healthd.urls"))``.

Each dialect can also be included on its own: ``healthd.urls_dockerflow`` (at the
root), ``healthd.urls_status`` (under ``status/``), ``healthd.urls_watchman`` (under
``watchman/``), ``healthd.urls_probes`` (``healthz``, ``livez``, ``readyz``, ``metrics``).
"""

from django.urls import include, path

urlpatterns = [
    path("", include("healthd.urls_dockerflow")),
    path("", include("healthd.urls_probes")),
    path("status/", include("healthd.urls_status")),
    path("watchman/", include("healthd.urls_watchman")),
]
