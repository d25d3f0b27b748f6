"""django-watchman's endpoints alone: ``path("watchman/", include("healthd.urls_watchman"))``."""

from django.urls import path

from healthd.compat.watchman import views as watchman

urlpatterns = [
    path("", watchman.status, name="watchman_status"),
    path("bare/", watchman.bare_status, name="watchman_bare"),
    path("ping/", watchman.ping, name="watchman_ping"),
    path("dashboard/", watchman.dashboard, name="watchman_dashboard"),
]
