"""django-status's endpoints alone: ``path("status/", include("healthd.urls_status"))``.

The API answers with and without a trailing slash, as django-status's did.
"""

from django.urls import path, re_path

from healthd.compat.status import views as status
from healthd.uptime import badge_views, history_api, page

# The API first: machines call it many times a second, people open the pages. URL
# resolution tries each pattern in turn.
urlpatterns = [
    re_path(r"^api/(?P<resource>[\w.\-]+)/?$", status.api_resource, name="status_api_resource"),
    re_path(r"^api/?$", status.api_root, name="status_api"),
    # Before the provider pattern, which would take "history" for a resource.
    re_path(r"^api/history/(?P<check>[\w.\-]+)/?$", history_api.history_api,
            name="status_history_api"),
    re_path(r"^api/(?P<resource>[\w.\-]+)/(?P<provider>[\w.\-]+)/?$", status.api_provider,
            name="status_api_provider"),
    path("", status.index_page, name="status_index"),
    path("health/", status.health_page, name="status_health"),
    path("stats/", status.stats_page, name="status_stats"),
    path("uptime/", page.uptime_page, name="status_uptime"),
    path("badge.svg", badge_views.overall_badge, name="status_badge"),
    path("badge/<str:check>.svg", badge_views.check_badge, name="status_check_badge"),
]
