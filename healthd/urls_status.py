"""django-status's endpoints alone: ``path("status/", include("healthd.urls_status"))``.

The API answers with and without a trailing slash, as django-status's did.
"""

from django.urls import path, re_path

from healthd.views import status

urlpatterns = [
    path("", status.index_page, name="status_index"),
    path("health/", status.health_page, name="status_health"),
    path("stats/", status.stats_page, name="status_stats"),
    re_path(r"^api/?$", status.api_root, name="status_api"),
    re_path(r"^api/(?P<resource>[\w.\-]+)/?$", status.api_resource, name="status_api_resource"),
    re_path(r"^api/(?P<resource>[\w.\-]+)/(?P<provider>[\w.\-]+)/?$", status.api_provider,
            name="status_api_provider"),
]
