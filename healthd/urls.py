"""Every healthd endpoint: ``path("", include("healthd.urls"))``.

Each dialect can also be included on its own: ``healthd.urls_dockerflow`` (at the
root), ``healthd.urls_status`` (under ``status/``), ``healthd.urls_watchman`` (under
``watchman/``), ``healthd.urls_probes`` (``healthz``, ``livez``, ``readyz``, ``metrics``),
``healthd.urls_ping`` (under ``healthd/ping/``: passive checks' pings).
"""

from django.urls import include, path

from healthd import urls_dockerflow, urls_probes

# The probes are listed flat, first: each level of include() costs every request a
# little more URL resolution.
urlpatterns = [
    *urls_dockerflow.urlpatterns,
    *urls_probes.urlpatterns,
    path("status/", include("healthd.urls_status")),
    path("watchman/", include("healthd.urls_watchman")),
    path("healthd/ping/", include("healthd.urls_ping")),
]
