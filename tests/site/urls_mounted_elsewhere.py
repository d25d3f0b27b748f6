"""A site that serves healthd under a prefix of its own, not at the root."""

from django.urls import include, path

urlpatterns = [
    path("health/", include("healthd.urls")),
]
